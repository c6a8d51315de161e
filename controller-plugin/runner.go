package controllerplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// ipfsScheme prefixes action code that is an IPFS content id.
const ipfsScheme = "ipfs://"

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

// Run implements invoker.Runner.
func (r *edgeRunner) Run(ctx context.Context, a *invoker.Action, inv invoker.Invocation) invoker.Result {
	begin := time.Now()
	timeout := time.Duration(a.Limits.Timeout) * time.Millisecond
	deadline := begin.Add(timeout)
	if ms, err := strconv.ParseInt(inv.Env["__OW_DEADLINE"], 10, 64); err == nil {
		deadline = time.UnixMilli(ms)
	}
	code, err := r.codeCID(ctx, a)
	if err != nil {
		return failed(begin, whisk.StatusDeveloperError, err.Error(), false)
	}
	req := ring.RunRequest{
		ActivationID:  inv.Env["__OW_ACTIVATION_ID"],
		Namespace:     inv.Env["__OW_NAMESPACE"],
		ActionName:    inv.Env["__OW_ACTION_NAME"],
		ActionVersion: a.Version,
		TransactionID: inv.Env["__OW_TRANSACTION_ID"],
		CID:           code,
		Value:         inv.Value,
		Env:           inv.Env,
		Limits: ring.Limits{
			Timeout: int(a.Limits.Timeout), Memory: int(a.Limits.Memory),
			Logs: int(a.Limits.Logs), Concurrency: a.Limits.Concurrency,
		},
		Deadline: deadline.UnixMilli(),
	}
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
		resp, err := r.ring.Run(ctx, c.p, req)
		r.backing.release(c, memMB)
		if err == nil {
			r.m.runSeconds.WithLabelValues("ok").Observe(time.Since(start).Seconds())
			if resp.StatusCode == ring.StatusInternalError && attempt == 0 && time.Now().Before(deadline) {
				// The edge node's own fault (its executor stopping, say):
				// run again at once if another claim has room, else report it.
				if retry := r.rerunNow(memMB, c.p.Supplier()); retry != nil {
					r.m.reruns.Inc()
					resp2, err2 := r.ring.Run(ctx, retry.p, req)
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
func (r *edgeRunner) codeCID(ctx context.Context, a *invoker.Action) (string, error) {
	if s, ok := strings.CutPrefix(strings.TrimSpace(string(a.Code)), ipfsScheme); ok && len(a.Code) < 512 {
		if _, err := cid.Decode(s); err != nil {
			return "", fmt.Errorf("could not fetch code %s%s: %w", ipfsScheme, s, err)
		}
		return s, nil
	}
	if r.pub == nil {
		return "", errors.New("the action's code is not an ipfs:// CID and this gateway publishes no code to edge nodes")
	}
	key := a.Digest
	if key == "" {
		sum := sha256.Sum256(a.Code)
		key = hex.EncodeToString(sum[:])
	}
	r.mu.Lock()
	c, ok := r.cids[key]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	id, err := r.pub.Add(ctx, bytes.NewReader(a.Code), 0)
	if err != nil {
		return "", fmt.Errorf("could not publish the action's code to edge nodes: %w", err)
	}
	r.mu.Lock()
	r.cids[key] = id.String()
	r.mu.Unlock()
	return id.String(), nil
}

// result converts an edge node's answer into the engine's Result.
func result(resp ring.RunResponse) invoker.Result {
	res := invoker.Result{
		Response: whisk.ActivationResponse{StatusCode: whisk.StatusCode(resp.StatusCode), Result: resp.Result},
		Logs:     resp.Logs,
		Start:    time.UnixMilli(resp.Start),
		End:      time.UnixMilli(resp.End),
		InitTime: time.Duration(resp.InitTime) * time.Millisecond,
		Cold:     resp.InitTime > 0,
		TimedOut: resp.Timeout,
	}
	if len(res.Response.Result) == 0 {
		res.Response.Result = []byte("{}")
	}
	return res
}

func failed(start time.Time, code whisk.StatusCode, msg string, timedOut bool) invoker.Result {
	return invoker.Result{Response: whisk.ErrorResponse(code, msg), Start: start, End: time.Now(), TimedOut: timedOut}
}
