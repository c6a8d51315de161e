package standalone

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/standalone/controller"
)

// benchStack starts a standalone for a benchmark with a wasm echo action
// (on the embedded store unless cfg says otherwise).
func benchStack(b *testing.B, cfg Config) (*Stack, *whisk.Client) {
	b.Helper()
	cfg.DataDir, cfg.APIAddr = b.TempDir(), "127.0.0.1:0"
	ctx := context.Background()
	s, err := Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(ctx) })
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.WaitReady(wctx); err != nil {
		b.Fatal(err)
	}
	wsk := wskClient(b, s.APIHost(), controller.GuestAuth)
	if _, _, err := wsk.Actions.Insert(wasmAction("echo", wasmtest.WATModule(b, "echo")), false); err != nil {
		b.Fatal(err)
	}
	return s, wsk
}

// reportP50 adds the median of the iterations' durations.
func reportP50(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
}

// pollRecord waits for an activation record, polling every millisecond.
func pollRecord(b *testing.B, wsk *whisk.Client, id string) *whisk.Activation {
	deadline := time.Now().Add(time.Minute)
	for {
		if a, _, err := wsk.Activations.Get(id); err == nil {
			return a
		}
		if time.Now().After(deadline) {
			b.Fatalf("no record for %s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkTriggerToRuleAction: a fire, until the rule's action has its
// activation record (the trigger record names it).
func BenchmarkTriggerToRuleAction(b *testing.B) {
	_, wsk := benchStack(b, Config{})
	if _, _, err := wsk.Triggers.Insert(&whisk.Trigger{Name: "T"}, false); err != nil {
		b.Fatal(err)
	}
	if _, _, err := wsk.Rules.Insert(&whisk.Rule{Name: "R", Trigger: "/_/T", Action: "/_/echo"}, false); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		t, _, err := wsk.Triggers.Fire("T", map[string]int{"n": 1})
		if err != nil {
			b.Fatal(err)
		}
		rec := pollRecord(b, wsk, t.ActivationId)
		var line struct {
			ActivationID string `json:"activationId"`
		}
		if len(rec.Logs) != 1 || json.Unmarshal([]byte(rec.Logs[0]), &line) != nil {
			b.Fatalf("trigger logs %q", rec.Logs)
		}
		pollRecord(b, wsk, line.ActivationID)
		ds = append(ds, time.Since(start))
	}
	reportP50(b, ds)
}

// BenchmarkSequenceOfThree: a blocking invoke of a sequence of three
// trivial wasm actions.
func BenchmarkSequenceOfThree(b *testing.B) {
	_, wsk := benchStack(b, Config{})
	seq := &whisk.Action{Name: "seq", Exec: &whisk.Exec{Kind: "sequence", Components: []string{"/_/echo", "/_/echo", "/_/echo"}}}
	if _, _, err := wsk.Actions.Insert(seq, false); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, _, err := wsk.Actions.Invoke("seq", map[string]int{"n": 1}, true, true); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportP50(b, ds)
}
