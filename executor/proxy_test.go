package executor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/whisk"
)

// stockClient posts like the stock invoker's Apache client: JSON in and
// out, no connection reuse, and a response that must carry Content-Length.
func stockClient(t *testing.T, url string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return stockPost(t, url, bytes.NewReader(b))
}

// stockPost is stockClient for a body already encoded, or streamed.
func stockPost(t *testing.T, url string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(out)) {
		t.Errorf("Content-Length %q for a body of %d bytes", cl, len(out))
	}
	return resp.StatusCode, string(out)
}

func initBody(code []byte, env map[string]any) map[string]any {
	return map[string]any{"value": map[string]any{
		"name": "echo", "main": "main", "binary": true,
		"code": base64.StdEncoding.EncodeToString(code), "env": env,
	}}
}

func runBody(value string, deadline time.Time) map[string]any {
	return map[string]any{
		"value": json.RawMessage(value), "namespace": "guest", "action_name": "/guest/echo",
		"action_version": "0.0.1", "activation_id": "5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b",
		"transaction_id": "m2fXbLrCv0y2Wb7dP5q1yGzS8aKjT3uE",
		"deadline":       strconv.FormatInt(deadline.UnixMilli(), 10), "api_key": "uuid:key",
	}
}

func TestProxy(t *testing.T) {
	var stdout, stderr testenv.LockedBuffer
	p := NewProxy(newExecutor(t), whisk.DefaultLimits(), &stdout, &stderr)
	srv := httptest.NewServer(p)
	defer srv.Close()

	code, body := stockClient(t, srv.URL+"/run", runBody(`{}`, time.Now().Add(time.Minute)))
	if code != http.StatusInternalServerError {
		t.Errorf("/run before /init: %d %s", code, body)
	}
	env := map[string]any{"__OW_ACTION_NAME": "/guest/echo", "APP_MODE": "prod", "RETRIES": 3, "NOTHING": nil}
	if code, body := stockClient(t, srv.URL+"/init", initBody(goEcho.bytes(t), env)); code != http.StatusOK || body != `{"ok":true}` {
		t.Fatalf("/init: %d %s", code, body)
	}
	if code, body := stockClient(t, srv.URL+"/init", initBody(goEcho.bytes(t), env)); code != http.StatusForbidden {
		t.Errorf("second /init: %d %s", code, body)
	}

	deadline := time.Now().Add(time.Minute)
	tests := []struct {
		value  string
		status int
		body   string
		stdout string
		stderr string
	}{
		{`{"log":"hello","x":1}`, http.StatusOK, `{"log":"hello","x":1}`, "hello\n", "hello\n"},
		{`{"env":"__OW_ACTIVATION_ID"}`, http.StatusOK, `{"env":"5c9b2f7e3a1d4c8b9b2f7e3a1d4c8b9b"}`, "", ""},
		{`{"env":"__OW_DEADLINE"}`, http.StatusOK, `{"env":"` + strconv.FormatInt(deadline.UnixMilli(), 10) + `"}`, "", ""},
		{`{"env":"RETRIES"}`, http.StatusOK, `{"env":"3"}`, "", ""},
		{`{"env":"NOTHING"}`, http.StatusOK, `{"env":""}`, "", ""},
		{`{"error":"no"}`, http.StatusOK, `{"error":"no"}`, "", ""},
		{`{"print":"plain text"}`, http.StatusBadGateway, errorText(whisk.MsgInvalidRunResponse("plain text")), "", ""},
	}
	for _, tt := range tests {
		before, beforeErr := len(stdout.String()), len(stderr.String())
		code, body := stockClient(t, srv.URL+"/run", runBody(tt.value, deadline))
		if code != tt.status || body != tt.body {
			t.Errorf("/run %s: %d %s, want %d %s", tt.value, code, body, tt.status, tt.body)
		}
		if got := stdout.String()[before:]; got != tt.stdout+whisk.LogSentinel+"\n" {
			t.Errorf("/run %s: stdout %q", tt.value, got)
		}
		if got := stderr.String()[beforeErr:]; got != tt.stderr+whisk.LogSentinel+"\n" {
			t.Errorf("/run %s: stderr %q", tt.value, got)
		}
	}
}

