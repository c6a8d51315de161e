package invoker_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// TestAckToMissingController: activations naming a controller that has no
// completed{C} topic, more of them than the invoker takes at once, come
// before normal ones. Each of their acks is dropped after the bounded time
// with a count, their records are still written, their slots are freed, and
// every normal activation after them gets its ack and record. The invoker
// stays healthy: a missing topic is its controller's absence, not the
// invoker's fault.
func TestAckToMissingController(t *testing.T) {
	e := newEnv(t, withEngine(func(c *invoker.Config) { c.AckTimeout = time.Second }))
	ctx := ctxFor(t)
	a := jsAction("echo", `function main(p) { return p; }`, 0)
	rev := e.put(ctx, a)
	meta := emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: a.path, Name: a.name, Version: "0.0.1"}, Rev: &rev, MemoryMB: 256, TimeoutMs: 60000}
	cfg := e.eng.Config()
	orphans := cfg.MaxPeek() + 2
	var sent []*whisk.ActivationMessage
	for i := range orphans {
		msg := e.ctl.Message(meta, emulator.Request{User: emulator.NewUser("guest"), Blocking: i%2 == 0, Content: json.RawMessage(`{"orphan":true}`)})
		msg.RootControllerIndex = whisk.NewControllerInstanceID("9")
		if err := e.ctl.Send(ctx, 0, msg); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, msg)
	}
	for i := range 5 {
		msg, acks := e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"i":` + mustJSON(i) + `}`)})
		if r := combinedResult(t, acks); r != `{"i":`+mustJSON(i)+`}` {
			t.Fatalf("activation %d after the orphans: %s", i, r)
		}
		if doc := e.record(ctx, msg); doc.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("record %d: %+v", i, doc.Response)
		}
	}
	for _, msg := range sent {
		if doc := e.record(ctx, msg); string(doc.Response.Result) != `{"orphan":true}` {
			t.Fatalf("orphan record: %s", doc.Response.Result)
		}
	}
	// With no logs collected each activation gets one ack.
	want := float64(orphans)
	for metricSum(t, e, `invoker_acks_dropped_total{kind="`) != want {
		if ctx.Err() != nil {
			t.Fatalf("%v acks dropped, want %v", metricSum(t, e, `invoker_acks_dropped_total{kind="`), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := metricSum(t, e, `invoker_acks_dropped_total{kind="Combined",reason="no_topic"}`) +
		metricSum(t, e, `invoker_acks_dropped_total{kind="Completion",reason="no_topic"}`); n != want {
		t.Errorf("%v acks dropped for the missing topic, want %v", n, want)
	}
	if h := e.ctl.Health(); len(h) != 1 || h[0].Status != emulator.Healthy {
		t.Fatalf("invoker health %+v after acks to a missing controller, want healthy", h)
	}
}

// TestAcksBlockedStopPings: while the broker refuses every ack (the
// completed topic exists, but produces to it fail), the invoker drops the
// acks after the bounded time, withholds its pings and goes offline at the
// controller; once acks get through again it pings, passes the
// controller's test action and is healthy.
func TestAcksBlockedStopPings(t *testing.T) {
	e := newEnv(t, withEngine(func(c *invoker.Config) { c.AckTimeout = time.Second }))
	ctx := ctxFor(t)
	var blocked atomic.Bool
	e.kafka.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		if !blocked.Load() || len(pr.Topics) != 1 || pr.Topics[0].Topic != whisk.CompletedTopic("", "0") {
			return nil, nil, false
		}
		e.kafka.KeepControl()
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	a := jsAction("echo", `function main(p) { return p; }`, 0)
	rev := e.put(ctx, a)
	meta := emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: a.path, Name: a.name, Version: "0.0.1"}, Rev: &rev, MemoryMB: 256, TimeoutMs: 60000}
	blocked.Store(true)
	msg := e.ctl.Message(meta, emulator.Request{User: emulator.NewUser("guest"), Content: json.RawMessage(`{"blocked":true}`)})
	if err := e.ctl.Send(ctx, 0, msg); err != nil {
		t.Fatal(err)
	}
	if doc := e.record(ctx, msg); string(doc.Response.Result) != `{"blocked":true}` {
		t.Fatalf("record while acks are blocked: %s", doc.Response.Result)
	}
	waitMetric(ctx, t, e, "invoker_pings_withheld_total", func(v float64) bool { return v > 0 })
	if err := e.ctl.WaitState(ctx, 0, emulator.Offline); err != nil {
		t.Fatalf("invoker never went offline while its acks were refused: %v", err)
	}
	blocked.Store(false)
	if err := e.ctl.WaitState(ctx, 0, emulator.Healthy); err != nil {
		t.Fatalf("invoker not healthy once acks get through: %v", err)
	}
	_, acks := e.invoke(ctx, a, &rev, emulator.Request{User: emulator.NewUser("guest"), Blocking: true, Content: json.RawMessage(`{"after":true}`)})
	if r := combinedResult(t, acks); r != `{"after":true}` {
		t.Fatalf("after acks flow again: %s", r)
	}
}
