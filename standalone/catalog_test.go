package standalone

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	ow "github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/standalone/controller"
)

// The catalog is installed at start: a guest invokes /whisk.system/utils
// actions directly and through a binding, and a nodejs action uses timers,
// promises, fetch of a loopback server and require('url') end to end.
func TestCatalogAndNodejs(t *testing.T) {
	s := startStack(t, Config{})
	sys, err := ow.NewClient(http.DefaultClient, &ow.Config{Host: s.APIHost(), AuthToken: controller.GuestAuth, Namespace: "whisk.system"})
	if err != nil {
		t.Fatal(err)
	}
	guest := wskClient(t, s.APIHost(), controller.GuestAuth)
	result := func(c *ow.Client, name string, params any) string {
		t.Helper()
		res, _, err := c.Actions.Invoke(name, params, true, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(res)
		return string(b)
	}
	if got := result(sys, "utils/sort", map[string]any{"lines": []string{"c", "a", "b"}}); got != `{"length":3,"lines":["a","b","c"]}` {
		t.Errorf("sort: %s", got)
	}
	if got := result(sys, "utils/echo", map[string]any{"payload": "Five fuzzy felines"}); got != `{"payload":"Five fuzzy felines"}` {
		t.Errorf("echo: %s", got)
	}
	if _, _, err := guest.Packages.Insert(&ow.BindingPackage{Name: "myutils", Binding: ow.Binding{Namespace: "whisk.system", Name: "utils"}}, false); err != nil {
		t.Fatal(err)
	}
	if got := result(guest, "myutils/namespace", nil); got != `{"namespace":"guest"}` {
		t.Errorf("namespace through a binding: %s", got)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"hello":"` + r.URL.Query().Get("who") + `"}`))
	}))
	defer srv.Close()
	code := `const { URL } = require('url');
		const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
		async function main(p) {
			await sleep(50);
			const u = new URL(p.url);
			u.searchParams.set('who', 'node');
			const r = await fetch(String(u));
			return { status: r.status, body: await r.json(), host: u.hostname };
		}`
	if _, _, err := guest.Actions.Insert(jsAction("fetcher", code), true); err != nil {
		t.Fatal(err)
	}
	if got := result(guest, "fetcher", map[string]any{"url": srv.URL}); got != `{"body":{"hello":"node"},"host":"127.0.0.1","status":200}` {
		t.Errorf("fetcher: %s", got)
	}

	// A zipped action with its own module, as `wsk action create z z.zip
	// --kind nodejs:20` sends it.
	z := zipOf(t, map[string][]byte{
		"package.json": []byte(`{"main": "main.js"}`),
		"main.js":      []byte(`const add = require('./lib/add'); exports.main = (p) => ({ sum: add(p.a, p.b) });`),
		"lib/add.js":   []byte(`module.exports = (a, b) => a + b;`),
	})
	zipAction := &ow.Action{Name: "zipped", Exec: &ow.Exec{Kind: "nodejs:20", Code: ptr(base64.StdEncoding.EncodeToString(z)), Binary: ptr(true)}}
	if _, _, err := guest.Actions.Insert(zipAction, true); err != nil {
		t.Fatal(err)
	}
	if got := result(guest, "zipped", map[string]any{"a": 2, "b": 3}); got != `{"sum":5}` {
		t.Errorf("zipped: %s", got)
	}
}
