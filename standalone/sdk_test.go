package standalone

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
)

// record is the part of a blocking invocation's answer the SDK tests
// (and TestFetchAnnotations) read.
type record struct {
	ActivationID string `json:"activationId"`
	Response     struct {
		Status string         `json:"status"`
		Result map[string]any `json:"result"`
	} `json:"response"`
	Duration    float64 `json:"duration"`
	Annotations []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"annotations"`
}

// invokeBlocking invokes name through the REST API and returns the
// activation, whatever its status.
func invokeBlocking(t *testing.T, s *Stack, auth, name string, params any) record {
	t.Helper()
	body, _ := json.Marshal(params)
	code, b := restAs(t, s, auth, http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true", string(body))
	var a record
	if err := json.Unmarshal([]byte(b), &a); err != nil || (a.Response.Status == "" && code != http.StatusAccepted) {
		t.Fatalf("invoke %s: %d %s", name, code, b)
	}
	if code == http.StatusAccepted {
		// Past the blocking wait (a cold compile under -race): the record
		// comes later.
		return activationRecord(t, s, auth, a.ActivationID)
	}
	return a
}

// activationRecord waits for an activation's record and returns it.
func activationRecord(t *testing.T, s *Stack, auth, id string) record {
	t.Helper()
	for range 3000 {
		code, b := restAs(t, s, auth, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, "")
		var a record
		if err := json.Unmarshal([]byte(b), &a); code == http.StatusOK && err == nil {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no record of activation %s", id)
	return record{}
}

// activationLogs reads an activation's logs through the REST API, once
// its record is stored (the invoker writes it after the answer).
func activationLogs(t *testing.T, s *Stack, auth, id string) string {
	t.Helper()
	for range 200 {
		code, b := restAs(t, s, auth, http.MethodGet, "/api/v1/namespaces/_/activations/"+id+"/logs", "")
		var body struct{ Logs []string }
		if err := json.Unmarshal([]byte(b), &body); code == http.StatusOK && err == nil {
			return strings.Join(body.Logs, "\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no record of activation %s", id)
	return ""
}

// sdkAction is a wasm action of the given module with annotations.
func sdkAction(name string, code []byte, ann whisk.KeyValueArr) *whisk.Action {
	return &whisk.Action{Name: name, Annotations: ann,
		Exec: &whisk.Exec{Kind: "wasm:wasip1", Code: ptr(base64.StdEncoding.EncodeToString(code)), Binary: ptr(true)}}
}

// addNamespace writes a subject with its own namespace to the subjects
// database and returns its key; the controller finds it on first use.
func addNamespace(t *testing.T, couchURL, name string) string {
	t.Helper()
	uuid, key := strings.Repeat("a", 8)+"-"+name, strings.Repeat("k", 64)
	doc, _ := json.Marshal(map[string]any{"subject": name, "namespaces": []map[string]string{{"name": name, "uuid": uuid, "key": key}}})
	req, _ := http.NewRequest(http.MethodPut, couchURL+"/subjects/"+name, bytes.NewReader(doc))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("add subject %s: %v %v", name, resp, err)
	}
	resp.Body.Close()
	return uuid + ":" + key
}

// TestSDKActions runs Go SDK actions through the REST API, Kafka and the
// real invoker engine: typed parameters as a reactor and as a command,
// logs and errors mapped, outbound HTTP to a loopback server (allowed,
// refused, timed out, over budget), a link error, and the embedded
// key-value store with two namespaces isolated.
func TestSDKActions(t *testing.T) {
	couch := testenv.StartPouchDB(t) // a second namespace is a subjects document
	s := startStack(t, Config{CouchURL: couch.URL, ModulesDir: wasmtest.CompilationCacheDir()})
	testSDKActions(t, s, couch.URL)
}

// TestSDKKVRedis is the key-value part on a real redis-server.
func TestSDKKVRedis(t *testing.T) {
	couch := testenv.StartPouchDB(t)
	s := startStack(t, Config{CouchURL: couch.URL, RedisURL: testenv.StartRedis(t), ModulesDir: wasmtest.CompilationCacheDir()})
	testSDKKV(t, s, couch.URL)
}

func testSDKActions(t *testing.T, s *Stack, couchURL string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Reply", r.Method+" "+r.Header.Get("X-Test"))
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		// The server sees the client go only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select { // until the client gives up, bounded
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 64<<10)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	granted := whisk.KeyValueArr{
		{Key: activation.AnnotationAllowedHosts, Value: []string{"127.0.0.1:" + port}},
		{Key: activation.AnnotationHTTPBudget, Value: map[string]int{"bytes": 16 << 10, "ms": 500}},
		{Key: activation.AnnotationKV, Value: true},
		{Key: activation.AnnotationIPFSAdd, Value: true},
	}
	for _, a := range []*whisk.Action{
		sdkAction("sdk", wasmtest.GoReactor(t, "sdk"), granted),
		sdkAction("sdk-command", wasmtest.GoCommand(t, "sdk"), granted),
		sdkAction("sdk-ungranted", wasmtest.GoReactor(t, "sdk"), nil),
	} {
		if _, _, err := wsk.Actions.Insert(a, false); err != nil {
			t.Fatal(err)
		}
	}

	for _, name := range []string{"sdk", "sdk-command"} {
		t.Run("typed params "+name, func(t *testing.T) {
			a := invokeBlocking(t, s, controller.GuestAuth, name, map[string]any{"name": "World"})
			if a.Response.Status != "success" || a.Response.Result["greeting"] != "Hello, World!" || a.Response.Result["action"] != "/guest/"+name {
				t.Fatalf("%+v", a)
			}
			if logs := activationLogs(t, s, controller.GuestAuth, a.ActivationID); !strings.Contains(logs, `stderr: level=INFO msg="sdk action" name=World`) {
				t.Fatalf("logs %q", logs)
			}
			a = invokeBlocking(t, s, controller.GuestAuth, name, map[string]any{"fail": "no such city"})
			if a.Response.Status != "application error" || a.Response.Result["error"] != "no such city" {
				t.Fatalf("returned error: %+v", a)
			}
			a = invokeBlocking(t, s, controller.GuestAuth, name, map[string]any{"panic": "oops"})
			if a.Response.Status != "action developer error" || !strings.Contains(activationLogs(t, s, controller.GuestAuth, a.ActivationID), "panic: oops") {
				t.Fatalf("panic: %+v", a)
			}
		})
	}

	t.Run("link error", func(t *testing.T) {
		a := invokeBlocking(t, s, controller.GuestAuth, "sdk-ungranted", map[string]any{"name": "x"})
		if msg, _ := a.Response.Result["error"].(string); a.Response.Status != "action developer error" ||
			!strings.Contains(msg, "link error: the action's module imports faasedge.http_request") {
			t.Fatalf("%+v", a)
		}
	})

	t.Run("outbound HTTP", func(t *testing.T) {
		call := func(url string) map[string]any {
			t.Helper()
			a := invokeBlocking(t, s, controller.GuestAuth, "sdk", map[string]any{"http": map[string]string{"method": "POST", "url": url, "body": "ping"}})
			if a.Response.Status != "success" {
				t.Fatalf("%s: %+v", url, a)
			}
			return a.Response.Result
		}
		if got := call(srv.URL + "/echo"); got["body"] != "ping" || got["header"] != "POST sdk" {
			t.Fatalf("allowed: %v", got)
		}
		for path, want := range map[string]string{
			"http://localhost:" + port + "/echo": "not allowed",
			srv.URL + "/slow":                    "timeout",
			srv.URL + "/big":                     "too large",
		} {
			if got := call(path); got["hostError"] != want {
				t.Fatalf("%s: %v, want %q", path, got, want)
			}
		}
	})

	testSDKKV(t, s, couchURL)
}

// testSDKKV sets, reads, lists and deletes keys from two namespaces that
// use the same key names.
func testSDKKV(t *testing.T, s *Stack, couchURL string) {
	aliceAuth := addNamespace(t, couchURL, "alice")
	kvOnly := whisk.KeyValueArr{
		{Key: activation.AnnotationAllowedHosts, Value: "example.com"},
		{Key: activation.AnnotationKV, Value: true},
		{Key: activation.AnnotationIPFSAdd, Value: true},
	}
	auths := map[string]string{"guest": controller.GuestAuth, "alice": aliceAuth}
	for ns, auth := range auths {
		if _, _, err := wskClient(t, s.APIHost(), auth).Actions.Insert(sdkAction("kv", wasmtest.GoReactor(t, "sdk"), kvOnly), true); err != nil {
			t.Fatalf("%s: %v", ns, err)
		}
	}
	op := func(ns, op, key, value string) map[string]any {
		t.Helper()
		a := invokeBlocking(t, s, auths[ns], "kv", map[string]any{"kv": map[string]string{"op": op, "key": key, "value": value}})
		if a.Response.Status != "success" {
			t.Fatalf("%s %s %s: %+v", ns, op, key, a)
		}
		return a.Response.Result
	}
	op("guest", "set", "user/1", "g1")
	op("guest", "set", "user/2", "g2")
	op("alice", "set", "user/1", "a1")
	for ns, want := range map[string]string{"guest": "g1", "alice": "a1"} {
		if got := op(ns, "get", "user/1", ""); got["value"] != want {
			t.Fatalf("%s's user/1: %v, want %s", ns, got, want)
		}
	}
	if got := op("alice", "get", "user/2", ""); got["hostError"] != "not found" {
		t.Fatalf("alice reads guest's user/2: %v", got)
	}
	if got := fmt.Sprint(op("guest", "list", "user/", "")["keys"]); got != "[user/1 user/2]" {
		t.Fatalf("guest's keys: %s", got)
	}
	if got := fmt.Sprint(op("alice", "list", "", "")["keys"]); got != "[user/1]" {
		t.Fatalf("alice's keys: %s", got)
	}
	op("guest", "delete", "user/1", "")
	if got := op("guest", "get", "user/1", ""); got["hostError"] != "not found" {
		t.Fatalf("deleted key: %v", got)
	}
	if got := op("alice", "get", "user/1", ""); got["value"] != "a1" {
		t.Fatalf("guest's delete reached alice: %v", got)
	}
}
