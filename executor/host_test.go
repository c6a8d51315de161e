package executor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/ipfstest"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/kv"
	"github.com/faasedge/faasedge/whisk"
)

var (
	goSDKReactor = testModule{wasmtest.Reactor, "sdk"}
	goSDKCommand = testModule{wasmtest.Command, "sdk"}
	goSDKNetHTTP = testModule{wasmtest.Reactor, "sdknethttp"}
)

// sdkAction is the SDK test action in namespace ns (an action path) with
// the capabilities of the given annotations.
func sdkAction(t testing.TB, m testModule, ns string, ann whisk.Annotations) *activation.Action {
	return &activation.Action{Name: activation.FQN{Path: ns, Name: "echo"}, Version: "0.0.1", Kind: "wasm:wasip1",
		Code: activation.Code{Inline: m.bytes(t)}, Limits: limits(60000, 256, 10, 1), Capabilities: activation.CapabilitiesOf(ann)}
}

func annotations(kv ...any) whisk.Annotations {
	var a whisk.Annotations
	for i := 0; i < len(kv); i += 2 {
		a.Set(kv[i].(string), kv[i+1])
	}
	return a
}

// allGranted gives every capability, outbound HTTP to hosts.
func allGranted(hosts ...string) whisk.Annotations {
	return annotations(activation.AnnotationAllowedHosts, hosts, activation.AnnotationKV, true, activation.AnnotationIPFSAdd, true)
}

