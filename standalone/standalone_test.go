package standalone

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
	fw "github.com/faasedge/faasedge/whisk"
)

// startStack runs a standalone on loopback for one test and waits until
// its invoker has passed the controller's health test action.
func startStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.APIAddr = "127.0.0.1:0"
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return testenv.StartServer(t, func(ctx context.Context) (*Stack, error) { return Start(ctx, cfg) })
}

func wskClient(t testing.TB, host, auth string) *whisk.Client {
	t.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 90 * time.Second}, &whisk.Config{Host: host, AuthToken: auth, Namespace: "_"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// zipOf makes a zip archive of name -> content, stored (uncompressed) so
// padding keeps its size.
func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	return zipWith(t, zip.Store, files)
}

// zipWith makes a zip archive of name -> content compressed with method.
func zipWith(t testing.TB, method uint16, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ptr[T any](v T) *T { return &v }

func wasmAction(name string, code []byte) *whisk.Action {
	return &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "wasm:wasip1", Code: ptr(base64.StdEncoding.EncodeToString(code)), Binary: ptr(true)}}
}

func jsAction(name, code string) *whisk.Action {
	return &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "nodejs:default", Code: ptr(code)}}
}

// TestEndToEnd drives the standalone through openwhisk-client-go, the
// library the wsk CLI is built on: every call crosses the REST API, Kafka,
// the real invoker engine and the document store.
func TestEndToEnd(t *testing.T) {
	s := startStack(t, Config{})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	echo := wasmtest.WATModule(t, "echo")
	padding := make([]byte, 40<<10)
	_, _ = rand.Read(padding)

	t.Run("info and namespaces", func(t *testing.T) {
		info, _, err := wsk.Info.Get()
		if err != nil || info.Build == "" {
			t.Fatalf("info: %+v %v", info, err)
		}
		// Namespaces.List clears the client's namespace for good, as the
		// CLI's one-command clients can afford: use a client of its own.
		ns, _, err := wskClient(t, s.APIHost(), controller.GuestAuth).Namespaces.List()
		if err != nil || len(ns) != 1 || ns[0].Name != "guest" {
			t.Fatalf("namespaces: %v %v", ns, err)
		}
	})

	t.Run("create list get", func(t *testing.T) {
		for _, a := range []*whisk.Action{
			wasmAction("hello", zipOf(t, map[string][]byte{"hello.wasm": echo})),
			// Over 16 KiB: stored as a couch: attachment, not inline.
			wasmAction("big", zipOf(t, map[string][]byte{"main.wasm": echo, "padding.bin": padding})),
			wasmAction("raw", echo),
		} {
			if _, _, err := wsk.Actions.Insert(a, false); err != nil {
				t.Fatalf("create %s: %v", a.Name, err)
			}
		}
		list, _, err := wsk.Actions.List("", &whisk.ActionListOptions{Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, a := range list {
			names[a.Name] = true
		}
		if !names["hello"] || !names["big"] || !names["raw"] {
			t.Fatalf("list: %v", names)
		}
		got, _, err := wsk.Actions.Get("big", true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Exec.Kind != "wasm:wasip1" || got.Exec.Code == nil || got.Annotations.GetValue("exec") != "wasm:wasip1" {
			t.Fatalf("get: %+v", got.Exec)
		}
		if code, _ := base64.StdEncoding.DecodeString(*got.Exec.Code); !bytes.Contains(code, padding) {
			t.Fatal("get: code does not round-trip")
		}
	})

	t.Run("invoke blocking with result", func(t *testing.T) {
		for _, name := range []string{"hello", "big", "raw"} {
			res, _, err := wsk.Actions.Invoke(name, map[string]any{"name": "World"}, true, true)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if m, _ := res.(map[string]any); m["name"] != "World" {
				t.Fatalf("%s: result %v", name, res)
			}
		}
	})

	// The controller accepts concurrency up to 500, so its invokers must
	// not refuse such an action with a namespace-limit error.
	t.Run("concurrency above one", func(t *testing.T) {
		a := wasmAction("concurrent", echo)
		a.Limits = &whisk.Limits{Concurrency: ptr(4)}
		if _, _, err := wsk.Actions.Insert(a, false); err != nil {
			t.Fatal(err)
		}
		res, _, err := wsk.Actions.Invoke("concurrent", map[string]any{"c": 4}, true, true)
		if err != nil || fmt.Sprint(res.(map[string]any)["c"]) != "4" {
			t.Fatalf("invoke: %v %v", res, err)
		}
	})

	t.Run("code by CID", func(t *testing.T) {
		c, err := s.IPFS().Add(context.Background(), bytes.NewReader(echo), 0)
		if err != nil {
			t.Fatal(err)
		}
		a := &whisk.Action{Name: "bycid", Exec: &whisk.Exec{Kind: "wasm:wasip1", Code: ptr("ipfs://" + c.String())}}
		if _, _, err := wsk.Actions.Insert(a, false); err != nil {
			t.Fatal(err)
		}
		res, _, err := wsk.Actions.Invoke("bycid", map[string]any{"cid": true}, true, true)
		if err != nil || res.(map[string]any)["cid"] != true {
			t.Fatalf("invoke by CID: %v %v", res, err)
		}
	})

	t.Run("invoke non-blocking then poll", func(t *testing.T) {
		res, resp, err := wsk.Actions.Invoke("hello", map[string]any{"n": 1}, false, false)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("invoke: %v %v", resp, err)
		}
		aid, _ := res.(map[string]any)["activationId"].(string)
		act := pollActivation(t, wsk, aid)
		if act.StatusCode != 0 || !act.Response.Success || fmt.Sprint(act.Response.Result.(map[string]any)["n"]) != "1" {
			t.Fatalf("activation: %+v", act)
		}
		r, _, err := wsk.Activations.Result(aid)
		if err != nil || r.Status != "success" {
			t.Fatalf("result: %+v %v", r, err)
		}
		list, _, err := wsk.Activations.List(&whisk.ActivationListOptions{Name: "hello", Limit: 5})
		if err != nil || len(list) == 0 || list[0].Name != "hello" {
			t.Fatalf("list: %v %v", list, err)
		}
	})

	t.Run("logs", func(t *testing.T) {
		if _, _, err := wsk.Actions.Insert(jsAction("logger", `function main(p) { console.log("hello from " + p.name); return {ok: true}; }`), false); err != nil {
			t.Fatal(err)
		}
		res, resp, err := wsk.Actions.Invoke("logger", map[string]any{"name": "logs"}, true, false)
		if err != nil {
			t.Fatal(err)
		}
		aid, _ := res.(map[string]any)["activationId"].(string)
		if aid == "" || resp.Header.Get("x-openwhisk-activation-id") != aid {
			t.Fatalf("activation id %q, header %q", aid, resp.Header.Get("x-openwhisk-activation-id"))
		}
		act := pollActivation(t, wsk, aid)
		logs, _, err := wsk.Activations.Logs(aid)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs.Logs) == 0 || !strings.Contains(strings.Join(logs.Logs, "\n"), "hello from logs") {
			t.Fatalf("logs %q (activation %+v)", logs.Logs, act)
		}
	})

	t.Run("update", func(t *testing.T) {
		a := jsAction("logger", `function main(p) { return {version: 2}; }`)
		if _, _, err := wsk.Actions.Insert(a, true); err != nil {
			t.Fatal(err)
		}
		got, _, err := wsk.Actions.Get("logger", false)
		if err != nil || got.Version != "0.0.2" {
			t.Fatalf("after update: %+v %v", got, err)
		}
		res, _, err := wsk.Actions.Invoke("logger", nil, true, true)
		if err != nil || fmt.Sprint(res.(map[string]any)["version"]) != "2" {
			t.Fatalf("invoke after update: %v %v", res, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if _, err := wsk.Actions.Delete("logger"); err != nil {
			t.Fatal(err)
		}
		if _, resp, err := wsk.Actions.Get("logger", false); err == nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("get after delete: %v %v", resp, err)
		}
	})
}

func pollActivation(t *testing.T, wsk *whisk.Client, aid string) *whisk.Activation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		act, resp, err := wsk.Activations.Get(aid)
		if err == nil {
			return act
		}
		if resp == nil || resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("activation %s: %v", aid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestErrors checks each error the API reports: status and the stock
// {"error", "code"} body, and that nothing was stored.
func TestErrors(t *testing.T) {
	s := startStack(t, Config{})
	echo := wasmtest.WATModule(t, "echo")
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	if _, _, err := wsk.Actions.Insert(wasmAction("hello", echo), false); err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	put := func(kind, code string) string {
		b, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": kind, "code": code}})
		return string(b)
	}
	cases := []struct {
		name, method, path, body, auth string
		status                         int
		msg                            string
	}{
		{"wrong auth", "GET", "/api/v1/namespaces/_/actions", "", controller.GuestUUID + ":wrong", 401, "The supplied authentication is invalid"},
		{"no auth", "GET", "/api/v1/namespaces/_/actions", "", "", 401, "The resource requires authentication"},
		{"unknown action get", "GET", "/api/v1/namespaces/_/actions/nope", "", controller.GuestAuth, 404, "The requested resource does not exist."},
		{"unknown action invoke", "POST", "/api/v1/namespaces/_/actions/nope?blocking=true", "{}", controller.GuestAuth, 404, "The requested resource does not exist."},
		{"unknown activation", "GET", "/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef", "", controller.GuestAuth, 404, "does not exist"},
		{"bad kind", "PUT", "/api/v1/namespaces/_/actions/k", put("python:3", "def main(a): return a"), controller.GuestAuth, 400, "The specified runtime 'python:3' is not supported"},
		{"wasm code not wasm", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", b64([]byte("not a module at all"))), controller.GuestAuth, 400, "the action's code is not a WebAssembly module"},
		{"wasm text not ipfs", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", "hello there"), controller.GuestAuth, 400, "ipfs://<CID>"},
		{"bad cid", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", "ipfs://notacid"), controller.GuestAuth, 400, "is not a valid ipfs://<CID>"},
		{"zip with two modules", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", b64(zipOf(t, map[string][]byte{"a.wasm": echo, "b.wasm": echo}))), controller.GuestAuth, 400, "holds 2 .wasm files"},
		{"zip without module", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", b64(zipOf(t, map[string][]byte{"a.txt": echo}))), controller.GuestAuth, 400, "the action's zip holds no .wasm file"},
		{"export bomb", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", b64(wasmtest.ExportBomb(1<<24))), controller.GuestAuth, 400, "16777216 exports declared, more than the 100000 allowed"},
		{"initial memory over the limit", "PUT", "/api/v1/namespaces/_/actions/k", put("wasm:wasip1", b64(wasmtest.WATModule(t, "bigmem"))), controller.GuestAuth, 400, "the action's module starts with 512 MiB of linear memory, more than its memory limit of 256 MB"},
		{"create existing", "PUT", "/api/v1/namespaces/_/actions/hello", put("wasm:wasip1", b64(echo)), controller.GuestAuth, 409, "resource already exists"},
		{"bad timeout", "POST", "/api/v1/namespaces/_/actions/hello?blocking=true&timeout=70000", "{}", controller.GuestAuth, 400, "Timeout must be number of milliseconds up to 60000."},
		{"payload not an object", "POST", "/api/v1/namespaces/_/actions/hello?blocking=true", "[1,2]", controller.GuestAuth, 400, "malformed"},
		{"oversized payload", "POST", "/api/v1/namespaces/_/actions/hello?blocking=true", `{"x":"` + strings.Repeat("a", 1<<20) + `"}`, controller.GuestAuth, 413, "Request larger than allowed"},
		{"other namespace", "GET", "/api/v1/namespaces/someone/actions", "", controller.GuestAuth, 403, "not authorized"},
		{"bad activation id", "GET", "/api/v1/namespaces/_/activations/xyz", "", controller.GuestAuth, 400, "Activation id length is 3 but must be 32."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := testenv.Request(t, c.method, s.APIHost()+c.path, c.auth, c.body)
			var e struct{ Error, Code string }
			if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != c.status {
				t.Fatalf("status %d body %s, want %d", resp.StatusCode, body, c.status)
			}
			if !strings.Contains(e.Error, c.msg) || len(e.Code) != 32 || resp.Header.Get("X-Request-ID") != e.Code {
				t.Fatalf("body %s, want error containing %q and the transaction id as code", body, c.msg)
			}
		})
	}
	// None of the bad creates stored anything.
	if _, resp, err := wsk.Actions.Get("k", false); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a refused action was stored: %v", err)
	}
}

// TestRestartKeepsData stops the stack and starts another on the same data
// directory: actions and activation records are still there.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	echo := wasmtest.WATModule(t, "echo")
	s1, err := Start(ctx, Config{DataDir: dir, APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := s1.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	wsk := wskClient(t, s1.APIHost(), controller.GuestAuth)
	if _, _, err := wsk.Actions.Insert(wasmAction("kept", echo), false); err != nil {
		t.Fatal(err)
	}
	res, _, err := wsk.Actions.Invoke("kept", map[string]any{"a": "b"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	aid := res.(map[string]any)["activationId"].(string)
	if err := s1.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s2 := startStack(t, Config{DataDir: dir})
	wsk = wskClient(t, s2.APIHost(), controller.GuestAuth)
	if _, _, err := wsk.Actions.Get("kept", true); err != nil {
		t.Fatalf("action lost over restart: %v", err)
	}
	act, _, err := wsk.Activations.Get(aid)
	if err != nil || act.Response.Result.(map[string]any)["a"] != "b" {
		t.Fatalf("activation lost over restart: %+v %v", act, err)
	}
	r, _, err := wsk.Actions.Invoke("kept", map[string]any{"c": "d"}, true, true)
	if err != nil || r.(map[string]any)["c"] != "d" {
		t.Fatalf("invoke after restart: %v %v", r, err)
	}
}

// TestWithPouchDB runs the stack on a real CouchDB API (--couchdb).
func TestWithPouchDB(t *testing.T) {
	p := testenv.StartPouchDB(t)
	s := startStack(t, Config{CouchURL: p.URL})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	echo := wasmtest.WATModule(t, "echo")
	padding := make([]byte, 20<<10)
	_, _ = rand.Read(padding)
	if _, _, err := wsk.Actions.Insert(wasmAction("big", zipOf(t, map[string][]byte{"main.wasm": echo, "pad": padding})), false); err != nil {
		t.Fatal(err)
	}
	res, _, err := wsk.Actions.Invoke("big", map[string]any{"via": "pouchdb"}, true, true)
	if err != nil || res.(map[string]any)["via"] != "pouchdb" {
		t.Fatalf("invoke: %v %v", res, err)
	}
}

// TestMakeRun runs `make run` as a newcomer would (stopping after the first
// invocation): it builds the binary and the sample, starts the standalone,
// deploys examples/hello and shows its result.
func TestMakeRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "run")
	cmd.Dir = testenv.ModuleRoot(t)
	cmd.Env = append(os.Environ(),
		"FAASEDGE_RUN_ONCE=1",
		fmt.Sprintf("FAASEDGE_ADDR=127.0.0.1:%d", testenv.FreePort(t)),
		"FAASEDGE_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make run: %v\n%s", err, out)
	}
	for _, want := range []string{"FaaS@Edge standalone is ready.", "wsk property set --apihost", `{"greeting":"Hello, World!"}`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("make run output lacks %q:\n%s", want, out)
		}
	}
}

// TestTwoInvokers runs two invoker engines: both pass their health test
// and activations of several actions (placed by the balancer) succeed.
func TestTwoInvokers(t *testing.T) {
	s := startStack(t, Config{Invokers: 2, UserMemory: 512 * fw.MB})
	if got := s.Invokers(); len(got) != 2 || got[0].Status != controller.Healthy || got[1].Status != controller.Healthy {
		t.Fatalf("invokers %+v", got)
	}
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	echo := wasmtest.WATModule(t, "echo")
	for i := range 6 {
		name := fmt.Sprint("a", i)
		if _, _, err := wsk.Actions.Insert(wasmAction(name, echo), false); err != nil {
			t.Fatal(err)
		}
		res, _, err := wsk.Actions.Invoke(name, map[string]any{"i": i}, true, true)
		if err != nil || fmt.Sprint(res.(map[string]any)["i"]) != fmt.Sprint(i) {
			t.Fatalf("%s: %v %v", name, res, err)
		}
	}
}
