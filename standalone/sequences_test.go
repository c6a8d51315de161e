package standalone

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/standalone/controller"
)

func sequenceAction(name string, components ...string) *whisk.Action {
	return &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "sequence", Components: components}}
}

// TestSequences runs sequences whose components are real activations
// through Kafka and the invoker, and checks the records: the sequence's
// logs list the component activations, each component names the sequence
// as its cause, and a failing component ends the sequence with its error.
func TestSequences(t *testing.T) {
	s := startStack(t, Config{})
	wsk := wskClient(t, s.APIHost(), controller.GuestAuth)
	for _, a := range []*whisk.Action{
		jsAction("inc", "function main(p) { return {n: (p.n || 0) + 1}; }"),
		jsAction("fail", `function main(p) { return {error: "boom at " + p.n}; }`),
		sequenceAction("ok", "/_/inc", "inc", "/guest/inc"),
		sequenceAction("bad", "inc", "fail", "inc"),
	} {
		if _, _, err := wsk.Actions.Insert(a, false); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
	}
	invoke := func(t *testing.T, name string) (int, *whisk.Activation) {
		t.Helper()
		code, body := rest(t, s, "POST", "/api/v1/namespaces/_/actions/"+name+"?blocking=true", `{"n":1}`)
		var a whisk.Activation
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%d %s", code, body)
		}
		return code, &a
	}
	checkComponents := func(t *testing.T, seq *whisk.Activation, want int) {
		t.Helper()
		if len(seq.Logs) != want {
			t.Fatalf("sequence logs %q, want %d component ids", seq.Logs, want)
		}
		for _, id := range seq.Logs {
			c := waitActivation(t, wsk, id)
			if c.Cause != seq.ActivationID {
				t.Fatalf("component %s (%s): cause %q, want %s", id, c.Name, c.Cause, seq.ActivationID)
			}
		}
	}
	t.Run("three steps", func(t *testing.T) {
		code, seq := invoke(t, "ok")
		res, _ := json.Marshal(seq.Response.Result)
		if code != 200 || string(res) != `{"n":4}` || seq.Response.Status != "success" {
			t.Fatalf("%d %s %+v", code, res, seq)
		}
		checkComponents(t, seq, 3)
		rec := waitActivation(t, wsk, seq.ActivationID)
		if kind, _ := rec.Annotations.GetValue("kind").(string); kind != "sequence" || rec.Annotations.GetValue("topmost") != true {
			t.Fatalf("sequence record annotations %v", rec.Annotations)
		}
	})
	t.Run("a failing component ends the sequence with its error", func(t *testing.T) {
		code, seq := invoke(t, "bad")
		res, _ := json.Marshal(seq.Response.Result)
		if code != 502 || string(res) != `{"error":"boom at 2"}` || seq.Response.Status != "application error" {
			t.Fatalf("%d %s %+v", code, res, seq)
		}
		checkComponents(t, seq, 2)
	})
	t.Run("errors at create", func(t *testing.T) {
		long := `"inc"` + strings.Repeat(`,"inc"`, 50)
		for _, c := range []struct {
			body, msg string
		}{
			{`{"exec":{"kind":"sequence","components":["/_/inc","/_/ok"]}}`, "Sequence may not refer to itself."},
			{`{"exec":{"kind":"sequence","components":["/_/inc","/_/nope"]}}`, "Sequence component does not exist."},
			{`{"exec":{"kind":"sequence","components":[` + long + `]}}`, "Too many actions in the sequence."},
			{`{"exec":{"kind":"sequence","components":[]}}`, "No component specified for the sequence."},
		} {
			// ok updated to contain itself, directly or through "ok2".
			code, body := rest(t, s, "PUT", "/api/v1/namespaces/_/actions/ok?overwrite=true", c.body)
			if code != 400 || !strings.Contains(body, c.msg) {
				t.Fatalf("%s: %d %s, want %q", c.body, code, body, c.msg)
			}
		}
		if code, body := rest(t, s, "PUT", "/api/v1/namespaces/_/actions/outer", `{"exec":{"kind":"sequence","components":["ok"]}}`); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		code, body := rest(t, s, "PUT", "/api/v1/namespaces/_/actions/ok?overwrite=true", `{"exec":{"kind":"sequence","components":["inc","outer"]}}`)
		if code != 400 || !strings.Contains(body, "Sequence may not refer to itself.") {
			t.Fatalf("a cycle through another sequence: %d %s", code, body)
		}
		// A sequence in a sequence: the outer record lists the inner
		// sequence's activation, whose cause is the outer one.
		code, outer := invoke(t, "outer")
		if res, _ := json.Marshal(outer.Response.Result); code != 200 || string(res) != `{"n":4}` {
			t.Fatalf("nested: %d %s", code, res)
		}
		checkComponents(t, outer, 1)
	})
}
