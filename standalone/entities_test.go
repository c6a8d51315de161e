package standalone

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/controller"
)

// rest sends one JSON request to the API as the guest.
func rest(t *testing.T, s *Stack, method, path, body string) (int, string) {
	t.Helper()
	return restAs(t, s, controller.GuestAuth, method, path, body)
}

// restAs sends one JSON request to the API with auth ("uuid:key").
func restAs(t *testing.T, s *Stack, auth, method, path, body string) (int, string) {
	t.Helper()
	resp, b := testenv.Request(t, method, s.APIHost()+path, auth, body)
	return resp.StatusCode, string(b)
}

// waitActivation polls for an activation record the way a user does with
// wsk activation get.
func waitActivation(t *testing.T, wsk *whisk.Client, id string) *whisk.Activation {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, _, err := wsk.Activations.Get(id)
		if err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("activation %s: no record (%v)", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jsonEqual compares two JSON texts as values (key order aside).
func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func kv(pairs ...string) whisk.KeyValueArr {
	var out whisk.KeyValueArr
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, whisk.KeyValue{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

// TestPackagesTriggersRules drives packages, bindings, triggers and rules
// through openwhisk-client-go and checks what each activation recorded.
func TestPackagesTriggersRules(t *testing.T) {
	s := startStack(t, Config{})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	if _, _, err := wsk.Packages.Insert(&whisk.Package{Name: "lib", Parameters: kv("a", "pkg", "b", "pkg", "c", "pkg")}, false); err != nil {
		t.Fatal(err)
	}
	show := jsAction("lib/show", "function main(p) { delete p.__ow_headers; return p; }")
	show.Parameters = kv("c", "action")
	if _, _, err := wsk.Actions.Insert(show, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsk.Packages.Insert(&whisk.BindingPackage{Name: "mine", Binding: whisk.Binding{Namespace: "_", Name: "lib"}, Parameters: kv("b", "binding", "c", "binding")}, false); err != nil {
		t.Fatal(err)
	}

	t.Run("parameters merge package < binding < action < invocation", func(t *testing.T) {
		for _, c := range []struct{ path, body, want string }{
			{"mine/show", `{"d":"inv"}`, `{"a":"pkg","b":"binding","c":"action","d":"inv"}`},
			{"mine/show", `{"c":"inv"}`, `{"a":"pkg","b":"binding","c":"inv"}`},
			{"lib/show", `{}`, `{"a":"pkg","b":"pkg","c":"action"}`},
		} {
			code, body := rest(t, s, "POST", "/api/v1/namespaces/_/actions/"+c.path+"?blocking=true&result=true", c.body)
			if code != 200 || !jsonEqual(body, c.want) {
				t.Fatalf("%s %s: %d %s, want %s", c.path, c.body, code, body, c.want)
			}
		}
	})
	t.Run("package get, list and errors", func(t *testing.T) {
		p, _, err := wsk.Packages.Get("mine")
		if err != nil || len(p.Actions) != 1 || p.Actions[0].Name != "show" || p.Binding == nil || p.Binding.Name != "lib" {
			t.Fatalf("binding get: %+v %v", p, err)
		}
		list, _, err := wsk.Packages.List(&whisk.PackageListOptions{})
		if err != nil || len(list) != 2 {
			t.Fatalf("package list: %+v %v", list, err)
		}
		for _, c := range []struct {
			method, path, body string
			code               int
			msg                string
		}{
			{"PUT", "/api/v1/namespaces/_/packages/bb", `{"binding":{"namespace":"guest","name":"mine"}}`, 400, "Cannot bind to another package binding."},
			{"PUT", "/api/v1/namespaces/_/packages/bx", `{"binding":{"namespace":"guest","name":"nope"}}`, 400, "Binding references a package that does not exist."},
			{"PUT", "/api/v1/namespaces/_/packages/lib", `{}`, 409, "resource already exists"},
			{"PUT", "/api/v1/namespaces/_/packages/default", `{}`, 400, "Package name 'default' is reserved."},
			{"PUT", "/api/v1/namespaces/_/actions/mine/x", `{"exec":{"kind":"nodejs:default","code":"function main(){return {}}"}}`, 400, "Operation not permitted on package binding."},
			{"DELETE", "/api/v1/namespaces/_/packages/lib", ``, 409, "Package not empty (contains 1 entity). Set force param or delete package contents."},
			{"GET", "/api/v1/namespaces/_/packages/show", ``, 404, "The requested resource does not exist."},
			{"GET", "/api/v1/namespaces/_/triggers/lib", ``, 409, "Resource by this name exists but is not in this collection."},
			{"PUT", "/api/v1/namespaces/_/packages/bad", `{"publish":`, 400, "The request content was malformed"},
		} {
			code, body := rest(t, s, c.method, c.path, c.body)
			if code != c.code || !strings.Contains(body, c.msg) {
				t.Fatalf("%s %s: %d %s, want %d %q", c.method, c.path, code, body, c.code, c.msg)
			}
		}
	})

	if _, _, err := wsk.Triggers.Insert(&whisk.Trigger{Name: "T", Parameters: kv("t", "trig")}, false); err != nil {
		t.Fatal(err)
	}
	t.Run("fire without a rule is 204", func(t *testing.T) {
		if code, body := rest(t, s, "POST", "/api/v1/namespaces/_/triggers/T", `{"x":1}`); code != http.StatusNoContent {
			t.Fatalf("%d %s", code, body)
		}
	})
	if _, _, err := wsk.Rules.Insert(&whisk.Rule{Name: "R", Trigger: "/_/T", Action: "/_/lib/show"}, false); err != nil {
		t.Fatal(err)
	}
	t.Run("fire runs the rule's action and records both", func(t *testing.T) {
		code, body := rest(t, s, "POST", "/api/v1/namespaces/_/triggers/T", `{"x":1}`)
		var fired struct{ ActivationID string }
		if err := json.Unmarshal([]byte(body), &fired); code != http.StatusAccepted || err != nil || len(fired.ActivationID) != 32 {
			t.Fatalf("%d %s", code, body)
		}
		rec := waitActivation(t, wsk, fired.ActivationID)
		if rec.Name != "T" || len(rec.Logs) != 1 || rec.Response.Status != "success" {
			t.Fatalf("trigger record: %+v", rec)
		}
		var line struct {
			Rule, Action string
			ActivationID string `json:"activationId"`
			Success      bool
			StatusCode   int
		}
		if err := json.Unmarshal([]byte(rec.Logs[0]), &line); err != nil || line.Rule != "guest/R" || line.Action != "guest/lib/show" || !line.Success || line.StatusCode != 0 {
			t.Fatalf("trigger logs: %q %v", rec.Logs, err)
		}
		act := waitActivation(t, wsk, line.ActivationID)
		res, _ := json.Marshal(act.Response.Result)
		if act.Name != "show" || !jsonEqual(string(res), `{"a":"pkg","b":"pkg","c":"action","t":"trig","x":1}`) {
			t.Fatalf("rule action: %s %s", act.Name, res)
		}
	})
	t.Run("disabled rule: 204; enabled again: 202", func(t *testing.T) {
		if _, _, err := wsk.Rules.SetState("R", "inactive"); err != nil {
			t.Fatal(err)
		}
		if r, _, err := wsk.Rules.Get("R"); err != nil || r.Status != "inactive" {
			t.Fatalf("rule get: %+v %v", r, err)
		}
		if code, body := rest(t, s, "POST", "/api/v1/namespaces/_/triggers/T", `{}`); code != http.StatusNoContent {
			t.Fatalf("%d %s", code, body)
		}
		if _, _, err := wsk.Rules.SetState("R", "active"); err != nil {
			t.Fatal(err)
		}
		if code, body := rest(t, s, "POST", "/api/v1/namespaces/_/triggers/T", `{}`); code != http.StatusAccepted {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("rule errors", func(t *testing.T) {
		for _, c := range []struct {
			method, path, body string
			code               int
			msg                string
		}{
			{"PUT", "/api/v1/namespaces/_/rules/R2", `{"trigger":"/_/nope","action":"/_/lib/show"}`, 400, "trigger /guest/nope does not exist"},
			{"PUT", "/api/v1/namespaces/_/rules/R2", `{"trigger":"/_/T","action":"/_/nope"}`, 400, "action /guest/nope does not exist"},
			{"PUT", "/api/v1/namespaces/_/rules/R2", `{"trigger":"/_/T"}`, 400, "rule requires a valid trigger and a valid action"},
			{"POST", "/api/v1/namespaces/_/rules/R", `{"status":"on"}`, 400, "'on' is not a recognized rule state"},
			{"GET", "/api/v1/namespaces/_/rules/nope", ``, 404, "The requested resource does not exist."},
		} {
			code, body := rest(t, s, c.method, c.path, c.body)
			if code != c.code || !strings.Contains(body, c.msg) {
				t.Fatalf("%s %s: %d %s, want %d %q", c.method, c.path, code, body, c.code, c.msg)
			}
		}
	})
	t.Run("namespace get lists every collection", func(t *testing.T) {
		code, body := rest(t, s, "GET", "/api/v1/namespaces/_", "")
		var ns map[string][]map[string]any
		if err := json.Unmarshal([]byte(body), &ns); code != 200 || err != nil || len(ns["packages"]) != 2 || len(ns["triggers"]) != 1 || len(ns["rules"]) != 1 || len(ns["actions"]) != 1 {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("delete rule, trigger, then the package with force", func(t *testing.T) {
		if _, err := wsk.Rules.Delete("R"); err != nil {
			t.Fatal(err)
		}
		if tr, _, err := wsk.Triggers.Get("T"); err != nil || len(tr.Rules) != 0 {
			t.Fatalf("trigger after rule delete: %+v %v", tr, err)
		}
		if _, _, err := wsk.Triggers.Delete("T"); err != nil {
			t.Fatal(err)
		}
		if code, body := rest(t, s, "DELETE", "/api/v1/namespaces/_/packages/lib?force=true", ""); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		if _, resp, err := wsk.Actions.Get("lib/show", false); err == nil || resp.StatusCode != 404 {
			t.Fatalf("packaged action survived a forced delete: %v", err)
		}
	})
}
