package standalone

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/standalone/controller"
)

func webAction(name, code string, ann ...string) *whisk.Action {
	a := jsAction(name, code)
	a.Annotations = whisk.KeyValueArr{{Key: "web-export", Value: true}}
	for i := 0; i+1 < len(ann); i += 2 {
		var v any = ann[i+1]
		if ann[i+1] == "true" {
			v = true
		}
		a.Annotations = append(a.Annotations, whisk.KeyValue{Key: ann[i], Value: v})
	}
	return a
}

// TestWebActions calls web actions without credentials, as a browser
// does, through every extension, raw HTTP, require-whisk-auth, final
// parameters and CORS preflight.
func TestWebActions(t *testing.T) {
	s := startStack(t, Config{})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	final := webAction("final", `function main(p) { return {fixed: p.fixed}; }`, "final", "true")
	final.Parameters = kv("fixed", "v")
	for _, a := range []*whisk.Action{
		webAction("echo", `function main(p) { return {name: p.name, method: p.__ow_method, path: p.__ow_path, h: p.__ow_headers["x-test"], user: p.__ow_user || null}; }`),
		webAction("page", `function main() { return {html: "<b>hi</b>", svg: "<svg/>", text: "plain"}; }`),
		webAction("created", `function main() { return {statusCode: 201, headers: {"X-A": "b"}, body: "made"}; }`),
		webAction("raw", `function main(p) { return {q: p.__ow_query, b: p.__ow_body}; }`, "raw-http", "true"),
		webAction("authed", `function main(p) { return {user: p.__ow_user}; }`, "require-whisk-auth", "true"),
		webAction("secret", `function main() { return {ok: true}; }`, "require-whisk-auth", "s3cret"),
		webAction("throws", `function main() { throw new Error("boom"); }`),
		jsAction("private", `function main() { return {}; }`),
		final,
	} {
		if _, _, err := wsk.Actions.Insert(a, false); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
	}
	call := func(method, path, ctype, body string, header map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(method, s.APIHost()+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			if k == "auth" {
				u, p, _ := strings.Cut(v, ":")
				req.SetBasicAuth(u, p)
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		code                            int
		wantType, want                  string
	}{
		{"json with query, path and headers", "GET", "/api/v1/web/guest/default/echo.json/extra/bit?name=x", "", "", map[string]string{"X-Test": "y"}, 200, "application/json", `{"name":"x","method":"get","path":"/extra/bit","h":"y","user":null}`},
		{"json body merges", "POST", "/api/v1/web/guest/default/echo.json", "application/json", `{"name":"fromBody"}`, nil, 200, "application/json", `{"name":"fromBody","method":"post","path":"","user":null}`},
		{"html", "GET", "/api/v1/web/guest/default/page.html", "", "", nil, 200, "text/html", "<b>hi</b>"},
		{"svg", "GET", "/api/v1/web/guest/default/page.svg", "", "", nil, 200, "image/svg+xml", "<svg/>"},
		{"text", "GET", "/api/v1/web/guest/default/page.text", "", "", nil, 200, "text/plain", "plain"},
		{"http", "GET", "/api/v1/web/guest/default/created.http", "", "", nil, 201, "text/html", "made"},
		{"no extension is http", "GET", "/api/v1/web/guest/default/created", "", "", nil, 201, "text/html", "made"},
		{"raw http", "POST", "/api/v1/web/guest/default/raw.json?a=1&b=2", "text/plain", "hello", nil, 200, "application/json", `{"q":"a=1&b=2","b":"hello"}`},
		{"require-whisk-auth without credentials", "GET", "/api/v1/web/guest/default/authed.json", "", "", nil, 401, "application/json", "The resource requires authentication"},
		{"require-whisk-auth with credentials", "GET", "/api/v1/web/guest/default/authed.json", "", "", map[string]string{"auth": controller.GuestAuth}, 200, "application/json", `{"user":"guest"}`},
		{"require-whisk-auth secret", "GET", "/api/v1/web/guest/default/secret.json", "", "", map[string]string{"X-Require-Whisk-Auth": "s3cret"}, 200, "application/json", `{"ok":true}`},
		{"require-whisk-auth wrong secret", "GET", "/api/v1/web/guest/default/secret.json", "", "", map[string]string{"X-Require-Whisk-Auth": "nope"}, 401, "application/json", "The resource requires authentication"},
		{"final parameter", "GET", "/api/v1/web/guest/default/final.json?fixed=other", "", "", nil, 400, "application/json", "Request defines parameters that are not allowed"},
		{"reserved parameter", "GET", "/api/v1/web/guest/default/echo.json?__ow_method=put", "", "", nil, 400, "application/json", "Request defines parameters that are not allowed"},
		{"final parameter kept", "GET", "/api/v1/web/guest/default/final.json", "", "", nil, 200, "application/json", `{"fixed":"v"}`},
		{"action that throws", "GET", "/api/v1/web/guest/default/throws.json", "", "", nil, 400, "application/json", "There was an error processing your request."},
		{"html without html", "GET", "/api/v1/web/guest/default/echo.html", "", "", nil, 400, "application/json", "Response is not valid 'text/html'."},
		{"not exported", "GET", "/api/v1/web/guest/default/private.json", "", "", nil, 404, "application/json", "The requested resource does not exist."},
		{"unknown namespace", "GET", "/api/v1/web/nobody/default/echo.json", "", "", nil, 404, "application/json", "The requested resource does not exist."},
		{"unknown route is 404, not 401", "GET", "/api/v1/nothing/here", "", "", nil, 404, "application/json", "The requested resource could not be found."},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := call(c.method, c.path, c.ctype, c.body, c.header)
			ok := resp.StatusCode == c.code && strings.HasPrefix(resp.Header.Get("Content-Type"), c.wantType)
			if strings.HasPrefix(c.want, "{") && c.code == 200 {
				ok = ok && jsonEqual(body, c.want)
			} else {
				ok = ok && strings.Contains(body, c.want)
			}
			if !ok {
				t.Fatalf("%d %s %q, want %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, c.code, c.wantType, c.want)
			}
			if c.name == "http" && resp.Header.Get("X-A") != "b" {
				t.Fatalf("header X-A: %q", resp.Header.Get("X-A"))
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" && c.code != 404 {
				t.Fatalf("no CORS header")
			}
		})
	}
	t.Run("CORS preflight", func(t *testing.T) {
		resp, _ := call("OPTIONS", "/api/v1/web/guest/default/echo.json", "", "", map[string]string{"Access-Control-Request-Headers": "X-Custom"})
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Headers") != "X-Custom" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
}
