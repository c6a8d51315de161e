package invoker_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

func jsAction(name, code string, logsMB int64) action {
	l := whisk.DefaultLimits()
	l.Logs = logsMB
	return action{path: "guest", name: name, kind: "nodejs:default", code: []byte(code), limits: l}
}

// TestActivations drives every activation shape through the emulated
// controller, the broker and CouchDB, and checks acks and records against
// the stock formats (openwhisk-wire.md 2.5, 4.2, 5).
func TestActivations(t *testing.T) {
	e := newEnv(t, withEngine(func(c *invoker.Config) { c.UserEvents = true }))
	ctx := ctxFor(t)
	greet := `function main(p) { console.log("computing greeting"); console.error("a warning"); return {greeting: "Hello " + p.name}; }`
	reactor := wasmtest.WATModule(t, "reactor")
	timeoutLimits := whisk.DefaultLimits()
	timeoutLimits.Timeout = 200
	type result struct {
		Value json.RawMessage   `json:"value"`
		Env   map[string]string `json:"env"`
	}
	parentTx := whisk.TransID{}
	if err := json.Unmarshal([]byte(`["Xk1c7w0mZbqY4d8fQw2L9rT5uVnE3sHa",1704067201100,true,["m2fXbLrCv0y2Wb7dP5q1yGzS8aKjT3uE",1704067201000]]`), &parentTx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		act     action
		absent  bool // no document
		req     emulator.Request
		binding string
		// maxPayload is the user's maxPayloadSize limit.
		maxPayload string
		wantAcks   string
		status     whisk.StatusCode
		result     string // exact result JSON, if set
		check      func(t *testing.T, msg *whisk.ActivationMessage, resp json.RawMessage, rec whisk.ActivationDoc)
	}{
		{name: "blocking with logs", act: jsAction("greet", greet, 10),
			req:      emulator.Request{Blocking: true, Content: json.RawMessage(`{"name":"World"}`)},
			wantAcks: "Result,Completion", result: `{"greeting":"Hello World"}`,
			check: func(t *testing.T, _ *whisk.ActivationMessage, _ json.RawMessage, rec whisk.ActivationDoc) {
				if len(rec.Logs) != 2 || !strings.HasSuffix(rec.Logs[0], " stdout: computing greeting") || !strings.HasSuffix(rec.Logs[1], " stderr: a warning") {
					t.Errorf("logs %q", rec.Logs)
				}
				if annotation(t, rec.Annotations, "initTime") == nil {
					t.Error("cold start without initTime")
				}
			}},
		{name: "blocking without logs", act: jsAction("greet0", greet, 0),
			req:      emulator.Request{Blocking: true, Content: json.RawMessage(`{"name":"World"}`)},
			wantAcks: "Combined", result: `{"greeting":"Hello World"}`,
			check: func(t *testing.T, _ *whisk.ActivationMessage, _ json.RawMessage, rec whisk.ActivationDoc) {
				if len(rec.Logs) != 0 {
					t.Errorf("logs limit 0 kept %q", rec.Logs)
				}
			}},
		{name: "non-blocking with logs", act: jsAction("greet", greet, 10),
			req: emulator.Request{Content: json.RawMessage(`{"name":"World"}`)}, wantAcks: "Completion", result: `{"greeting":"Hello World"}`},
		{name: "non-blocking without logs", act: jsAction("greet0", greet, 0),
			req: emulator.Request{Content: json.RawMessage(`{"name":"World"}`)}, wantAcks: "Completion", result: `{"greeting":"Hello World"}`},
		{name: "wasm reactor from a mem attachment", act: action{path: "guest", name: "reactor", kind: "wasm:wasip1", code: reactor, attach: "mem", binary: true},
			req: emulator.Request{Blocking: true, Content: json.RawMessage(`{"x":1}`)}, wantAcks: "Result,Completion",
			check: func(t *testing.T, msg *whisk.ActivationMessage, resp json.RawMessage, _ whisk.ActivationDoc) {
				var r result
				if err := json.Unmarshal(resp, &r); err != nil || string(r.Value) != `{"x":1}` || r.Env["__OW_ACTIVATION_ID"] != msg.ActivationID {
					t.Errorf("reactor result %s (%v)", resp, err)
				}
			}},
		{name: "wasm command from a couch attachment", act: action{path: "guest", name: "echo", kind: "wasm:wasip1", code: wasmtest.WATModule(t, "echo"), attach: "couch", binary: true},
			req: emulator.Request{Blocking: true, Content: json.RawMessage(`{"y":[1,2]}`)}, wantAcks: "Result,Completion", result: `{"y":[1,2]}`},
		{name: "application error", act: jsAction("fail", `function main() { return {error: "boom"}; }`, 10),
			req: emulator.Request{Blocking: true}, wantAcks: "Result,Completion", status: whisk.StatusApplicationError, result: `{"error":"boom"}`},
		{name: "developer error for an unsupported kind", act: action{path: "guest", name: "py", kind: "python:3", code: []byte("def main(a): return a")},
			req: emulator.Request{Blocking: true}, wantAcks: "Result,Completion", status: whisk.StatusDeveloperError,
			result: mustJSON(map[string]string{"error": invoker.UnsupportedKindMessage("python:3")})},
		{name: "developer error for a throwing action", act: jsAction("throws", `function main() { throw new Error("bad"); }`, 10),
			req: emulator.Request{Blocking: true}, wantAcks: "Result,Completion", status: whisk.StatusDeveloperError,
			result: `{"error":"An error has occurred: Error: bad"}`},
		{name: "timeout", act: action{path: "guest", name: "loop", kind: "wasm:wasip1", code: wasmtest.WATModule(t, "loop"), attach: "mem", binary: true, limits: timeoutLimits},
			req: emulator.Request{Blocking: true}, wantAcks: "Result,Completion", status: whisk.StatusDeveloperError,
			result: mustJSON(map[string]string{"error": whisk.MsgTimeout(200)}),
			check: func(t *testing.T, _ *whisk.ActivationMessage, _ json.RawMessage, rec whisk.ActivationDoc) {
				if annotation(t, rec.Annotations, "timeout") != true {
					t.Error("timeout annotation not true")
				}
			}},
		{name: "oversized result", act: jsAction("big", `function main() { return {a: "y".repeat(1100000)}; }`, 10),
			req: emulator.Request{Blocking: true}, wantAcks: "Result,Completion", status: whisk.StatusApplicationError,
			check: func(t *testing.T, _ *whisk.ActivationMessage, _ json.RawMessage, rec whisk.ActivationDoc) {
				var r struct{ Error string }
				_ = json.Unmarshal(rec.Response.Result, &r)
				if !strings.HasPrefix(r.Error, "The action produced a response that exceeded the allowed length: 1100008 > 1048576 bytes. The truncated response was: {\"a\":\"yyy") {
					t.Errorf("error %.200s", r.Error)
				}
			}},
		{name: "result too large for the ack", act: jsAction("big2", `function main() { return {a: "y".repeat(1100000)}; }`, 10),
			req: emulator.Request{Blocking: true}, maxPayload: "2 MB", wantAcks: "Result(shrunk),Completion",
			check: func(t *testing.T, _ *whisk.ActivationMessage, resp json.RawMessage, _ whisk.ActivationDoc) {
				if len(resp) != 1100008 {
					t.Errorf("recorded result of %d bytes", len(resp))
				}
			}},
		{name: "missing action, blocking", absent: true, act: action{path: "guest", name: "nothere"},
			req: emulator.Request{Blocking: true}, wantAcks: "Combined", status: whisk.StatusApplicationError,
			result: mustJSON(map[string]string{"error": whisk.MsgActionNotFound}),
			check: func(t *testing.T, _ *whisk.ActivationMessage, _ json.RawMessage, rec whisk.ActivationDoc) {
				if annotation(t, rec.Annotations, "kind") != "unknown" || annotation(t, rec.Annotations, "path") != "guest/nothere" || *rec.Duration != 0 {
					t.Errorf("fallback record %+v", rec)
				}
			}},
		{name: "missing action, non-blocking", absent: true, act: action{path: "guest", name: "nothere"},
			req: emulator.Request{}, wantAcks: "Combined(shrunk)", status: whisk.StatusApplicationError,
			result: mustJSON(map[string]string{"error": whisk.MsgActionNotFound})},
		{name: "binding, cause and a child transid", act: jsAction("echo", `function main(p) { return p; }`, 10),
			req:     emulator.Request{Blocking: true, Content: json.RawMessage(`{"payload":"x"}`), Cause: "a81e4c6b2d9f4e0a91e4c6b2d9f4e0a9", TransID: &parentTx},
			binding: "guest/mybinding", wantAcks: "Result,Completion", result: `{"payload":"x"}`,
			check: func(t *testing.T, _ *whisk.ActivationMessage, _ json.RawMessage, rec whisk.ActivationDoc) {
				if annotation(t, rec.Annotations, "binding") != "guest/mybinding" || annotation(t, rec.Annotations, "causedBy") != "sequence" || rec.Cause != "a81e4c6b2d9f4e0a91e4c6b2d9f4e0a9" {
					t.Errorf("annotations %s cause %q", mustJSON(rec.Annotations), rec.Cause)
				}
			}},
		{name: "array content", act: jsAction("echo", `function main(p) { return p; }`, 10),
			req: emulator.Request{Blocking: true, Content: json.RawMessage(`[1,"two",{"three":3}]`)}, wantAcks: "Result,Completion", result: `[1,"two",{"three":3}]`},
		{name: "init args", act: action{path: "guest", name: "reactor", kind: "wasm:wasip1", code: reactor, attach: "mem", binary: true},
			req:      emulator.Request{Blocking: true, Content: json.RawMessage(`{"a":1,"APP_MODE":"prod","n":{"k":true}}`), InitArgs: []string{"APP_MODE", "n"}},
			wantAcks: "Result,Completion",
			check: func(t *testing.T, _ *whisk.ActivationMessage, resp json.RawMessage, _ whisk.ActivationDoc) {
				var r result
				if err := json.Unmarshal(resp, &r); err != nil || string(r.Value) != `{"a":1}` || r.Env["APP_MODE"] != "prod" || r.Env["n"] != `{"k":true}` {
					t.Errorf("init args: %s (%v)", resp, err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.absent {
				e.put(ctx, tc.act)
			}
			rev := "1-stale" // the engine runs the latest document anyway
			req := tc.req
			req.User = emulator.NewUser("guest")
			req.User.Limits.MaxPayloadSize = tc.maxPayload
			msg, _, err := e.ctl.Invoke(ctx, emulator.ActionMeta{
				Name: whisk.FullyQualifiedEntityName{Path: tc.act.path, Name: tc.act.name, Version: "0.0.1", Binding: tc.binding},
				Rev:  &rev, MemoryMB: 256, TimeoutMs: 60000,
			}, req)
			if err != nil {
				t.Fatal(err)
			}
			acks, err := e.ctl.WaitCompleted(ctx, msg.ActivationID)
			if err != nil {
				t.Fatal(err)
			}
			if got := ackKinds(acks); got != tc.wantAcks {
				t.Fatalf("acks %s, want %s", got, tc.wantAcks)
			}
			wantTx := mustJSON(msg.TransID)
			var full json.RawMessage
			for _, a := range acks {
				if mustJSON(a.TransID) != wantTx {
					t.Errorf("ack transid %s, want %s byte for byte", mustJSON(a.TransID), wantTx)
				}
				if a.FreesSlot() {
					if *a.IsSystemError != (tc.status == whisk.StatusWhiskError) || a.Instance.Instance != 0 || a.Instance.UserMemory != 1024*whisk.MB {
						t.Errorf("slot-freeing ack %s", a.Raw)
					}
				}
				if act, _, err := a.ResponseActivation(); err == nil && act != nil {
					full = a.Response
					if len(act.Logs) != 0 || act.Response.StatusCode != tc.status {
						t.Errorf("acked activation %s", a.Raw)
					}
				}
			}
			rec := e.record(ctx, msg)
			if rec.ID != "guest/"+msg.ActivationID || rec.EntityType != "activation" || rec.Namespace != "guest" || rec.Name != tc.act.name ||
				rec.Subject != "guest" || rec.Response.StatusCode != tc.status || rec.Version != "0.0.1" || rec.Duration == nil || *rec.Duration != rec.End-rec.Start {
				t.Errorf("record %s", mustJSON(rec))
			}
			if tc.result != "" && string(rec.Response.Result) != tc.result {
				t.Errorf("result %.300s, want %.300s", rec.Response.Result, tc.result)
			}
			if !tc.absent {
				for _, k := range []string{"limits", "path", "kind", "timeout", "waitTime"} {
					if annotation(t, rec.Annotations, k) == nil {
						t.Errorf("annotation %s missing: %s", k, mustJSON(rec.Annotations))
					}
				}
				if p := annotation(t, rec.Annotations, "path"); p != "guest/"+tc.act.name {
					t.Errorf("path annotation %v", p)
				}
			}
			if full != nil {
				var act whisk.Activation
				_ = json.Unmarshal(full, &act)
				if mustJSON(act.Response) != mustJSON(rec.Response) {
					t.Errorf("acked response %s differs from the record's %s", mustJSON(act.Response), mustJSON(rec.Response))
				}
			}
			ev, err := e.ctl.WaitUserEvent(ctx, msg.ActivationID)
			if err != nil {
				t.Fatalf("no user event: %v", err)
			}
			var body whisk.ActivationEventBody
			if err := json.Unmarshal(ev.Body, &body); err != nil || ev.Source != "invoker0" || ev.EventType != "Activation" ||
				ev.UserID != msg.User.Namespace.UUID || body.StatusCode != int(tc.status) || body.Name != "guest/"+tc.act.name {
				t.Errorf("user event %s (%v)", mustJSON(ev), err)
			}
			if tc.check != nil {
				tc.check(t, msg, rec.Response.Result, rec)
			}
		})
	}
	if n := len(e.ctl.NoEntry()); n != 0 {
		t.Errorf("%d acks matched no activation", n)
	}
}

// TestStaleRevision: a message naming an old revision runs the latest
// document, as the stock store does.
func TestStaleRevision(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t)
	a := jsAction("versioned", `function main() { return {v: 1}; }`, 0)
	rev1 := e.put(ctx, a)
	_, acks := e.invoke(ctx, a, &rev1, emulator.Request{User: emulator.NewUser("guest"), Blocking: true})
	if r := combinedResult(t, acks); r != `{"v":1}` {
		t.Fatalf("first run %s", r)
	}
	a.code = []byte(`function main() { return {v: 2}; }`)
	rev2 := e.put(ctx, a)
	for _, rev := range []string{rev2, rev1} { // rev1 is stale once rev2 is cached
		_, acks := e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true})
		if r := combinedResult(t, acks); r != `{"v":2}` {
			t.Fatalf("revision %s ran %s, want the latest", rev, r)
		}
	}
}

func combinedResult(t *testing.T, acks []emulator.Ack) string {
	t.Helper()
	for _, a := range acks {
		if act, _, err := a.ResponseActivation(); err == nil && act != nil {
			return string(act.Response.Result)
		}
	}
	t.Fatalf("no full response in %s", ackKinds(acks))
	return ""
}
