package invoker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// Benchmarks run end to end through kfake: the emulated controller
// publishes the ActivationMessage and the clock stops when it has decoded
// the slot-freeing ack. The action is a trivial wasm reactor (it answers
// its request), 128 MB, logs off.

func benchEnv(b *testing.B) (*env, action, string) {
	e := newEnv(b, withEngine(func(c *invoker.Config) { c.UserMemory = 8192 * whisk.MB }))
	l := whisk.DefaultLimits()
	l.Memory, l.Logs = 128, 0
	a := action{path: "guest", name: "reactor", kind: "wasm:wasip1", code: wasmtest.WATModule(b, "reactor"), attach: "mem", binary: true, limits: l}
	return e, a, e.put(ctxFor(b), a)
}

func metaOf(a action, rev string) emulator.ActionMeta {
	return emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: a.path, Name: a.name, Version: "0.0.1"}, Rev: &rev,
		MemoryMB: int(a.limits.Memory), TimeoutMs: a.limits.Timeout, Concurrency: 1}
}

// BenchmarkWarmActivation: one blocking activation at a time, after a
// warm-up; p50 and p99 from publish to slot-freeing ack.
func BenchmarkWarmActivation(b *testing.B) {
	e, a, rev := benchEnv(b)
	warmLatency(b, e, a, rev)
}

// warmLatency invokes a, blocking, 20 times to warm it, then b.N times
// one at a time, and reports the p50 and p99 from publish to slot-freeing
// ack. Every run must succeed.
func warmLatency(b *testing.B, e *env, a action, rev string) {
	ctx := ctxFor(b)
	user := emulator.NewUser("guest")
	for range 20 {
		e.invoke(ctx, a, &rev, emulator.Request{User: user, Blocking: true})
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		msg, _, err := e.ctl.Invoke(ctx, metaOf(a, rev), emulator.Request{User: user, Blocking: true, Content: json.RawMessage(`{"n":1}`)})
		if err != nil {
			b.Fatal(err)
		}
		acks, err := e.ctl.WaitCompleted(ctx, msg.ActivationID)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if act, _, _ := acks[0].ResponseActivation(); act == nil || act.Response.StatusCode != whisk.StatusSuccess {
			b.Fatalf("run failed: %s", acks[0].Raw)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkSaturation: b.N non-blocking activations published at once;
// activations per second until the last slot-freeing ack. "records" writes
// every activation record to pouchdb-server, which shares the machine's
// cores; "no-records" is the same with the user limit storeActivations
// false, which isolates the invoker and the broker.
func BenchmarkSaturation(b *testing.B) {
	for _, store := range []bool{true, false} {
		name := "records"
		if !store {
			name = "no-records"
		}
		b.Run(name, func(b *testing.B) {
			e, a, rev := benchEnv(b)
			ctx := ctxFor(b)
			user := emulator.NewUser("guest")
			e.invoke(ctx, a, &rev, emulator.Request{User: user, Blocking: true})
			user.Limits.StoreActivations = &store
			n := max(b.N, 500)
			msgs := make([]*whisk.ActivationMessage, n)
			for i := range msgs {
				msgs[i] = e.ctl.Message(metaOf(a, rev), emulator.Request{User: user, Content: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
			}
			b.ResetTimer()
			start := time.Now()
			if err := e.ctl.SendAll(ctx, 0, msgs); err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				if _, err := e.ctl.WaitCompleted(ctx, m.ActivationID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "act/s")
		})
	}
}

// BenchmarkColdActivation: the first activation of an action the invoker
// has never seen: document fetch, module compile, instantiate, run.
func BenchmarkColdActivation(b *testing.B) {
	e, a, _ := benchEnv(b)
	ctx := ctxFor(b)
	user := emulator.NewUser("guest")
	code := wasmtest.WATModule(b, "reactor")
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		b.StopTimer()
		c := a
		c.name = fmt.Sprintf("cold%d", i)
		// A distinct module each time, so that no compile cache helps.
		c.code = append(slices.Clip(code), 0, 12, 10, 'f', 'a', 'a', 's', 'e', 'd', 'g', 'e', '-', 'x', byte(i)) // a custom section
		rev := e.put(ctx, c)
		b.StartTimer()
		start := time.Now()
		msg, _, err := e.ctl.Invoke(ctx, metaOf(c, rev), emulator.Request{User: user, Blocking: true})
		if err != nil {
			b.Fatal(err)
		}
		acks, err := e.ctl.WaitCompleted(ctx, msg.ActivationID)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if act, _, _ := acks[0].ResponseActivation(); act == nil || act.Response.StatusCode != whisk.StatusSuccess {
			b.Fatalf("cold run failed: %s", acks[0].Raw)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// byName runs each action on the runner registered under its name, others
// (the controller's health action) on the one under "".
type byName map[string]invoker.Runner

var _ invoker.Runner = byName(nil)

func (m byName) Run(ctx context.Context, a *activation.Action, inv activation.Invocation) activation.Result {
	if r, ok := m[a.Name.Name]; ok {
		return r.Run(ctx, a, inv)
	}
	return m[""].Run(ctx, a, inv)
}

// BenchmarkNodejsWarmActivation: the p50 of a warm nodejs activation end to
// end, as BenchmarkWarmActivation, with a fresh VM per activation (an idle
// budget below one action's memory: every VM is dropped after its run,
// only the compiled code is kept, which is how the runner worked before
// VM reuse) and with the VM reused.
func BenchmarkNodejsWarmActivation(b *testing.B) {
	e := newEnv(b, withEngine(func(c *invoker.Config) {
		c.UserMemory = 8192 * whisk.MB
		c.Runner = byName{
			"fresh":  &invoker.JSRunner{IdleMemory: 1},
			"reused": &invoker.JSRunner{},
			"":       &invoker.JSRunner{},
		}
	}))
	ctx := ctxFor(b)
	l := whisk.DefaultLimits()
	l.Memory, l.Logs = 128, 0
	code := []byte(`const { URL } = require('url');
		const greeting = 'Hello';
		async function main(p) { return { text: greeting + ' ' + (p.n || 'world'), path: new URL('http://h/' + p.n).pathname }; }`)
	for _, name := range []string{"fresh", "reused"} {
		a := action{path: "guest", name: name, kind: "nodejs:20", code: code, limits: l}
		rev := e.put(ctx, a)
		b.Run(name, func(b *testing.B) { warmLatency(b, e, a, rev) })
	}
}

// BenchmarkNodejsRunner: the runner alone (no broker, no store), a fresh VM
// per activation against a reused one.
func BenchmarkNodejsRunner(b *testing.B) {
	l := whisk.DefaultLimits()
	l.Memory = 128
	for _, v := range []struct {
		name string
		r    *invoker.JSRunner
	}{{"fresh", &invoker.JSRunner{IdleMemory: 1}}, {"reused", &invoker.JSRunner{}}} {
		b.Run(v.name, func(b *testing.B) {
			a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "bench"}, Kind: "nodejs:20", Limits: l,
				Code: activation.Code{Inline: []byte(`function main(p) { return {n: p.n}; }`), Digest: "1-a"}}
			inv := activation.Invocation{Value: json.RawMessage(`{"n":1}`)}
			for b.Loop() {
				if res := v.r.Run(context.Background(), a, inv); res.Response.StatusCode != whisk.StatusSuccess {
					b.Fatalf("%s", res.Response.Result)
				}
			}
		})
	}
}
