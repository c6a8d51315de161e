package ipfs

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/whisk"
)

// BenchmarkFirstActivationByCID is the first activation of a new action
// whose module (a WAT echo, each iteration's made new by a custom
// section) is held by a connected peer, from the activation message on
// Kafka to the slot-freeing ack, through the drop-in invoker:
//   - never-seen: the invoker learns of the action from the message, so
//     it reads the document, fetches the code by CID, compiles and runs;
//   - prewarmed: the invoker follows the actions database's _changes and
//     has compiled the module (and kept the document) before the message
//     arrives; the action is invoked once that is done;
//   - kafka-round-trip: the baseline, a bare produce → consume → produce
//     → consume through the same kfake broker.
//
// p50-ms is the median of the iterations, ns/op their mean.
func BenchmarkFirstActivationByCID(b *testing.B) {
	b.Run("kafka-round-trip", func(b *testing.B) {
		ctx := testCtx(b)
		brokers := testenv.Kafka(b).ListenAddrs()
		b.ResetTimer()
		lat := testenv.KafkaRoundTrips(b, ctx, strings.Join(brokers, ","), b.N, 20*time.Millisecond)
		b.StopTimer()
		reportMedian(b, lat)
		// The records are paced 20 ms apart: time per round trip, not per
		// the paced run.
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op")
	})
	for _, prewarm := range []bool{false, true} {
		name := "never-seen"
		if prewarm {
			name = "prewarmed"
		}
		b.Run(name, func(b *testing.B) {
			ctx := testCtx(b)
			src := newNode(b, p2p.Config{})
			var opts []func(*stack, *invoker.Config)
			if prewarm {
				opts = append(opts, func(s *stack, c *invoker.Config) { c.Prewarm = invoker.PrewarmConfig{Compiler: s.ex} })
			}
			s := newStack(b, newNode(b, p2p.Config{}, WithPeers(src.Host().FullAddrs()...)), opts...)
			limits := whisk.DefaultLimits()
			echo := wasmtest.WATModule(b, "echo")
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				c, err := src.Add(ctx, bytes.NewReader(withCustomSection(echo, uint64(i))), 1)
				if err != nil {
					b.Fatal(err)
				}
				name := "first-" + c.String()
				rev := s.create(ctx, b, name, Scheme+c.String(), limits)
				if prewarm {
					code := activation.Code{CID: c.String(), Digest: c.String()}
					testenv.WaitFor(b, time.Minute, "the module prewarmed", func() bool { return s.ex.Ready(code) })
				}
				b.StartTimer()
				start := time.Now()
				resp := s.invoke(ctx, b, name, rev, limits, `{}`)
				lat = append(lat, time.Since(start))
				if resp.StatusCode != whisk.StatusSuccess {
					b.Fatalf("status %s: %s", resp.StatusCode, resp.Result)
				}
			}
			b.StopTimer()
			reportMedian(b, lat)
		})
	}
}

func reportMedian(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
}
