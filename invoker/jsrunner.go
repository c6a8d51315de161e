package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// JSRunner runs nodejs actions in-process on goja the way the stock nodejs
// runtime runs them in a container: the code is evaluated once per VM as
// the runtime's /init does, main(params) is called per activation with an
// event loop (timers, promises, fetch), its object (or promise of one) is
// the result and console output becomes log lines. A VM that ran an
// activation to its end is kept warm for the next activation of the same
// action revision, like a warm container; one that timed out, threw or was
// aborted is discarded, as the stock runtime stops. See jsvm.go for the
// Node surface and the memory bounds.
type JSRunner struct {
	// IdleMemory bounds the warm VMs kept between activations by the sum
	// of their actions' memory limits, in MB, as warm containers count
	// against a stock invoker's memory (2048 when 0). The least recently
	// used VM goes first.
	IdleMemory int64
	// IdleTimeout is how long a warm VM is kept unused (10 minutes, the
	// stock idle-container timeout, when 0).
	IdleTimeout time.Duration
	// HostNetwork lets fetch reach loopback and link-local addresses,
	// which it refuses by default (see newFetchClient).
	HostNetwork bool

	mu     sync.Mutex
	pools  map[string]*jsPool // by action, revision, code digest, main, memory
	idleMB int64
	closed bool

	httpOnce sync.Once
	http     *http.Client
}

// jsPool is one action revision's code and its idle VMs, the most
// recently used last.
type jsPool struct {
	code *jsCode
	idle []*jsVM
}

const (
	jsInitFailed         = "Initialization has failed due to: "
	jsDefaultIdleMemory  = 2048
	jsDefaultIdleTimeout = 10 * time.Minute
)

func (r *JSRunner) client() *http.Client {
	r.httpOnce.Do(func() { r.http = newFetchClient(r.HostNetwork) })
	return r.http
}

// Run implements Runner.
func (r *JSRunner) Run(ctx context.Context, a *activation.Action, inv activation.Invocation) activation.Result {
	start := time.Now()
	timeout := time.Duration(a.Limits.Timeout) * time.Millisecond
	var logs *whisk.LogCollector
	if a.Limits.Logs > 0 { // 0: not collected at all, as stock
		logs = whisk.NewLogCollector(a.Limits.Logs * int64(whisk.MB))
	}
	main := a.Main
	if main == "" {
		main = "main"
	}
	actx, endAct := context.WithCancel(ctx)
	defer endAct()
	act := &jsActivation{ctx: actx, logs: logs, done: make(chan jsOutcome, 1)}
	res := activation.Result{Start: start}
	finish := func(o jsOutcome) activation.Result {
		res.End = time.Now()
		if res.Cold && res.InitTime == 0 {
			res.InitTime = max(res.End.Sub(start), 1)
		}
		res.Logs = act.lines(res.End)
		if o.code == whisk.StatusSuccess {
			res.Response = responseFromBody(o.body, inv.MaxPayload)
		} else {
			res.Response = whisk.ErrorResponse(o.code, o.msg)
		}
		return res
	}

	key := r.key(a, main)
	vm, code := r.take(key)
	if vm == nil {
		res.Cold = true
		if code == nil {
			var err error
			if code, err = r.compile(key, a, main); err != nil {
				act.log(whisk.Stderr, "Error during initialization: "+jsErrorText(err))
				return finish(jsOutcome{code: whisk.StatusDeveloperError, msg: jsInitFailed + jsErrorText(err)})
			}
		}
		vm = newJSVM(r, a, code.mods)
	}

	// One deadline for init and run together, as the action's timeout is
	// the container's; cancellation of ctx (shutdown) aborts as well.
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	wait := func(ch <-chan jsOutcome) jsOutcome {
		select {
		case o := <-ch:
			return o
		case <-deadline.C:
			res.TimedOut = true
			if res.Cold && res.InitTime == 0 {
				return jsOutcome{code: whisk.StatusDeveloperError, msg: whisk.MsgInitTimeout(a.Limits.Timeout)}
			}
			return jsOutcome{code: whisk.StatusDeveloperError, msg: whisk.MsgTimeout(a.Limits.Timeout)}
		case <-ctx.Done():
			return jsOutcome{code: whisk.StatusWhiskError, msg: whisk.MsgAbnormalRun}
		}
	}

	if res.Cold {
		inited := make(chan jsOutcome, 1)
		vm.loop.RunOnLoop(func(rt *goja.Runtime) {
			if err := vm.init(rt, act, code, main); err != nil {
				vm.log(whisk.Stderr, "Error during initialization: "+jsErrorText(err))
				inited <- jsOutcome{code: whisk.StatusDeveloperError, msg: jsInitFailed + jsErrorText(err)}
				return
			}
			inited <- jsOutcome{code: whisk.StatusSuccess, keep: true}
		})
		if o := wait(inited); o.code != whisk.StatusSuccess {
			r.discard(vm)
			return finish(o)
		}
		res.InitTime = max(time.Since(start), 1)
	}

	vm.loop.RunOnLoop(func(rt *goja.Runtime) { vm.activate(rt, act, inv.Env(a), inv.Value) })
	o := wait(act.done)
	if !o.keep {
		r.discard(vm)
		return finish(o)
	}
	// The activation's pending timers are cleared once the loop is free. A
	// job still running (code after the result) has until the deadline,
	// then the VM is discarded.
	endAct()
	ended := make(chan struct{})
	vm.loop.RunOnLoop(func(*goja.Runtime) { vm.end(); close(ended) })
	select {
	case <-ended:
		r.put(key, vm)
	case <-deadline.C:
		r.discard(vm)
	case <-ctx.Done():
		r.discard(vm)
	}
	return finish(o)
}

