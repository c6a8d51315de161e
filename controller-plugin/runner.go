package controllerplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// Publisher adds module bytes to IPFS so that edge nodes can fetch code
// that reached the controller inline (a zip or base64 wasm) rather than as
// ipfs://CID. *ipfs.Node implements it.
type Publisher interface {
	Add(ctx context.Context, r io.Reader, cidVersion int) (cid.Cid, error)
}

// edgeRunner is a virtual invoker's Runner for wasm actions: it runs each
// activation on one of the invoker's claims with the remote-run protocol.
// When the supplier fails mid-run the claim is dropped (and replaced) and
// the activation runs once more on another claim if its deadline allows;
// otherwise it ends with the stock error a crashed container gets.
type edgeRunner struct {
	ring    Ring
	backing *backing
	pub     Publisher
	m       *invokerMetrics

	mu   sync.Mutex
	cids map[string]string // code digest → CID, for inline code
}

var _ invoker.Runner = (*edgeRunner)(nil)

// Run implements invoker.Runner.
func (r *edgeRunner) Run(ctx context.Context, a *activation.Action, in activation.Invocation) activation.Result {
	begin := time.Now()
	if in.Deadline.IsZero() {
		in.Deadline = begin.Add(time.Duration(a.Limits.Timeout) * time.Millisecond)
	}
	deadline := in.Deadline
	code, err := r.codeCID(ctx, a)
	if err != nil {
		return failed(begin, whisk.StatusDeveloperError, err.Error(), false)
	}
	req := ring.RunRequest{Action: *a, Invocation: in}
	req.Action.Code = activation.Code{CID: code, Digest: code}
	memMB := int(max(a.Limits.Memory, 1))
	var avoid peer.ID
	for attempt := 0; attempt < 2; attempt++ {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		c, err := r.backing.acquire(wctx, memMB, avoid)
		cancel()
		if err != nil {
			if attempt == 0 {
				// Nothing to run on: the invoker's own fault.
				return failed(begin, whisk.StatusWhiskError, whisk.MsgProvisionFailed, false)
			}
			break
		}
		start := time.Now()
		resp, err := r.ring.Run(ctx, r.backing.placement(c), req)
		r.backing.release(c, memMB)
		if err == nil {
			r.m.runSeconds.WithLabelValues("ok").Observe(time.Since(start).Seconds())
			if resp.Response.StatusCode == whisk.StatusWhiskError && attempt == 0 && time.Now().Before(deadline) {
				// The edge node's own fault (its executor stopping, say):
				// run again at once if another claim has room, else report it.
				if retry := r.rerunNow(memMB, c.p.Supplier()); retry != nil {
					r.m.reruns.Inc()
					resp2, err2 := r.ring.Run(ctx, r.backing.placement(retry), req)
					r.backing.release(retry, memMB)
					if err2 == nil {
						return result(resp2)
					}
					r.backing.drop(retry, err2)
				}
			}
			return result(resp)
		}
		r.m.runSeconds.WithLabelValues("failed").Observe(time.Since(start).Seconds())
		if ctx.Err() != nil {
			break
		}
		r.backing.drop(c, err)
		avoid = c.p.Supplier()
		if !time.Now().Before(deadline) {
			return failed(begin, whisk.StatusDeveloperError, whisk.MsgTimeout(a.Limits.Timeout), true)
		}
		if attempt == 0 {
			r.m.reruns.Inc()
		}
	}
	// The stock text of a container that exited mid-run.
	return failed(begin, whisk.StatusDeveloperError, whisk.MsgAbnormalRun, false)
}

// rerunNow reserves room on a claim of another supplier if one has it
// right now.
func (r *edgeRunner) rerunNow(memMB int, avoid peer.ID) *claim {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := r.backing.acquire(done, memMB, avoid)
	if err != nil {
		return nil
	}
	return c
}

// codeCID is the CID edge nodes fetch the action's code by: the action's
// own for ipfs:// code, otherwise the module published to IPFS here.
func (r *edgeRunner) codeCID(ctx context.Context, a *activation.Action) (string, error) {
	if c := a.Code.CID; c != "" {
		if _, err := cid.Decode(c); err != nil {
			return "", fmt.Errorf("could not fetch code %s: %w", a.Code, err)
		}
		return c, nil
	}
	if r.pub == nil {
		return "", errors.New("the action's code is not an ipfs:// CID and this gateway publishes no code to edge nodes")
	}
	if len(a.Code.Inline) == 0 {
		return "", fmt.Errorf("the action's code (%s) cannot be published to edge nodes", a.Code)
	}
	key := a.Code.Key()
	r.mu.Lock()
	c, ok := r.cids[key]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	id, err := r.pub.Add(ctx, bytes.NewReader(a.Code.Inline), 0)
	if err != nil {
		return "", fmt.Errorf("could not publish the action's code to edge nodes: %w", err)
	}
	r.mu.Lock()
	r.cids[key] = id.String()
	r.mu.Unlock()
	return id.String(), nil
}

// result is an edge node's answer as the engine records it: an empty
// result reads as {}.
func result(res activation.Result) activation.Result {
	if len(res.Response.Result) == 0 {
		res.Response.Result = []byte("{}")
	}
	return res
}

func failed(start time.Time, code whisk.StatusCode, msg string, timedOut bool) activation.Result {
	return activation.Result{Response: whisk.ErrorResponse(code, msg), Start: start, End: time.Now(), TimedOut: timedOut}
}
