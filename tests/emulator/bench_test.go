package emulator_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/tests/emulator"
	"github.com/faasedge/faasedge/whisk"
)

// BenchmarkBinary runs the faasedge invoker process under the emulated
// controller, with activation records written to pouchdb-server
// ("records") and with the user limit storeActivations false
// ("no-records"). It reports:
//   - the binary's size, and its RSS and anonymous memory when idle after
//     registration (the largest of samples over a trim period);
//   - the activations per second it sustains for b.N non-blocking trivial
//     wasm activations published at once, and the CPU time the invoker
//     process spends per activation over that run (getrusage's utime and
//     stime, from /proc);
//   - its RSS and anonymous memory after that load;
//   - publish → slot-freeing ack p50 and p99 for activations published at
//     half the rate it sustained, next to a bare Kafka round trip through
//     the same broker at the same rate (a record produced, consumed,
//     produced again and consumed: the two hops an activation makes, with
//     no work between them).
func BenchmarkBinary(b *testing.B) {
	for _, store := range []bool{true, false} {
		name := "records"
		if !store {
			name = "no-records"
		}
		b.Run(name, func(b *testing.B) { benchBinary(b, store) })
	}
}

func benchBinary(b *testing.B, store bool) {
	s := newStack(b)
	p := s.startInvoker(b)
	pid := p.cmd.Process.Pid
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fi, err := os.Stat(binary)
	if err != nil {
		b.Fatal(err)
	}
	idle, idleAnon := testenv.IdleMemory(b, pid)

	l := whisk.DefaultLimits()
	l.Memory, l.Logs = 128, 0
	code := wasmtest.WATModule(b, "reactor")
	doc := map[string]any{
		"_id": "guest/reactor", "entityType": "action", "name": "reactor", "namespace": "guest", "version": "0.0.1",
		"exec":   map[string]any{"kind": "wasm:wasip1", "binary": true, "code": map[string]any{"attachmentName": whisk.EncodeMemAttachment(code), "attachmentType": "application/wasm"}},
		"limits": l, "parameters": []any{}, "annotations": []any{}, "publish": false, "updated": time.Now().UnixMilli(),
	}
	rev, err := s.actions.Put(ctx, "guest/reactor", doc)
	if err != nil {
		b.Fatal(err)
	}
	m := emulator.ActionMeta{Name: whisk.FullyQualifiedEntityName{Path: "guest", Name: "reactor", Version: "0.0.1"}, Rev: &rev, MemoryMB: 128, TimeoutMs: 60000}
	user := emulator.NewUser("guest")
	warm, _, err := s.ctl.Invoke(ctx, m, emulator.Request{User: user, Blocking: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.ctl.WaitCompleted(ctx, warm.ActivationID); err != nil {
		b.Fatal(err)
	}
	user.Limits.StoreActivations = &store
	messages := func(n int) []*whisk.ActivationMessage {
		msgs := make([]*whisk.ActivationMessage, n)
		for i := range msgs {
			msgs[i] = s.ctl.Message(m, emulator.Request{User: user, Content: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)})
		}
		return msgs
	}
	n := max(b.N, 500)
	msgs := messages(n)
	b.ResetTimer()
	start, cpu0 := time.Now(), testenv.CPUTime(b, pid)
	if err := s.ctl.SendAll(ctx, 0, msgs); err != nil {
		b.Fatal(err)
	}
	for _, msg := range msgs {
		if _, err := s.ctl.WaitCompleted(ctx, msg.ActivationID); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	cpu := testenv.CPUTime(b, pid) - cpu0
	b.StopTimer()
	loaded, loadedAnon := testenv.Memory(b, pid)

	// Half the saturation rate, for a second's worth of activations, sent
	// every millisecond as they fall due: one produce request per message
	// would load the emulated controller (and kfake, in this process) more
	// than the invoker.
	half := messages(max(int(rate/2), 100))
	interval := time.Duration(float64(time.Second) / (rate / 2))
	sent := make([]time.Time, len(half))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < len(half); {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * interval)))
		now := time.Now()
		j := min(max(int(now.Sub(t0)/interval)+1, i+1), len(half))
		for k := i; k < j; k++ {
			sent[k] = now
		}
		batch := half[i:j]
		wg.Go(func() {
			if err := s.ctl.SendAll(ctx, 0, batch); err != nil {
				b.Error(err)
			}
		})
		i = j
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	lat := make([]time.Duration, len(half))
	for i, msg := range half {
		acks, err := s.ctl.WaitCompleted(ctx, msg.ActivationID)
		if err != nil {
			b.Fatal(err)
		}
		lat[i] = acks[len(acks)-1].Received.Sub(sent[i])
	}
	bare := testenv.KafkaRoundTrips(b, ctx, s.brokers, len(half), interval)

	b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MB")
	b.ReportMetric(idle, "idle-RSS-MB")
	b.ReportMetric(idleAnon, "idle-anon-MB")
	b.ReportMetric(rate, "act/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/act")
	b.ReportMetric(loaded, "loaded-RSS-MB")
	b.ReportMetric(loadedAnon, "loaded-anon-MB")
	b.ReportMetric(ms(percentile(lat, 50)), "half-p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "half-p99-ms")
	b.ReportMetric(ms(percentile(bare, 50)), "kafka-p50-ms")
	b.ReportMetric(ms(percentile(bare, 99)), "kafka-p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile sorts d and returns its p-th percentile.
func percentile(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	return d[min(len(d)*p/100, len(d)-1)]
}