func TestProxyBadCode(t *testing.T) {
	p := NewProxy(newExecutor(t), whisk.DefaultLimits(), io.Discard, io.Discard)
	srv := httptest.NewServer(p)
	defer srv.Close()
	code, body := stockClient(t, srv.URL+"/init", initBody([]byte("not wasm"), nil))
	want := errorText("the action's code is not a WebAssembly module: want raw wasm, base64 wasm, a zip holding one .wasm file, or ipfs://<CID>")
	if code != http.StatusBadGateway || body != want {
		t.Errorf("/init: %d %s, want 502 %s", code, body, want)
	}
	// A timed-out run answers before the invoker's own timer would.
	if code, body := stockClient(t, srv.URL+"/init", initBody(watLoop.bytes(t), nil)); code != http.StatusOK {
		t.Fatalf("/init: %d %s", code, body)
	}
	code, body = stockClient(t, srv.URL+"/run", runBody(`{}`, time.Now().Add(300*time.Millisecond)))
	if code != http.StatusBadGateway || !strings.HasPrefix(body, `{"error":"The action exceeded its time limits of `) {
		t.Errorf("/run: %d %s", code, body)
	}
}

// TestProxyReactor inits with a zip, as `wsk action create f f.zip --kind
// wasm:wasip1` sends it, and checks that a reactor's logs reach the streams.
func TestProxyReactor(t *testing.T) {
	var stdout, stderr testenv.LockedBuffer
	p := NewProxy(newExecutor(t), whisk.DefaultLimits(), &stdout, &stderr)
	srv := httptest.NewServer(p)
	defer srv.Close()
	zipped := zipOf(t, map[string][]byte{"reactor.wasm": goReactor.bytes(t)})
	if code, body := stockClient(t, srv.URL+"/init", initBody(zipped, nil)); code != http.StatusOK {
		t.Fatalf("/init: %d %s", code, body)
	}
	for i := range 2 {
		code, body := stockClient(t, srv.URL+"/run", runBody(`{"log":"hi","calls":true}`, time.Now().Add(time.Minute)))
		if want := `{"calls":` + strconv.Itoa(i+1) + `}`; code != http.StatusOK || body != want {
			t.Errorf("/run %d: %d %s, want 200 %s", i, code, body, want)
		}
	}
	want := strings.Repeat("hi\n"+whisk.LogSentinel+"\n", 2)
	if stdout.String() != want || stderr.String() != want {
		t.Errorf("stdout %q, stderr %q, want %q on both", stdout.String(), stderr.String(), want)
	}
}

// TestProxyBoundsBodies sends bodies past the proxy's bounds as a stream,
// so the test holds none of it: each is refused with 413 after the bound,
// and the proxy goes on serving.
func TestProxyBoundsBodies(t *testing.T) {
	p := NewProxy(newExecutor(t), whisk.DefaultLimits(), io.Discard, io.Discard)
	mod := goEcho.bytes(t)
	p.maxInit, p.maxRun = int64(2*len(mod)), 1<<20
	srv := httptest.NewServer(p)
	defer srv.Close()
	for path, limit := range map[string]int64{"/init": p.maxInit, "/run": p.maxRun} {
		body := io.MultiReader(strings.NewReader(`{"value":{"code":"`), io.LimitReader(repeatByte('A'), 2*limit))
		code, got := stockPost(t, srv.URL+path, body)
		want := errorText(fmt.Sprintf("the %s body is larger than %d bytes", path, limit))
		if code != http.StatusRequestEntityTooLarge || got != want {
			t.Errorf("%s past the bound: %d %s, want 413 %s", path, code, got, want)
		}
	}
	if code, body := stockClient(t, srv.URL+"/init", initBody(mod, nil)); code != http.StatusOK {
		t.Fatalf("/init after refusals: %d %s", code, body)
	}
	if code, body := stockClient(t, srv.URL+"/run", runBody(`{"x":1}`, time.Now().Add(time.Minute))); code != http.StatusOK || body != `{"x":1}` {
		t.Errorf("/run after refusals: %d %s", code, body)
	}
}

// repeatByte is an endless reader of one byte.
type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
