package standalone

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestJSClientEntities runs testdata/jsclient_entities.js, the official
// JavaScript client (npm openwhisk) on node, against the standalone:
// packages and a binding with parameter merging, triggers with and without
// an active rule, a sequence whose middle component fails, web actions
// without credentials, and namespace get.
func TestJSClientEntities(t *testing.T) {
	s := startStack(t, Config{})
	modules := filepath.Join(testenv.ModuleRoot(t), ".tools", "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "openwhisk", "package.json")); err != nil {
		t.Fatalf("the openwhisk npm package is missing (make deps installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "jsclient_entities.js"), s.APIHost(), controller.GuestAuth)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	for key, want := range map[string]string{
		"merge":      `{"a":"pkg","b":"binding","c":"action","d":"inv"}`,
		"bindOfBind": `{"failed":400,"error":{"error":"Cannot bind to another package binding.","code":"*"}}`,
		// 204 No Content, which the client hands back as an empty Buffer.
		"fireWithoutRule": `{"type":"Buffer","data":[]}`,
		"ruleLine":        `{"rule":"guest/R","action":"guest/lib/show","success":true}`,
		"ruleResult":      `{"a":"pkg","b":"pkg","c":"action","t":"trig","x":1}`,
		"disabled":        `"inactive"`,
		"fireDisabled":    `{"type":"Buffer","data":[]}`,
		"enabled":         `"active"`,
		"sequence":        `{"failed":502,"result":{"error":"boom at 2"},"status":"application error","components":2,"causes":[true,true]}`,
		"namespace":       `{"actions":7,"packages":2,"triggers":1,"rules":1}`,
	} {
		if !jsonMatch(t, got[key], want) {
			t.Errorf("%s: got %s, want %s", key, got[key], want)
		}
	}
	var webOut map[string]struct {
		Status                     int
		Type, Body, CORS, Q, Allow string
	}
	if err := json.Unmarshal(got["web"], &webOut); err != nil {
		t.Fatalf("web: %s: %v", got["web"], err)
	}
	for key, want := range map[string]struct {
		status      int
		ctype, body string
	}{
		"json":      {200, "application/json", `{"html":"<b>js</b>","svg":"<svg/>","text":"plain","json":"js"}`},
		"html":      {200, "text/html; charset=UTF-8", "<b>js</b>"},
		"svg":       {200, "image/svg+xml", "<svg/>"},
		"text":      {200, "text/plain; charset=UTF-8", "plain"},
		"http":      {201, "text/html; charset=UTF-8", "hello"},
		"noKey":     {401, "application/json", ""},
		"key":       {200, "application/json", `{"ok":true}`},
		"preflight": {200, "", ""},
	} {
		w := webOut[key]
		bodyOK := want.body == "" || w.Body == want.body || (want.ctype == "application/json" && jsonEqual(w.Body, want.body))
		if w.Status != want.status || (want.ctype != "" && w.Type != want.ctype) || !bodyOK || w.CORS != "*" {
			t.Errorf("web %s: %+v, want %d %s %q", key, w, want.status, want.ctype, want.body)
		}
	}
	if webOut["http"].Q != "a=1" || webOut["preflight"].Allow != "X-Custom" {
		t.Errorf("web raw query %q, preflight allow %q", webOut["http"].Q, webOut["preflight"].Allow)
	}
}

// jsonMatch compares got with want as JSON values; "*" in want matches
// any string (transaction ids).
func jsonMatch(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return matchValue(g, w)
}

func matchValue(g, w any) bool {
	switch w := w.(type) {
	case string:
		gs, ok := g.(string)
		return ok && (w == "*" || gs == w)
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok || len(gm) != len(w) {
			return false
		}
		for k, wv := range w {
			if !matchValue(gm[k], wv) {
				return false
			}
		}
		return true
	case []any:
		ga, ok := g.([]any)
		if !ok || len(ga) != len(w) {
			return false
		}
		for i := range w {
			if !matchValue(ga[i], w[i]) {
				return false
			}
		}
		return true
	}
	return g == w
}
