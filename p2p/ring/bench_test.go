package ring

import (
	"context"
	"testing"
)

// BenchmarkScheduleRelease measures one discovery, claim and release on a
// real 10-node ring on loopback. Discovery asks the traders of a few random
// keys (DefaultMaxTries); with 33 keys on 10 traders, some schedulings miss
// every offer and fall back to the backup list, as design.md's
// ResourceDiscovery does, so the suppliers push theirs to the scheduler.
// backup/op is the share of schedulings that needed it.
func BenchmarkScheduleRelease(b *testing.B) {
	ms := startRing(b, 10, nil)
	for _, m := range ms[1:] {
		if err := m.node.Supply(1024, 512); err != nil {
			b.Fatal(err)
		}
	}
	publishAll(b, ms)
	pushBackups(b, ms[0], ms[1:])
	ctx := context.Background()
	sched := ms[0].node
	var tries, backups int
	b.ResetTimer()
	for b.Loop() {
		p, err := sched.Schedule(ctx, "", 256)
		if err != nil {
			b.Fatal(err)
		}
		tries += p.Stats.Tries
		if p.FromBackup {
			backups++
		}
		if err := sched.Release(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tries)/float64(b.N), "lookups/op")
	b.ReportMetric(float64(backups)/float64(b.N), "backup/op")
}
