package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/internal/ipfstest"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// These tests run the faasedge binary as the stock invoker runs: started
// with --id/--uniqueName and configured only by the stock environment.

var binary string

func TestMain(m *testing.M) { testenv.FaasedgeMain(m, true, &binary) }

const waitLong = 60 * time.Second // bounds a hang only

// stack is a broker, CouchDB and an emulated controller.
type stack struct {
	brokers     string
	pouch       *testenv.PouchDB
	actions     *kivik.DB
	activations *kivik.DB
	ctl         *emulator.Controller
}

// dbs are the databases of the ansible deployment's default db_prefix.
var dbs = whisk.DatabasesFor("whisk_local_")

func newStack(t testing.TB) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	k := testenv.Kafka(t)
	s := &stack{brokers: testenv.KafkaAddr(k), pouch: testenv.StartPouchDB(t)}
	couch, err := invoker.OpenCouch(invoker.CouchConfig{URL: s.pouch.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{dbs.Entities, dbs.Activations} {
		if err := couch.CreateDB(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	s.actions, s.activations = couch.DB(dbs.Entities), couch.DB(dbs.Activations)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("FAASEDGE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s.ctl, err = emulator.Start(ctx, emulator.Config{Brokers: strings.Split(s.brokers, ","), ActionsDB: s.actions, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.ctl.Close)
	return s
}

// stockEnv is the environment ansible gives the stock invoker.
func (s *stack) stockEnv(t testing.TB, httpPort int) []string {
	manifest, err := os.ReadFile("testdata/runtimes.json")
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"KAFKA_HOSTS=" + s.brokers,
		"RUNTIMES_MANIFEST=" + string(manifest),
		"WHISK_API_HOST_PROTO=https", "WHISK_API_HOST_NAME=openwhisk.example.com", "WHISK_API_HOST_PORT=443",
		"PORT=" + strconv.Itoa(httpPort),
		"CONFIG_whisk_couchdb_protocol=http", "CONFIG_whisk_couchdb_host=" + s.pouch.Host,
		"CONFIG_whisk_couchdb_port=" + strconv.Itoa(s.pouch.Port),
		"CONFIG_whisk_couchdb_databases_WhiskEntity=" + dbs.Entities,
		"CONFIG_whisk_couchdb_databases_WhiskActivation=" + dbs.Activations,
		"CONFIG_whisk_couchdb_databases_WhiskAuth=" + dbs.Subjects,
		"CONFIG_whisk_containerPool_userMemory=2048m",
		"CONFIG_whisk_kafka_topics_prefix=", "CONFIG_whisk_userEvents_enabled=false",
		"CONFIG_whisk_invoker_username=invoker.user", "CONFIG_whisk_invoker_password=invoker.pass",
	}
}

type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
	port int
}

// startInvoker runs `faasedge invoker --id 0 --uniqueName 0` and waits
// until the controller reports it up.
func (s *stack) startInvoker(t testing.TB, extraEnv ...string) *proc {
	t.Helper()
	p := &proc{out: &bytes.Buffer{}, done: make(chan error, 1), port: testenv.FreePort(t)}
	p.cmd = exec.Command(binary, "invoker", "--id", "0", "--uniqueName", "0")
	p.cmd.Env = append(s.stockEnv(t, p.port), extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("invoker output:\n%s", p.out.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := s.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *stack) putJS(t *testing.T, ctx context.Context, name, code string) string {
	t.Helper()
	c, _ := json.Marshal(code)
	doc := whisk.ActionDoc{
		ID: "guest/" + name, EntityType: "action", Name: name, Namespace: "guest", Updated: time.Now().UnixMilli(),
		Exec: whisk.Exec{Kind: "nodejs:default", Code: c}, Limits: whisk.DefaultLimits(), Version: "0.0.1",
		Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{},
	}
	rev, err := s.actions.Put(ctx, doc.ID, doc)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func meta(name, rev string) emulator.ActionMeta {
	return emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: name, Version: "0.0.1"}, Rev: &rev, MemoryMB: 256, TimeoutMs: 60000}
}

// TestBinaryRegistersAndRuns: the binary registers through pings and the
// health test action, runs a blocking activation, and what it put on the
// broker (read back with kcat) is exactly what the controller received.
func TestBinaryRegistersAndRuns(t *testing.T) {
	s := newStack(t)
	s.startInvoker(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if st := s.ctl.States(); st["invoker0/0"] != "up" {
		t.Fatalf("GET /invokers: %v", st)
	}
	rev := s.putJS(t, ctx, "hello", `function main(p) { console.log("hi " + p.name); return {payload: "Hello, " + p.name + "!"}; }`)
	msg, _, err := s.ctl.Invoke(ctx, meta("hello", rev), emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"name":"World"}`)})
	if err != nil {
		t.Fatal(err)
	}
	acks, err := s.ctl.WaitCompleted(ctx, msg.ActivationID)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 2 || acks[0].Kind() != whisk.AckResult || acks[1].Kind() != whisk.AckCompletion {
		t.Fatalf("acks %v", acks)
	}

	// kcat: the records have no key, and their bytes are what the
	// controller decoded.
	lines := kcat(t, s.brokers, "completed0")
	var ours []string
	for _, l := range lines {
		if strings.Contains(l, msg.ActivationID) {
			ours = append(ours, l)
		}
	}
	if len(ours) != 2 || ours[0] != "-1|"+string(acks[0].Raw) || ours[1] != "-1|"+string(acks[1].Raw) {
		t.Fatalf("completed0 holds %q, want the two acks without key", ours)
	}
	wantCompletion := fmt.Sprintf(`{"transid":%s,"activationId":"%s","isSystemError":false,"instance":{"instance":0,"userMemory":"2147483648 B","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"0"}}`,
		mustJSON(msg.TransID), msg.ActivationID)
	if string(acks[1].Raw) != wantCompletion {
		t.Errorf("completion\n got %s\nwant %s", acks[1].Raw, wantCompletion)
	}
	pings := kcat(t, s.brokers, "health")
	wantPing := `-1|{"name":{"instance":0,"userMemory":"2147483648 B","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"0"},"isEnabled":true}`
	if len(pings) == 0 || pings[0] != wantPing {
		t.Errorf("health ping %q, want %q", pings, wantPing)
	}
	var rec whisk.ActivationDoc
	for ctx.Err() == nil {
		if err := s.activations.Get(ctx, "guest/"+msg.ActivationID).ScanDoc(&rec); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(rec.Response.Result) != `{"payload":"Hello, World!"}` || len(rec.Logs) != 1 || !strings.HasSuffix(rec.Logs[0], " stdout: hi World") {
		t.Errorf("record %s", mustJSON(rec))
	}
}

// TestBinaryRunsCodeByCID: the invoker binary, configured by environment
// only, runs an action whose code is ipfs://<CID>, fetching the module over
// bitswap from the peer that added it.
func TestBinaryRunsCodeByCID(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	h, src := ipfstest.Source(ctx, t)
	c, err := src.Add(ctx, bytes.NewReader(wasmtest.WATModule(t, "echo")), 0)
	if err != nil {
		t.Fatal(err)
	}
	p := s.startInvoker(t, "FAASEDGE_PEERS="+strings.Join(h.FullAddrs(), ","))

	code, _ := json.Marshal("ipfs://" + c.String())
	doc := whisk.ActionDoc{
		ID: "guest/bycid", EntityType: "action", Name: "bycid", Namespace: "guest", Updated: time.Now().UnixMilli(),
		Exec: whisk.Exec{Kind: "wasm:wasip1", Code: code}, Limits: whisk.DefaultLimits(), Version: "0.0.1",
		Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{},
	}
	rev, err := s.actions.Put(ctx, doc.ID, doc)
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := s.ctl.Invoke(ctx, meta("bycid", rev), emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"cid":"yes"}`)})
	if err != nil {
		t.Fatal(err)
	}
	acks, err := s.ctl.WaitCompleted(ctx, msg.ActivationID)
	if err != nil {
		t.Fatal(err)
	}
	act, _, err := acks[0].ResponseActivation()
	if err != nil || act == nil || act.Response.StatusCode != whisk.StatusSuccess || string(act.Response.Result) != `{"cid":"yes"}` {
		t.Fatalf("activation %s: %v", mustJSON(act), err)
	}
	// The invoker's /metrics shows its IPFS node's fetch of the code.
	if n := metric(t, p.port, `faasedge_ipfs_fetches_total{method="stream"}`) + metric(t, p.port, `faasedge_ipfs_fetches_total{method="bitswap"}`); n != 1 {
		t.Errorf("the invoker's /metrics counts %v fetches from peers, want the code's 1", n)
	}
}

// kcat reads a whole topic as "<key length>|<value>" lines.
func kcat(t *testing.T, brokers, topic string) []string {
	t.Helper()
	out, err := exec.Command("kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%K|%s\n").Output()
	if err != nil {
		t.Fatalf("kcat %s: %v", topic, err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBinarySIGTERM: SIGTERM with activations in flight stops consuming,
// lets them finish, and every one of them is acked and recorded.
func TestBinarySIGTERM(t *testing.T) {
	s := newStack(t)
	p := s.startInvoker(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	rev := s.putJS(t, ctx, "slow", `function main(p) { var end = Date.now() + 400; while (Date.now() < end) {} return {i: p.i}; }`)
	var msgs []*whisk.ActivationMessage
	for i := range 6 {
		msg, _, err := s.ctl.Invoke(ctx, meta("slow", rev), emulator.Request{User: emulator.NewUser("guest"), Blocking: i%2 == 0, Content: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	for running(t, p.port) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("invoker exited with %v\n%s", err, p.out.String())
		}
	case <-ctx.Done():
		t.Fatal("invoker did not stop")
	}
	for _, msg := range msgs {
		acks, err := s.ctl.WaitCompleted(ctx, msg.ActivationID)
		if err != nil {
			t.Fatal(err)
		}
		var rec whisk.ActivationDoc
		if err := s.activations.Get(ctx, "guest/"+msg.ActivationID).ScanDoc(&rec); err != nil {
			t.Fatalf("record of %s: %v (acks %d)", msg.ActivationID, err, len(acks))
		}
		if rec.Response.StatusCode != whisk.StatusSuccess {
			t.Errorf("record %s", mustJSON(rec))
		}
	}
}

func running(t *testing.T, port int) float64 { return metric(t, port, "invoker_activations_running") }

// metric reads one series of the invoker's /metrics (0 when absent).
func metric(t *testing.T, port int, series string) float64 {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %s", resp.Status, b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestBinaryBadConfiguration: a missing or bad variable is one error line
// naming it, and a non-zero exit.
func TestBinaryBadConfiguration(t *testing.T) {
	s := &stack{brokers: "127.0.0.1:1", pouch: &testenv.PouchDB{Host: "127.0.0.1", Port: 1}}
	base := s.stockEnv(t, 1)
	for _, tc := range []struct {
		name, drop, set, want string
		args                  []string
	}{
		{name: "no KAFKA_HOSTS", drop: "KAFKA_HOSTS", want: "KAFKA_HOSTS: required but not set"},
		{name: "bad user memory", set: "CONFIG_whisk_containerPool_userMemory=lots", want: "CONFIG_whisk_containerPool_userMemory: invalid size"},
		{name: "no manifest", drop: "RUNTIMES_MANIFEST", want: "RUNTIMES_MANIFEST: required but not set"},
		{name: "bad couch port", set: "CONFIG_whisk_couchdb_port=http", want: `CONFIG_whisk_couchdb_port: "http" is not a port`},
		{name: "no entity db", drop: "CONFIG_whisk_couchdb_databases_WhiskEntity", want: "CONFIG_whisk_couchdb_databases_WhiskEntity: required"},
		{name: "no id", args: []string{"--uniqueName", "0"}, want: "--id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			for _, kv := range base {
				if tc.drop != "" && strings.HasPrefix(kv, tc.drop+"=") {
					continue
				}
				env = append(env, kv)
			}
			if tc.set != "" {
				env = append(env, tc.set)
			}
			args := tc.args
			if args == nil {
				args = []string{"--id", "0", "--uniqueName", "0"}
			}
			cmd := exec.Command(binary, append([]string{"invoker"}, args...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if err == nil || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %v, output %q; want one line with %q", err, out, tc.want)
			}
		})
	}
}
