package controllerplugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// percentile of sorted durations, in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))]) / float64(time.Millisecond)
}

// BenchmarkEdgeVersusLocal measures an activation from the controller's
// publish to its slot-freeing ack, on a regular invoker (id 0, local wasm
// executor) and on a virtual invoker (id 1, remote run on an edge node),
// alternating in the same run. Reported: the medians and p99s in ms and
// the ratio of the medians.
func BenchmarkEdgeVersusLocal(b *testing.B) {
	c := startCluster(b, clusterSpec{local: true, virtual: []int{1}, capacityMB: 512, edgesMB: []int{512}})
	c.waitState(b, emulator.Healthy, 0, 1)
	c.waitBacked(b, c.gw.Invokers()[0], 512)
	cid := addModule(b, c.sched, wasmtest.WATModule(b, "echo"))
	c.b.putAction(b, "echo", cid, 128)
	ctx := context.Background()
	meta := emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "echo", Version: "0.0.1"}, MemoryMB: 128, TimeoutMs: 30000}
	run := func(id int) time.Duration {
		msg := c.ctl.Message(meta, emulator.Request{User: c.user, Content: json.RawMessage(`{"hello":"edge"}`), Blocking: true})
		start := time.Now()
		if err := c.ctl.Send(ctx, id, msg); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		acks, err := c.ctl.WaitCompleted(wctx, msg.ActivationID)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range acks {
			if a.FreesSlot() {
				return a.Received.Sub(start)
			}
		}
		b.Fatal("no slot-freeing ack")
		return 0
	}
	// Warm up: code fetched and compiled on both sides.
	for range 3 {
		run(0)
		run(1)
	}
	var local, edge []time.Duration
	b.ResetTimer()
	for range b.N {
		local = append(local, run(0))
		edge = append(edge, run(1))
	}
	b.StopTimer()
	lm, em := percentile(local, 0.5), percentile(edge, 0.5)
	b.ReportMetric(lm, "local-p50-ms")
	b.ReportMetric(percentile(local, 0.99), "local-p99-ms")
	b.ReportMetric(em, "edge-p50-ms")
	b.ReportMetric(percentile(edge, 0.99), "edge-p99-ms")
	b.ReportMetric(em/lm, "edge/local")
}

// BenchmarkEdgeChurn is the churn figure: a steady load of 300 ms
// activations on two virtual invokers while one claimed edge node is
// killed every "minute", five times. A minute is compressed to 12 s unless
// FAASEDGE_CHURN_MINUTE sets it (e.g. 1m for the real-time run). It runs
// once whatever b.N is and reports what the lead asked for: activations
// sent, succeeded, failed, lost (no slot-freeing ack or more than one),
// rejected by the controller (no usable invoker), re-runs, and the time
// each virtual invoker took to back its capacity again.
func BenchmarkEdgeChurn(b *testing.B) {
	minute := 12 * time.Second
	if v := os.Getenv("FAASEDGE_CHURN_MINUTE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		minute = d
	}
	const minutes, ratePerSec = 5, 8
	c := startCluster(b, clusterSpec{virtual: []int{0, 1}, capacityMB: 512, edgesMB: []int{512, 512, 512, 512, 512, 512, 512, 512}})
	c.waitReady(b, 512, 0, 1)
	invs := c.gw.Invokers()
	cid := addModule(b, c.sched, sleepModule(b))
	c.b.putAction(b, "sleep", cid, 128)
	meta := emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "sleep", Version: "0.0.1"}, MemoryMB: 128, TimeoutMs: 30000}
	ctx := context.Background()
	b.ResetTimer()

	var (
		mu       sync.Mutex
		sent     []string
		rejected atomic.Int64
	)
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		t := time.NewTicker(time.Second / ratePerSec)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			msg, _, err := c.ctl.Invoke(ctx, meta, emulator.Request{User: c.user, Content: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), Blocking: true})
			if err != nil {
				rejected.Add(1)
				continue
			}
			mu.Lock()
			sent = append(sent, msg.ActivationID)
			mu.Unlock()
		}
	}()

	var reback []time.Duration
	killed := map[*node]bool{}
	for m := range minutes {
		time.Sleep(minute / 2)
		// Kill a node that holds a claim.
		var victim *node
		var owner int
		for _, e := range c.edges {
			for i, v := range invs {
				if !killed[e] && slices.Contains(v.Suppliers(), e.Host().ID()) {
					victim, owner = e, i
				}
			}
		}
		if victim == nil {
			b.Fatalf("minute %d: no claimed node left to kill", m)
		}
		killed[victim] = true
		at := time.Now()
		victim.kill()
		for invs[owner].BackedMB() != 512 || slices.Contains(invs[owner].Suppliers(), victim.Host().ID()) {
			if time.Since(at) > minute/2 {
				b.Errorf("minute %d: virtual invoker %d backs %d MB after %v", m, owner, invs[owner].BackedMB(), time.Since(at))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		reback = append(reback, time.Since(at))
		time.Sleep(minute/2 - time.Since(at))
	}
	close(stop)
	<-loadDone

	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var ok, failed, lost int
	var lat []time.Duration
	for _, aid := range sent {
		acks, err := c.ctl.WaitCompleted(wctx, aid)
		if err != nil {
			lost++
			continue
		}
		for _, a := range acks {
			if act, _, err := a.ResponseActivation(); err == nil && act != nil {
				if act.Response.StatusCode == whisk.StatusSuccess {
					ok++
				} else {
					failed++
					b.Logf("activation %s: %s %s", aid, act.Response.StatusCode, act.Response.Result)
				}
				lat = append(lat, time.Duration(act.End-act.Start)*time.Millisecond)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, aid := range sent {
		n := 0
		for _, a := range c.ctl.Acks(aid) {
			if a.FreesSlot() {
				n++
			}
		}
		if n > 1 {
			lost++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(sent)), "sent")
	b.ReportMetric(float64(ok), "succeeded")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(rejected.Load()), "rejected")
	b.ReportMetric(c.metric(b, "faasedge_gateway_reruns_total"), "reruns")
	b.ReportMetric(c.metric(b, "faasedge_gateway_reclaims_total"), "reclaims")
	b.ReportMetric(percentile(reback, 0.5), "reback-p50-ms")
	b.ReportMetric(percentile(reback, 1), "reback-max-ms")
	b.ReportMetric(percentile(lat, 0.99), "duration-p99-ms")
	if lost > 0 {
		b.Errorf("%d activations lost or acked twice", lost)
	}
}