// Close ends the idle VMs and keeps no VM from then on; activations still
// running end as they would.
func (r *JSRunner) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pools {
		for _, v := range p.idle {
			go v.loop.Terminate()
		}
	}
	r.pools, r.idleMB, r.closed = nil, 0, true
}

// discard ends a VM that may be running: interrupted, its loop, timers and
// goroutine stopped in the background.
func (r *JSRunner) discard(vm *jsVM) {
	vm.rt.Interrupt("discarded")
	go vm.loop.Terminate()
}

// key identifies the pool of an action revision (the store's code digest
// names the document revision or the code itself); "" (no digest: a test
// action) is never pooled.
func (r *JSRunner) key(a *activation.Action, main string) string {
	if a.Code.Digest == "" {
		return ""
	}
	return a.Name.DocID() + "#" + a.Code.Digest + " " + main + " " + strconv.FormatInt(a.Limits.Memory, 10)
}

// take returns an idle VM of the pool, or only its code (nil when there
// is none yet).
func (r *JSRunner) take(key string) (*jsVM, *jsCode) {
	if key == "" {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[key]
	if p == nil {
		return nil, nil
	}
	if n := len(p.idle); n > 0 {
		vm := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		r.idleMB -= vm.memMB
		return vm, p.code
	}
	return nil, p.code
}

// compile prepares an action's code for its VMs (see jsCode) and keeps
// it with the action's pool.
func (r *JSRunner) compile(key string, a *activation.Action, main string) (*jsCode, error) {
	c, err := newJSCode(a, main)
	if err != nil || key == "" {
		return c, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return c, nil
	}
	if r.pools == nil {
		r.pools = map[string]*jsPool{}
	}
	if r.pools[key] == nil {
		r.pools[key] = &jsPool{code: c}
	}
	return c, nil
}

// put keeps a VM warm, then evicts what is past the idle timeout and the
// least recently used VMs over the idle memory.
func (r *JSRunner) put(key string, vm *jsVM) {
	if key == "" {
		go vm.loop.Terminate()
		return
	}
	now := time.Now()
	vm.idleSince = now
	budget, ttl := r.IdleMemory, r.IdleTimeout
	if budget <= 0 {
		budget = jsDefaultIdleMemory
	}
	if ttl <= 0 {
		ttl = jsDefaultIdleTimeout
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[key]
	if p == nil { // its revision's pool was evicted while it ran
		go vm.loop.Terminate()
		return
	}
	p.idle = append(p.idle, vm)
	r.idleMB += vm.memMB
	for k, p := range r.pools {
		kept := p.idle[:0]
		for _, v := range p.idle {
			if now.Sub(v.idleSince) < ttl {
				kept = append(kept, v)
			} else {
				r.idleMB -= v.memMB
				go v.loop.Terminate()
			}
		}
		clear(p.idle[len(kept):])
		p.idle = kept
		if len(kept) == 0 && k != key {
			delete(r.pools, k)
		}
	}
	for r.idleMB > budget {
		var oldest *jsPool
		for _, p := range r.pools {
			if len(p.idle) > 0 && (oldest == nil || p.idle[0].idleSince.Before(oldest.idle[0].idleSince)) {
				oldest = p
			}
		}
		if oldest == nil {
			break
		}
		r.idleMB -= oldest.idle[0].memMB
		go oldest.idle[0].loop.Terminate()
		oldest.idle[0] = nil
		oldest.idle = oldest.idle[1:]
	}
}

// responseFromBody classifies a successful run's JSON output like the stock
// invoker: over the payload limit an application error with the truncation
// text, an object with "error" an application error, otherwise success.
func responseFromBody(body []byte, maxPayload int64) whisk.ActivationResponse {
	size := int64(len(body))
	if maxPayload <= 0 {
		maxPayload = whisk.PayloadMax
	}
	if size > maxPayload {
		r := whisk.ErrorResponse(whisk.StatusApplicationError, whisk.MsgTruncatedResponse(size, maxPayload, string(body[:min(size, whisk.PayloadMax)])))
		r.Size = &size
		return r
	}
	r := whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Size: &size}
	var obj map[string]json.RawMessage
	if body[0] == '{' && json.Unmarshal(body, &obj) == nil {
		if e, ok := obj["error"]; ok {
			r.StatusCode = whisk.StatusApplicationError
			r.Result, _ = json.Marshal(map[string]json.RawMessage{"error": e})
			return r
		}
	}
	r.Result = body
	return r
}

func jsErrorText(err error) string {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return ex.Value().String()
	}
	return err.Error()
}
