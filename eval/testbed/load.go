package testbed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faasedge/faasedge/eval/workloads"
)

// Request is one invocation's record (requests.jsonl): what the client
// saw and what the activation record says.
type Request struct {
	Phase     string `json:"phase"`
	Workload  string `json:"workload"`
	Placement string `json:"placement"`
	// Load is the offered load: requests the client kept in flight.
	Load   int    `json:"load"`
	I      int    `json:"i"`
	Action string `json:"action"`
	// Kind is what the request does (workloads.Request.Kind).
	Kind string `json:"kind,omitempty"`
	// Start is when the client sent it (Unix ms).
	Start int64 `json:"start"`
	// ClientMS is the complete latency the client observed, blocking
	// invoke to answer (a record fetched after a 202 included).
	ClientMS float64 `json:"clientMs"`
	HTTP     int     `json:"http"`
	// OK: the activation succeeded and the workload's check passed.
	OK           bool   `json:"ok"`
	Error        string `json:"error,omitempty"`
	ActivationID string `json:"activationId,omitempty"`
	StatusCode   int    `json:"statusCode"` // the record's response.statusCode
	// DurationMS is the record's duration (execution), InitMS and WaitMS
	// its initTime and waitTime annotations (zero when absent).
	DurationMS float64 `json:"durationMs"`
	InitMS     float64 `json:"initMs"`
	WaitMS     float64 `json:"waitMs"`
	// FetchMS and FetchBytes are its fetchTime and fetchBytes annotations:
	// the part of the duration the run waited for data from /ipfs or
	// /data, and the bytes it read there. Absent when it read none.
	FetchMS    *float64 `json:"fetchMs,omitempty"`
	FetchBytes int64    `json:"fetchBytes,omitempty"`
	// MemoryMB is the action's memory limit (the record's limits
	// annotation): what a run of it holds of a node's offer.
	MemoryMB float64 `json:"memoryMb"`
}

// invoke runs one request blocking (workloads.Invoke) and fills its
// record with what the client saw and what the activation record says.
func invoke(ctx context.Context, env workloads.Env, r workloads.Request, out *Request) *workloads.Record {
	start := time.Now()
	out.Start = start.UnixMilli()
	out.Action = r.Action
	rec, code, err := workloads.Invoke(ctx, env, r)
	out.ClientMS = ms(time.Since(start))
	out.HTTP = code
	if err != nil {
		out.Error = err.Error()
		return nil
	}
	out.ActivationID = rec.ActivationID
	out.StatusCode = rec.Response.StatusCode
	out.DurationMS = float64(rec.Duration)
	rec.Annotation("initTime", &out.InitMS)
	rec.Annotation("waitTime", &out.WaitMS)
	var fetch float64
	if rec.Annotation("fetchTime", &fetch) {
		out.FetchMS = &fetch
		rec.Annotation("fetchBytes", &out.FetchBytes)
	}
	var limits struct{ Memory float64 }
	rec.Annotation("limits", &limits)
	out.MemoryMB = limits.Memory
	return rec
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// drive sends n requests keeping load in flight, numbering them from
// first; each request's record goes to sink.
func (tb *Testbed) drive(ctx context.Context, w workloads.Workload, p workloads.Placement, load, first, n int, sink func(Request)) {
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	phase := phaseName(w, p)
	env := tb.Env()
	for range load {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= first+n {
					return
				}
				if tb.cfg.OnRequest != nil {
					tb.cfg.OnRequest(tb, phase, i)
				}
				req := w.Request(p, i)
				r := Request{Phase: phase, Workload: w.Name(), Placement: string(p), Load: load, I: i, Kind: req.Kind}
				rec := invoke(ctx, env, req, &r)
				switch {
				case rec == nil:
				case !rec.Response.Success || rec.Response.StatusCode != 0:
					r.Error = fmt.Sprintf("activation status %d: %s", rec.Response.StatusCode, truncate(rec.Response.Result))
				default:
					if err := w.Check(p, i, rec.Response.Result); err != nil {
						r.Error = "check: " + err.Error()
					} else {
						r.OK = true
					}
				}
				sink(r)
			}
		}()
	}
	wg.Wait()
}
