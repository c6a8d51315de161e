package standalone

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestHTTPLimits sends what a hostile client sends to the REST API and to
// the document store: trickled bodies, non-JSON bodies, huge request ids.
// Each is contained and the stack keeps serving.
func TestHTTPLimits(t *testing.T) {
	s := startStack(t, Config{HTTP: httpserve.Limits{ReadHeader: 2 * time.Second, Read: 2 * time.Second}})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	if _, _, err := wsk.Actions.Insert(jsAction("hello", "function main(p) { return p; }"), false); err != nil {
		t.Fatal(err)
	}
	couch, err := url.Parse(s.couch)
	if err != nil {
		t.Fatal(err)
	}
	for name, host := range map[string]string{"REST": strings.TrimPrefix(s.APIHost(), "http://"), "docstore": couch.Host} {
		t.Run("trickled body closes the connection: "+name, func(t *testing.T) {
			trickle(t, host, "/api/v1/namespaces/_/actions/x")
		})
	}
	api := func(method, path, ctype string, header map[string]string, body string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, s.APIHost()+path, strings.NewReader(body))
		req.SetBasicAuth(controller.GuestUUID, controller.GuestKey)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	t.Run("non-JSON content type is 415", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{"PUT", "/api/v1/namespaces/_/actions/plain", `{"exec":{"kind":"nodejs:default","code":"function main(){return {}}"}}`},
			{"POST", "/api/v1/namespaces/_/actions/hello?blocking=true", `{"a":1}`},
		} {
			code, body, _ := api(c.method, c.path, "text/plain", nil, c.body)
			if code != http.StatusUnsupportedMediaType || !strings.Contains(body, "Content-Type [text/plain] is not supported") {
				t.Fatalf("%s %s: %d %s", c.method, c.path, code, body)
			}
		}
		if code, body, _ := api("POST", "/api/v1/namespaces/_/actions/hello?blocking=true&result=true", "application/json; charset=utf-8", nil, `{"a":1}`); code != 200 || body != `{"a":1}` {
			t.Fatalf("JSON with a charset: %d %s", code, body)
		}
	})
	t.Run("X-Request-ID is capped", func(t *testing.T) {
		code, _, h := api("GET", "/api/v1/namespaces/_/actions", "", map[string]string{"X-Request-ID": "mine"}, "")
		if code != 200 || h.Get("X-Request-ID") != "mine" {
			t.Fatalf("a short id: %d, echoed %q", code, h.Get("X-Request-ID"))
		}
		for _, n := range []int{8<<10 + 1, 1 << 20} {
			code, _, h := api("GET", "/api/v1/namespaces/_/actions", "", map[string]string{"X-Request-ID": strings.Repeat("x", n)}, "")
			if code != http.StatusRequestHeaderFieldsTooLarge || len(h.Get("X-Request-ID")) > 8<<10 {
				t.Fatalf("an id of %d bytes: %d, echoed %d bytes", n, code, len(h.Get("X-Request-ID")))
			}
		}
	})
	if _, _, err := wsk.Actions.Get("hello", false); err != nil {
		t.Fatalf("the API stopped serving: %v", err)
	}
}

// trickle sends headers announcing a body, one byte of it, and nothing
// more: the server must close the connection (after its read timeout),
// with or without a response first.
func trickle(t *testing.T, host, path string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", path, host, basicAuth())
	// Bound the wait well above the 2 s read timeout: a connection still
	// open after a minute is one the server never closes.
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err = io.Copy(io.Discard, bufio.NewReader(conn))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept a trickling connection open")
	}
}

func basicAuth() string {
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://x", nil)
	req.SetBasicAuth(controller.GuestUUID, controller.GuestKey)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestPortInUse: Start on a taken address fails with the listen error.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(context.Background(), Config{APIAddr: ln.Addr().String(), DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a taken port: %v", err)
	}
}
