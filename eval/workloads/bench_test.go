package workloads

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
)

// BenchmarkWorkloads runs each workload at its proposal size (the hash
// files one by one) in each placement through the standalone's REST API
// onto three edge nodes on loopback, one request at a time, every answer
// checked. Reported per request: the client's time (ns/op, and p50-ms),
// the record's execution time (exec-p50-ms), and the first request's
// client time (first-ms: the data not yet fetched by any node for IPFS, the
// module not yet compiled or instantiated). No bandwidth cap, no added
// latency: loopback only.
func BenchmarkWorkloads(b *testing.B) {
	mnist, err := NewMNIST(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	video, err := NewVideo(0, 0, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	type bench struct {
		name string
		w    Workload
	}
	var benches []bench
	for _, n := range HashSizes {
		benches = append(benches, bench{"hash-" + hashFileName(n), NewHash(n)})
	}
	benches = append(benches, bench{"rest", NewREST(0, 0)}, bench{"mnist-10", mnist}, bench{"video", video})
	tb := startTestbed(b, testenv.StartRedis(b))
	for _, bc := range benches {
		for _, p := range []Placement{Local, IPFS} {
			b.Run(fmt.Sprintf("%s/%s", bc.name, p), func(b *testing.B) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if err := bc.w.Deploy(ctx, tb.env, p); err != nil {
					b.Fatal(err)
				}
				var client, exec []float64
				i := 0
				for b.Loop() {
					start := time.Now()
					rec, err := invoke(ctx, tb.env, bc.w.Request(p, i))
					if err == nil {
						err = bc.w.Check(p, i, rec.Response.Result)
					}
					if err != nil {
						b.Fatal(err)
					}
					client = append(client, float64(time.Since(start).Microseconds())/1000)
					exec = append(exec, float64(rec.Duration))
					i++
				}
				b.ReportMetric(client[0], "first-ms")
				b.ReportMetric(median(client), "p50-ms")
				b.ReportMetric(median(exec), "exec-p50-ms")
			})
		}
	}
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
