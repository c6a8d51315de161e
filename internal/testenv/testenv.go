// Package testenv starts the real servers that tests run against: an
// embedded Kafka-protocol broker (franz-go's kfake), a CouchDB API
// (pouchdb-server, installed by `make deps`). Every server listens on
// loopback only and is stopped by t.Cleanup.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Logger is the logger to give components under test: errors only, and
// everything (debug) with go test -v or FAASEDGE_TEST_LOG set, so that a
// failing test can be rerun with its components' logs.
func Logger() *slog.Logger {
	lvl := slog.LevelError
	if testing.Verbose() || os.Getenv("FAASEDGE_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// Kafka starts an embedded single-broker Kafka cluster on a loopback port.
// Like OpenWhisk's deployment, the broker does not create topics on demand.
// seedTopics are created up front.
func Kafka(t testing.TB, seedTopics ...string) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)} // kfake listens on 127.0.0.1 only
	if len(seedTopics) > 0 {
		opts = append(opts, kfake.SeedTopics(1, seedTopics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("testenv: start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// KafkaAddr is the comma-separated broker list of c, in KAFKA_HOSTS form.
func KafkaAddr(c *kfake.Cluster) string { return strings.Join(c.ListenAddrs(), ",") }

// PouchDB is a running pouchdb-server.
type PouchDB struct {
	URL  string // http://127.0.0.1:port
	Host string
	Port int
	cmd  *exec.Cmd
	log  *LockedBuffer
	data string // where the databases live; "" keeps them in memory
}

// Stop kills the server, for tests of a database that goes away. Data is
// in memory unless started by StartPouchDBOnDisk, so a restarted server
// starts empty.
func (p *PouchDB) Stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// Restart starts the server again on the same port.
func (p *PouchDB) Restart(t testing.TB) {
	t.Helper()
	p.Stop()
	p.start(t)
}

// StartPouchDB starts pouchdb-server --in-memory on a free loopback port and
// waits until it answers.
func StartPouchDB(t testing.TB) *PouchDB {
	t.Helper()
	return startPouchDB(t, "")
}

// StartPouchDBOnDisk is StartPouchDB keeping the databases in a directory
// of the test's, so that Restart brings them back as they were, sequence
// numbers included.
func StartPouchDBOnDisk(t testing.TB) *PouchDB {
	t.Helper()
	return startPouchDB(t, t.TempDir())
}

func startPouchDB(t testing.TB, data string) *PouchDB {
	t.Helper()
	p := &PouchDB{Host: "127.0.0.1", Port: FreePort(t), log: &LockedBuffer{}, data: data}
	p.URL = fmt.Sprintf("http://%s:%d", p.Host, p.Port)
	p.start(t)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pouchdb-server output:\n%s", p.log.String())
		}
	})
	return p
}

func (p *PouchDB) start(t testing.TB) {
	t.Helper()
	bin := pouchBinary(t)
	dir := p.data // pouchdb-server writes config.json and log.txt to its cwd
	args := []string{"--host", p.Host, "--port", fmt.Sprint(p.Port)}
	if dir == "" {
		dir = t.TempDir()
		args = append(args, "--in-memory")
	}
	p.cmd = exec.Command(bin, append(args, "--dir", dir)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testenv: start pouchdb-server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			p.Stop()
			t.Fatalf("testenv: pouchdb-server did not answer on %s: %v\n%s", p.URL, err, p.log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pouchBinary finds pouchdb-server: $FAASEDGE_POUCHDB, then the copy that
// `make deps` installs under .tools at the module root.
func pouchBinary(t testing.TB) string {
	if b := os.Getenv("FAASEDGE_POUCHDB"); b != "" {
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	b := filepath.Join(ModuleRoot(t), ".tools", "npm", "node_modules", ".bin", "pouchdb-server")
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("testenv: pouchdb-server not installed (run `make deps`): %v", err)
	}
	return b
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers, for the
// output of servers and loggers under test.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Request sends one request with a JSON body (none when body is empty)
// and, when auth ("user:key") is set, basic auth, as the wsk CLI and the
// clients do. It fails the test when the request cannot be sent, and
// returns the response with its body read.
func Request(t testing.TB, method, url, auth, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		user, key, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(user, key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Wsk finds the stock OpenWhisk CLI that `make deps` builds under .tools.
func Wsk(t testing.TB) string {
	t.Helper()
	b := filepath.Join(ModuleRoot(t), ".tools", "bin", "wsk")
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("testenv: wsk not built (run `make deps`): %v", err)
	}
	return b
}

// WaitFor polls cond until it holds, failing the test after limit: the
// limit bounds a hang on a loaded machine, it does not measure speed.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