// sdkResult runs value and decodes the result of a successful activation.
func sdkResult(t *testing.T, e *Executor, a *activation.Action, value string) map[string]any {
	t.Helper()
	res := e.Run(context.Background(), a, invocation(value, 0))
	if res.Response.StatusCode != whisk.StatusSuccess {
		t.Fatalf("%s: status %d %s, logs %q", value, res.Response.StatusCode, res.Response.Result, res.Logs)
	}
	var out map[string]any
	if err := json.Unmarshal(res.Response.Result, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSDK runs the Go SDK's test action built both ways: typed parameters
// and result, the __OW_* values, logs through log/slog and the standard
// logger, a returned error as the application error, a panic as a
// developer error, parameters of the wrong type.
func TestSDK(t *testing.T) {
	e := newExecutor(t, WithKeyValue(openPebble(t)), WithPublisher(nopPublisher{}))
	for _, m := range []testModule{goSDKReactor, goSDKCommand} {
		t.Run(m.kind.String(), func(t *testing.T) {
			a := sdkAction(t, m, "guest", allGranted("127.0.0.1"))
			for range 2 { // a reactor's second activation runs on the warm instance
				res := e.Run(context.Background(), a, invocation(`{"name":"World"}`, 0))
				checkResult(t, res, whisk.StatusSuccess, `{"greeting":"Hello, World!","activation":"`+
					env["__OW_ACTIVATION_ID"]+`","action":"/guest/echo","deadline":1704067260105}`)
				// The standard logger's lines go through log/slog too.
				checkLogs(t, res.Logs, []string{`stderr: level=INFO msg="sdk action" name=World`,
					`stderr: level=INFO msg="activation ` + env["__OW_ACTIVATION_ID"] + `"`})
			}
			res := e.Run(context.Background(), a, invocation(`{"fail":"no such city"}`, 0))
			checkResult(t, res, whisk.StatusApplicationError, `{"error":"no such city"}`)
			res = e.Run(context.Background(), a, invocation(`{"name":5}`, 0))
			if res.Response.StatusCode != whisk.StatusApplicationError || !strings.Contains(string(res.Response.Result), "action: parameters: json: cannot unmarshal number") {
				t.Fatalf("wrong parameter type: %d %s", res.Response.StatusCode, res.Response.Result)
			}
			res = e.Run(context.Background(), a, invocation(`{"panic":"oops"}`, 0))
			checkResult(t, res, whisk.StatusDeveloperError, errorText(whisk.MsgAbnormalRun))
			checkLogs(t, res.Logs, []string{"stderr: panic: oops"})
		})
	}
}

// TestHostLinkError: a module that imports a host function the action is
// not given fails at start, its error naming the function.
func TestHostLinkError(t *testing.T) {
	e := newExecutor(t, WithKeyValue(openPebble(t)))
	tests := []struct {
		name string
		ann  whisk.Annotations
		want string
	}{
		{"nothing given", nil, "faasedge.http_request, which the action is not given (annotate the action with faasedge-allowed-hosts)"},
		{"no key-value", annotations(activation.AnnotationAllowedHosts, "example.com"), "faasedge.kv_get, which the action is not given (annotate the action with faasedge-kv=true)"},
		{"no IPFS node", annotations(activation.AnnotationAllowedHosts, "example.com", activation.AnnotationKV, true, activation.AnnotationIPFSAdd, true), "faasedge.ipfs_add, which the action is not given (this invoker has no IPFS node)"},
		{"bad hosts", annotations(activation.AnnotationAllowedHosts, 7), "the action's annotation faasedge-allowed-hosts is 7"},
		{"bad budget", annotations(activation.AnnotationAllowedHosts, "a.com", activation.AnnotationHTTPBudget, "lots"), `the action's annotation faasedge-http-budget is "lots"`},
		{"bad host", annotations(activation.AnnotationAllowedHosts, []string{"a.com/x"}), `host "a.com/x": want a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Run(context.Background(), sdkAction(t, goSDKReactor, "guest", tt.ann), invocation("", 0))
			var got struct{ Error string }
			_ = json.Unmarshal(res.Response.Result, &got)
			if res.Response.StatusCode != whisk.StatusDeveloperError || !strings.Contains(got.Error, tt.want) {
				t.Fatalf("got %d %s, want a developer error with %q", res.Response.StatusCode, res.Response.Result, tt.want)
			}
		})
	}
}

// httpServer is a loopback server for the HTTP capability: /echo answers
// the method, the X-Test header and the body; /slow answers when the
// client gives up; /big answers 64 KiB.
func httpServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Reply", r.Method+" "+r.Header.Get("X-Test"))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select { // until the client gives up, bounded
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 64<<10)) })
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func httpParams(method, url, body string) string {
	return mustJSON(map[string]any{"http": map[string]string{"method": method, "url": url, "body": body}})
}

// TestHostHTTP sends requests from the SDK action through the host:
// allowed, refused for another host, timed out, over the byte budget, a
// DNS failure, and refused by the operator's narrower policy; each reaches
// the guest as its own error.
func TestHostHTTP(t *testing.T) {
	srv := httpServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	base := srv.URL
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	e := newExecutor(t, WithKeyValue(openPebble(t)), WithPublisher(nopPublisher{}), WithHTTPPolicy(HTTPPolicy{Resolver: noDNS}))
	narrow := newExecutor(t, WithKeyValue(openPebble(t)), WithPublisher(nopPublisher{}), WithHTTPPolicy(HTTPPolicy{AllowedHosts: []string{"localhost"}}))
	granted := allGranted("127.0.0.1:"+strconv.Itoa(port), "nowhere.test")
	granted.Set(activation.AnnotationHTTPBudget, map[string]int{"bytes": 16 << 10, "ms": 500})
	tests := []struct {
		name      string
		e         *Executor
		value     string
		hostError string // the sentinel the guest's error matched, or "" for a response
		want      map[string]any
	}{
		{name: "GET allowed", e: e, value: httpParams("GET", base+"/echo", ""),
			want: map[string]any{"status": 201.0, "header": "GET sdk"}},
		{name: "POST with a body", e: e, value: httpParams("POST", base+"/echo", "ping"),
			want: map[string]any{"status": 201.0, "header": "POST sdk", "body": "ping"}},
		{name: "another host", e: e, value: httpParams("GET", "http://localhost:"+strconv.Itoa(port)+"/echo", ""), hostError: "not allowed"},
		{name: "another port", e: e, value: httpParams("GET", "http://127.0.0.1:1/echo", ""), hostError: "not allowed"},
		{name: "timed out", e: e, value: httpParams("GET", base+"/slow", ""), hostError: "timeout"},
		{name: "over the byte budget", e: e, value: httpParams("GET", base+"/big", ""), hostError: "too large"},
		{name: "DNS failure", e: e, value: httpParams("GET", "http://nowhere.test/", ""), hostError: "dns"},
		{name: "narrowed by the operator", e: narrow, value: httpParams("GET", base+"/echo", ""), hostError: "not allowed"},
	}
	t.Run("net/http client", func(t *testing.T) {
		got := sdkResult(t, e, sdkAction(t, goSDKNetHTTP, "guest", granted), `{"method":"PUT","url":"`+base+`/echo","body":"pong"}`)
		if got["status"] != 201.0 || got["header"] != "PUT net/http" || got["body"] != "pong" {
			t.Fatalf("got %v", got)
		}
		res := e.Run(context.Background(), sdkAction(t, goSDKNetHTTP, "guest", granted), invocation(`{"method":"GET","url":"http://localhost:`+strconv.Itoa(port)+`/echo"}`, 0))
		if res.Response.StatusCode != whisk.StatusApplicationError || !strings.Contains(string(res.Response.Result), "faasedge.http_request: host localhost:"+strconv.Itoa(port)+" is not allowed") {
			t.Fatalf("refused: %d %s", res.Response.StatusCode, res.Response.Result)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sdkResult(t, tt.e, sdkAction(t, goSDKReactor, "guest", granted), tt.value)
			if tt.hostError != "" {
				if got["hostError"] != tt.hostError {
					t.Fatalf("got %v, want host error %q", got, tt.hostError)
				}
				return
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s: got %v, want %v", k, got, tt.want)
				}
			}
		})
	}
}

// nopPublisher refuses to publish; it lets an action link ipfs_add.
type nopPublisher struct{}

func (nopPublisher) Add(context.Context, io.Reader, int) (cid.Cid, error) {
	return cid.Undef, errors.New("no IPFS here")
}

func openPebble(t testing.TB) *kv.Pebble {
	p, err := kv.OpenPebble(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestHostKV uses the key-value store from two namespaces (one through a
// package) that share key names but never each other's values.
func TestHostKV(t *testing.T) {
	e := newExecutor(t, WithKeyValue(openPebble(t)), WithPublisher(nopPublisher{}))
	alice := sdkAction(t, goSDKReactor, "alice/tools", allGranted("example.com"))
	bob := sdkAction(t, goSDKReactor, "bob", allGranted("example.com"))
	op := func(a *activation.Action, op, key, value string) map[string]any {
		t.Helper()
		return sdkResult(t, e, a, mustJSON(map[string]any{"kv": map[string]string{"op": op, "key": key, "value": value}}))
	}
	op(alice, "set", "user/1", "a1")
	op(alice, "set", "user/2", "a2")
	op(bob, "set", "user/1", "b1")
	if got := op(alice, "get", "user/1", ""); got["value"] != "a1" {
		t.Fatalf("alice's user/1: %v", got)
	}
	if got := op(bob, "get", "user/1", ""); got["value"] != "b1" {
		t.Fatalf("bob's user/1: %v", got)
	}
	if got := op(bob, "get", "user/2", ""); got["hostError"] != "not found" {
		t.Fatalf("bob reads alice's user/2: %v", got)
	}
	if got := mustJSON(op(alice, "list", "user/", "")["keys"]); got != `["user/1","user/2"]` {
		t.Fatalf("alice's keys: %s", got)
	}
	if got := mustJSON(op(bob, "list", "", "")["keys"]); got != `["user/1"]` {
		t.Fatalf("bob's keys: %s", got)
	}
	op(alice, "delete", "user/1", "")
	if got := op(alice, "get", "user/1", ""); got["hostError"] != "not found" {
		t.Fatalf("deleted: %v", got)
	}
	if got := op(bob, "get", "user/1", ""); got["value"] != "b1" {
		t.Fatalf("alice's delete reached bob: %v", got)
	}
	if got := op(alice, "set", strings.Repeat("k", MaxKeyBytes+1), "v"); got["hostError"] != "too large" {
		t.Fatalf("long key: %v", got)
	}
}

// TestHostIPFSAdd publishes from an action to a real IPFS node and reads
// the content back by its CID through the /ipfs mount.
func TestHostIPFSAdd(t *testing.T) {
	ctx := context.Background()
	_, node := ipfstest.Source(ctx, t)
	e := newExecutor(t, WithKeyValue(openPebble(t)), WithPublisher(node))
	got := sdkResult(t, e, sdkAction(t, goSDKReactor, "guest", allGranted("example.com")), `{"ipfs":"published by an action"}`)
	c, _ := got["cid"].(string)
	if !strings.HasPrefix(c, "Qm") {
		t.Fatalf("cid %v", got)
	}
	b, err := fs.ReadFile(node.FS(ctx), c)
	if err != nil || string(b) != "published by an action" {
		t.Fatalf("content of %s: %q %v", c, b, err)
	}
}
