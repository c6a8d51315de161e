package ring

import (
	"context"
	"testing"
)

// BenchmarkScheduleRelease measures one discovery, claim and release on a
// real 10-node ring on loopback.
func BenchmarkScheduleRelease(b *testing.B) {
	ms := startRing(b, 10, nil)
	for _, m := range ms[1:] {
		if err := m.node.Supply(1024, 512); err != nil {
			b.Fatal(err)
		}
	}
	publishAll(b, ms)
	ctx := context.Background()
	sched := ms[0].node
	var tries int
	b.ResetTimer()
	for b.Loop() {
		p, err := sched.Schedule(ctx, "", 256)
		if err != nil {
			b.Fatal(err)
		}
		tries += p.Stats.Tries
		if err := sched.Release(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tries)/float64(b.N), "lookups/op")
}
