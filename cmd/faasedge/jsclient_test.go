package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestJSClient starts `faasedge standalone` and runs testdata/jsclient.js
// against it with the official JavaScript client from npm: nodejs actions
// with setTimeout, promises, fetch of a loopback server and require('url'),
// a throw and a rejection, and the catalog's utils/sort and utils/echo.
func TestJSClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	modules := filepath.Join(testenv.ModuleRoot(t), ".tools", "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "openwhisk", "package.json")); err != nil {
		t.Fatalf("the openwhisk npm package is missing (make deps installs it): %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"method":%q,"got":%s}`, r.URL.Path, r.Method, body)
	}))
	defer srv.Close()

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	sctx, stop := context.WithCancel(ctx)
	var stdout, stderr testenv.LockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- lookup("standalone").run(sctx, []string{"--addr", addr, "--data-dir", t.TempDir(), "--edge-nodes", "0"}, &stdout, &stderr)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("standalone: %v\n%s", err, stderr.String())
		}
	}()
	for !strings.Contains(stdout.String(), "is ready") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("standalone exited: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("standalone not ready\n%s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "jsclient.js"), "http://"+addr, controller.GuestAuth, srv.URL)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	want := map[string]string{
		"timer":   `{"done":true}`,
		"promise": `{"sum":3}`,
		"fetch":   `{"status":200,"ok":true,"type":"application/json","body":{"path":"/greet","method":"POST","got":{"who":"js"}}}`,
		"url":     `{"host":"example.org","port":"8080","q":"1"}`,
		"throw":   `{"failed":502,"error":{"error":"An error has occurred: Error: broken"}}`,
		"sort":    `{"lines":["a","b","c"],"length":3}`,
		"echo":    `{"payload":"Five fuzzy felines"}`,
	}
	for k, w := range want {
		var wv any
		if err := json.Unmarshal([]byte(w), &wv); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[k], wv) {
			b, _ := json.Marshal(got[k])
			t.Errorf("%s: got %s, want %s", k, b, w)
		}
	}
	// A rejection is an application error whose error is the serialized
	// Error, as serialize-error gives it in the stock runtime.
	b, _ := json.Marshal(got["reject"])
	if !strings.Contains(string(b), `"failed":502`) || !strings.Contains(string(b), `"message":"refused"`) || !strings.Contains(string(b), `"name":"Error"`) {
		t.Errorf("reject: got %s", b)
	}
}
