package invoker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// waitMetric polls /metrics until ok accepts the value of name.
func waitMetric(ctx context.Context, t *testing.T, e *env, name string, ok func(float64) bool) float64 {
	t.Helper()
	for {
		v, err := strconv.ParseFloat(metric(t, e, name), 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		if ok(v) {
			return v
		}
		if ctx.Err() != nil {
			t.Fatalf("metric %s stuck at %v", name, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noRecord fails if the activation of msg has a record.
func (e *env) noRecord(ctx context.Context, msg *whisk.ActivationMessage) {
	e.t.Helper()
	err := e.activations.Get(ctx, whisk.ActivationDocID(msg.User.Namespace.Name, msg.ActivationID)).Err()
	if kivik.HTTPStatus(err) != http.StatusNotFound {
		e.t.Errorf("activation %s: record lookup gave %v, want not found", msg.ActivationID, err)
	}
}

// TestLockedArguments: encrypted default parameters are decrypted before
// the init arguments are split off (openwhisk-wire.md 6.4). The
// ciphertexts were made by Java's crypto as the stock controller makes
// them. One that does not decrypt still gets its one ack and its record.
func TestLockedArguments(t *testing.T) {
	e := newEnv(t, withEngine(func(c *invoker.Config) {
		c.ParameterStorage = invoker.ParameterStorage{AES128: invoker.ScalaKey128, AES256: invoker.ScalaKey256}
	}))
	ctx := ctxFor(t)
	reactor := action{path: "guest", name: "reactor", kind: "wasm:wasip1", code: wasmtest.WATModule(t, "reactor"), attach: "mem", binary: true}
	e.put(ctx, reactor)
	v := invoker.JavaVectors
	content := mustJSON(map[string]any{
		"abc": v[0].Cipher, "DB_PASS": v[1].Cipher, "conn": v[3].Cipher, "list": v[4].Cipher,
		"opaque": "not-encrypted", "n": 7,
	})
	_, acks := e.invoke(ctx, reactor, nil, emulator.Request{
		User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(content), InitArgs: []string{"DB_PASS"},
		LockedArgs: map[string]string{"abc": v[0].Scheme, "DB_PASS": v[1].Scheme, "conn": v[3].Scheme, "list": v[4].Scheme, "opaque": "aes-512"},
	})
	var got struct {
		Value map[string]any    `json:"value"`
		Env   map[string]string `json:"env"`
	}
	if err := json.Unmarshal([]byte(combinedResult(t, acks)), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"abc":"abc","conn":{"port":5432,"user":"admin"},"list":[1,true,null],"n":7,"opaque":"not-encrypted"}`
	if mustJSON(got.Value) != want || got.Env["DB_PASS"] != "secret" {
		t.Fatalf("value %s env DB_PASS %q\nwant %s and \"secret\"", mustJSON(got.Value), got.Env["DB_PASS"], want)
	}

	raw, err := base64.StdEncoding.DecodeString(v[0].Cipher)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1 // the last byte of the tag
	tampered := base64.StdEncoding.EncodeToString(raw)
	bad, _, err := e.ctl.Invoke(ctx, emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "reactor"}, MemoryMB: 256, TimeoutMs: 60000},
		emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(mustJSON(map[string]string{"abc": tampered})),
			LockedArgs: map[string]string{"abc": v[0].Scheme}})
	if err != nil {
		t.Fatal(err)
	}
	waitMetric(ctx, t, e, "invoker_locked_argument_failures_total", func(n float64) bool { return n == 1 })
	// Unlike stock, which sends nothing and leaves the slot to the
	// controller's forced completion, the activation gets its one ack (a
	// whisk error) and its record.
	acks, err = e.ctl.WaitCompleted(ctx, bad.ActivationID)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 1 || acks[0].Kind() != whisk.AckCombined || !*acks[0].IsSystemError {
		t.Fatalf("acks of the undecryptable activation: %s", ackKinds(acks))
	}
	if got := combinedResult(t, acks); got != `{"error":"`+whisk.MsgAbnormalRun+`"}` {
		t.Errorf("result %s", got)
	}
	e.record(ctx, bad)
	if n := e.ctl.InFlight(); n != 0 {
		t.Errorf("%d activations still hold a controller slot", n)
	}
}

// blockedNamespacesView is the namespaceThrottlings design document that
// OpenWhisk's ansible installs in the subjects database: namespaces of
// blocked subjects, and namespaces whose limits document throttles them
// to zero.
const blockedNamespacesView = `function (doc) {
  if (doc._id.indexOf("/limits") >= 0) {
    if (doc.concurrentInvocations === 0 || doc.invocationsPerMinute === 0) {
      emit(doc._id.replace("/limits", ""), 1);
    }
  } else if (doc.subject && doc.namespaces && doc.blocked) {
    doc.namespaces.forEach(function (ns) { emit(ns.name, 1); });
  }
}`

// TestNamespaceBlacklist: a blacklisted namespace's activations get one
// shrunk Combined ack with the stock application error and no record
// (openwhisk-wire.md 4.2, checklist 13). A subjects database that is
// missing or down does not stop the invoker, which keeps the last list.
func TestNamespaceBlacklist(t *testing.T) {
	e := newEnv(t, withoutEngine())
	ctx := ctxFor(t)
	e.engOpts = []func(*invoker.Config){func(c *invoker.Config) {
		c.Couch.AuthDB = dbs.Subjects
		c.BlacklistPollInterval = 50 * time.Millisecond
		c.UserEvents = true
	}}
	e.startEngine(ctx)
	echo := jsAction("echo", `function main(p) { return p; }`, 0)
	e.put(ctx, echo)
	run := func(ns string, blocking bool) (*whisk.ActivationMessage, []emulator.Ack) {
		t.Helper()
		return e.invoke(ctx, echo, nil, emulator.Request{User: emulator.NewUser(ns), Blocking: blocking, Content: json.RawMessage(`{"ns":"` + ns + `"}`)})
	}
	runs := func(ns string) {
		t.Helper()
		msg, acks := run(ns, true)
		if r := combinedResult(t, acks); r != `{"ns":"`+ns+`"}` {
			t.Fatalf("%s: %s", ns, r)
		}
		e.record(ctx, msg)
	}
	blocked := func(ns string, blocking bool) {
		t.Helper()
		msg, acks := run(ns, blocking)
		if got := ackKinds(acks); got != "Combined(shrunk)" || *acks[0].IsSystemError {
			t.Fatalf("%s: acks %s (%s)", ns, got, acks[0].Raw)
		}
		ev, err := e.ctl.WaitUserEvent(ctx, msg.ActivationID)
		if err != nil {
			t.Fatal(err)
		}
		var body whisk.ActivationEventBody
		if err := json.Unmarshal(ev.Body, &body); err != nil || body.StatusCode != int(whisk.StatusApplicationError) || body.Name != "guest/echo" || body.Kind != "unknown" {
			t.Errorf("%s: event %s", ns, ev.Body)
		}
		// Records are written in order: once a later one is in, this one
		// would be too.
		runs("guest")
		e.noRecord(ctx, msg)
	}

	// The subjects database does not exist yet: nothing is blocked.
	waitMetric(ctx, t, e, "invoker_blacklist_errors_total", func(n float64) bool { return n >= 1 })
	runs("blockedns")

	if err := e.couch.CreateDB(ctx, dbs.Subjects); err != nil {
		t.Fatal(err)
	}
	subjects := e.couch.DB(dbs.Subjects)
	put := func(id string, doc map[string]any) {
		t.Helper()
		var cur struct {
			Rev string `json:"_rev"`
		}
		if err := subjects.Get(ctx, id).ScanDoc(&cur); err == nil {
			doc["_rev"] = cur.Rev
		}
		if _, err := subjects.Put(ctx, id, doc); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	put("_design/namespaceThrottlings", map[string]any{"language": "javascript",
		"views": map[string]any{"blockedNamespaces": map[string]any{"map": blockedNamespacesView, "reduce": "_sum"}}})
	subject := func(name, ns string, isBlocked bool) {
		put(name, map[string]any{"subject": name, "blocked": isBlocked,
			"namespaces": []any{map[string]any{"name": ns, "uuid": "5c9b2f7e-3a1d-4c8b-9b2f-7e3a1d4c8b9b", "key": "k"}}})
	}
	subject("guest", "guest", false)
	subject("blockeduser", "blockedns", true)
	put("throttledns/limits", map[string]any{"concurrentInvocations": 0})
	put("busyns/limits", map[string]any{"invocationsPerMinute": 60})
	waitMetric(ctx, t, e, "invoker_blacklisted_namespaces", func(n float64) bool { return n == 2 })
	blocked("blockedns", true)
	blocked("throttledns", false)
	runs("busyns")

	// Unblocked subjects run again at the next refresh.
	subject("blockeduser", "blockedns", false)
	put("throttledns/limits", map[string]any{"concurrentInvocations": 5})
	waitMetric(ctx, t, e, "invoker_blacklisted_namespaces", func(n float64) bool { return n == 0 })
	runs("blockedns")
	runs("throttledns")

	// CouchDB goes away: refreshes fail and the last list stays.
	subject("blockeduser", "blockedns", true)
	waitMetric(ctx, t, e, "invoker_blacklisted_namespaces", func(n float64) bool { return n == 1 })
	failed := waitMetric(ctx, t, e, "invoker_blacklist_errors_total", func(float64) bool { return true })
	e.pouch.Stop()
	waitMetric(ctx, t, e, "invoker_blacklist_errors_total", func(n float64) bool { return n > failed })
	msg, acks := run("blockedns", true)
	if got := ackKinds(acks); got != "Combined(shrunk)" {
		t.Fatalf("blocked namespace while CouchDB is down: acks %s (%s)", got, msg.ActivationID)
	}
}

// TestNamespaceLimits: an action whose limits the invoking namespace does
// not allow gets the stock fallback with the ActionLimitsException text,
// acked and recorded (openwhisk-wire.md 4.2).
func TestNamespaceLimits(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t)
	i64 := func(v int64) *int64 { return &v }
	limits := func(f func(*whisk.Limits)) whisk.Limits { l := whisk.DefaultLimits(); l.Logs = 0; f(&l); return l }
	for _, tc := range []struct {
		name     string
		limits   whisk.Limits
		user     whisk.UserLimits
		blocking bool
		wantAcks string
		result   string
	}{
		{name: "timeout above the namespace max", limits: limits(func(l *whisk.Limits) { l.Timeout = 300000 }), user: whisk.UserLimits{MaxActionTimeout: i64(60000)},
			blocking: true, wantAcks: "Combined",
			result: "requirement failed: duration 300000 milliseconds exceeds allowed threshold of 60000 milliseconds"},
		{name: "memory above the system max, non-blocking", limits: limits(func(l *whisk.Limits) { l.Memory = 1024 }),
			wantAcks: "Combined(shrunk)", result: "requirement failed: memory size 1024 MB exceeds allowed threshold of 512 MB"},
		{name: "concurrency above the system max", limits: limits(func(l *whisk.Limits) { l.Concurrency = 4 }),
			blocking: true, wantAcks: "Combined", result: "requirement failed: concurrency 4 exceeds allowed threshold of 1"},
		{name: "logs below the namespace min", limits: limits(func(*whisk.Limits) {}), user: whisk.UserLimits{MinActionLogs: i64(1)},
			blocking: true, wantAcks: "Combined", result: "requirement failed: log size 0 MB below allowed threshold of 1 MB"},
		{name: "within the namespace limits", limits: limits(func(l *whisk.Limits) { l.Memory = 384 }), user: whisk.UserLimits{MinActionMemory: i64(384), MaxActionTimeout: i64(60000)},
			blocking: true, wantAcks: "Combined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := jsAction("limited", `function main() { return {ran: true}; }`, 0)
			a.limits = tc.limits
			e.put(ctx, a)
			user := emulator.NewUser("guest")
			user.Limits = tc.user
			msg, acks := e.invoke(ctx, a, nil, emulator.Request{User: user, Blocking: tc.blocking})
			if got := ackKinds(acks); got != tc.wantAcks || *acks[0].IsSystemError {
				t.Fatalf("acks %s (%s), want %s", got, acks[0].Raw, tc.wantAcks)
			}
			rec := e.record(ctx, msg)
			if tc.result == "" {
				if string(rec.Response.Result) != `{"ran":true}` {
					t.Fatalf("result %s", rec.Response.Result)
				}
				return
			}
			if want := mustJSON(map[string]string{"error": tc.result}); rec.Response.StatusCode != whisk.StatusApplicationError || string(rec.Response.Result) != want {
				t.Errorf("response %s, want status 1 and %s", mustJSON(rec.Response), want)
			}
			if annotation(t, rec.Annotations, "kind") != "unknown" || annotation(t, rec.Annotations, "path") != "guest/limited" || *rec.Duration != 0 {
				t.Errorf("fallback record %s", mustJSON(rec))
			}
		})
	}
}
