package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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
	// MemoryMB is the action's memory limit (the record's limits
	// annotation): what a run of it holds of a node's offer.
	MemoryMB float64 `json:"memoryMb"`
}

// record is the part of an activation record the testbed reads.
type record struct {
	ActivationID string `json:"activationId"`
	Duration     *int64 `json:"duration"`
	Response     struct {
		StatusCode int             `json:"statusCode"`
		Success    bool            `json:"success"`
		Result     json.RawMessage `json:"result"`
	} `json:"response"`
	Annotations []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"annotations"`
}

func (r *record) annotation(key string) float64 {
	for _, a := range r.Annotations {
		if a.Key == key {
			var v float64
			_ = json.Unmarshal(a.Value, &v)
			return v
		}
	}
	return 0
}

// client invokes actions through the REST API as the guest.
type client struct {
	api, user, pass string
	hc              *http.Client
}

func newClient(env workloads.Env) *client {
	user, pass, _ := strings.Cut(env.Auth, ":")
	return &client{api: strings.TrimRight(env.APIHost, "/"), user: user, pass: pass,
		hc: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

func (c *client) do(ctx context.Context, method, path string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, resp.Header, b, err
}

// invoke runs one request blocking and fills its record: a blocking
// invoke answers with the activation record; one that outlives the
// controller's blocking wait (202) or whose result is an array is read
// back from /activations.
func (c *client) invoke(ctx context.Context, r workloads.Request, out *Request) *record {
	start := time.Now()
	out.Start = start.UnixMilli()
	out.Action = r.Action
	path := "/api/v1/namespaces/_/actions/" + escapeAction(r.Action) + "?blocking=true"
	params := []byte(r.Params)
	if len(params) == 0 {
		params = []byte("{}")
	}
	code, h, body, err := c.do(ctx, http.MethodPost, path, params)
	out.HTTP = code
	if err != nil {
		out.Error = err.Error()
		out.ClientMS = ms(time.Since(start))
		return nil
	}
	out.ActivationID = h.Get("x-openwhisk-activation-id")
	var rec record
	if json.Unmarshal(body, &rec) != nil || rec.ActivationID == "" {
		if out.ActivationID == "" {
			out.Error = fmt.Sprintf("HTTP %d: %s", code, truncate(body))
			out.ClientMS = ms(time.Since(start))
			return nil
		}
		if err := c.fetchRecord(ctx, out.ActivationID, &rec); err != nil {
			out.Error = err.Error()
			out.ClientMS = ms(time.Since(start))
			return nil
		}
	}
	out.ClientMS = ms(time.Since(start))
	out.ActivationID = rec.ActivationID
	out.StatusCode = rec.Response.StatusCode
	if rec.Duration != nil {
		out.DurationMS = float64(*rec.Duration)
	}
	out.InitMS, out.WaitMS = rec.annotation("initTime"), rec.annotation("waitTime")
	for _, a := range rec.Annotations {
		if a.Key == "limits" {
			var l struct{ Memory float64 }
			_ = json.Unmarshal(a.Value, &l)
			out.MemoryMB = l.Memory
		}
	}
	return &rec
}

// fetchRecord polls /activations/<id> until the record is written, for
// up to two minutes.
func (c *client) fetchRecord(ctx context.Context, id string, rec *record) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		code, _, body, err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, nil)
		if err == nil && code == http.StatusOK {
			return json.Unmarshal(body, rec)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("activation %s: no record: %w", id, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func escapeAction(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
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
func (tb *Testbed) drive(ctx context.Context, c *client, w workloads.Workload, p workloads.Placement, load, first, n int, sink func(Request)) {
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	phase := phaseName(w, p)
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
				rec := c.invoke(ctx, req, &r)
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
