package executor

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// pool holds the initialised instances of one reactor action. sem bounds
// the instances in use to limits.concurrency.
type pool struct {
	e    *Executor
	sem  chan struct{}
	mu   sync.Mutex
	idle []*instance
}

// instance is one initialised reactor instance; it serves one activation at
// a time.
type instance struct {
	mod   api.Module
	alloc api.Function
	entry api.Function
	mem   *memoryLimit
	out   *instanceOutput
	stack []uint64
	fetch *fetchMeter // what its guest waited for on its mounts, since its last run was taken
	// buf and bufSize are the request buffer faasedge_alloc last returned;
	// a request that fits is written there without another call.
	buf, bufSize uint32
	bytes        int64 // accounted in Executor.live
}

// instanceOutput sends an instance's stdout and stderr to the capture of the
// activation it is serving.
type instanceOutput struct{ c *capture }

type instanceStream struct {
	o      *instanceOutput
	stream int
}

func (s instanceStream) Write(p []byte) (int, error) {
	return streamWriter{s.o.c, s.stream}.Write(p)
}

// poolKey names an action's pool: same code, same action, same limits.
func (r *run) poolKey() string {
	return strings.Join([]string{r.a.Code.Key(), r.a.Name.Path, r.a.Name.Name, r.a.Version, r.a.Main,
		strconv.FormatInt(r.limits.Memory, 10), strconv.Itoa(r.limits.Concurrency)}, "\x00")
}

func (e *Executor) pool(key string, concurrency int) *pool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	p, ok := e.pools[key]
	if !ok {
		p = &pool{e: e, sem: make(chan struct{}, concurrency)}
		e.pools[key] = p
	}
	return p
}

// reactor runs the activation on a pooled instance, creating (cold start)
// one when none is idle.
func (r *run) reactor(ctx context.Context, m *module) {
	p := r.e.pool(r.poolKey(), r.limits.Concurrency)
	if p == nil {
		r.fail(whisk.StatusWhiskError, whisk.MsgProvisionFailed)
		return
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		r.contextFailure(ctx, false)
		return
	}
	defer func() { <-p.sem }()
	inst := p.take()
	if inst == nil {
		r.cold = true
		if inst = r.newInstance(ctx, m); inst == nil {
			return
		}
	}
	inst.out.c = r.out
	r.runStart = time.Now()
	r.call(ctx, inst)
	inst.out.c = nil
	// Taken at the end of each run, the meter holds this run's reads only,
	// and on a cold start its _initialize's too.
	r.fetch = inst.fetch.take()
	if r.resp.StatusCode == whisk.StatusSuccess || r.resp.StatusCode == whisk.StatusApplicationError {
		p.put(inst)
	} else {
		r.e.discard(inst)
	}
}

// newInstance instantiates and initialises a reactor instance, or records
// the init failure and returns nil.
func (r *run) newInstance(ctx context.Context, m *module) *instance {
	inst := &instance{mem: newMemoryLimit(r.memoryBytes()), out: &instanceOutput{c: r.out}, stack: make([]uint64, 2), fetch: &fetchMeter{}}
	cfg := r.e.base.
		WithStdout(instanceStream{inst.out, 0}).
		WithStderr(instanceStream{inst.out, 1}).
		WithArgs(r.a.Name.Name).
		WithStartFunctions(exportInitialize)
	if len(r.e.mounts) > 0 {
		cfg = cfg.WithFSConfig(r.e.fsConfig(inst.fetch))
	}
	// Per-activation values come in each request, not in the environment.
	r.in.EachEnv(r.a, func(k, v string) {
		if !activation.PerActivation(k) {
			cfg = cfg.WithEnv(k, v)
		}
	})
	mod, timedOut, err := r.instantiate(ctx, m, cfg, inst.mem, "initialising")
	if err != nil {
		if mod != nil {
			_ = mod.Close(ctx)
		}
		r.fetch = inst.fetch.take()
		inst.mem.release()
		r.out.flush()
		if !r.stopped(ctx, err, timedOut, inst.mem, true) {
			r.fail(whisk.StatusDeveloperError, whisk.MsgAbnormalInit)
		}
		return nil
	}
	inst.mod = mod
	inst.alloc = mod.ExportedFunction(exportAlloc)
	inst.entry = mod.ExportedFunction(m.entry(r.a.Main))
	r.e.account(inst)
	return inst
}

// call runs one activation on inst through the reactor ABI.
func (r *run) call(ctx context.Context, inst *instance) {
	req := r.request()
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := recovered(r.e.log, "running", r.a, func() error {
		if uint32(len(req)) > inst.bufSize || inst.bufSize == 0 {
			inst.stack[0] = uint64(len(req))
			if err := inst.alloc.CallWithStack(rctx, inst.stack); err != nil {
				return err
			}
			inst.buf, inst.bufSize = uint32(inst.stack[0]), uint32(len(req))
		}
		if !inst.mod.Memory().Write(inst.buf, req) {
			return errBadBuffer
		}
		inst.stack[0], inst.stack[1] = uint64(inst.buf), uint64(len(req))
		return inst.entry.CallWithStack(rctx, inst.stack)
	})
	r.out.flush()
	switch {
	case r.stopped(ctx, err, rctx.Err() != nil, inst.mem, false):
		return
	case errors.Is(err, errBadBuffer):
		r.fail(whisk.StatusDeveloperError, "the action's "+exportAlloc+" returned a buffer outside its memory")
		return
	case err != nil: // a trap, or an exit: a reactor's instance has no exit to answer with
		r.fail(whisk.StatusDeveloperError, whisk.MsgAbnormalRun)
		return
	}
	ptr, n := uint32(inst.stack[0]>>32), uint32(inst.stack[0])
	view, ok := inst.mod.Memory().Read(ptr, n)
	if !ok {
		r.fail(whisk.StatusDeveloperError, "the action's "+exportRun+" returned a response outside its memory")
		return
	}
	// Copy: the view is the guest's memory, which the next call reuses.
	body := append([]byte(nil), view[:min(int64(n), r.maxPayload)]...)
	r.respond(body, int64(n), false)
}

var errBadBuffer = errors.New("buffer outside memory")

// request is the reactor ABI's request: {"value": ..., "env": {...}}, the
// env as encoding/json writes a map (keys sorted), without building one:
// this is on every warm run's path.
func (r *run) request() []byte {
	type kv struct{ k, v string }
	var buf [16]kv
	env := buf[:0]
	r.in.EachEnv(r.a, func(k, v string) { env = append(env, kv{k, v}) })
	slices.SortFunc(env, func(x, y kv) int { return strings.Compare(x.k, y.k) })
	v := r.value()
	n := len(v) + 20
	for _, p := range env {
		n += len(p.k) + len(p.v) + 6
	}
	b := make([]byte, 0, n)
	b = append(b, `{"value":`...)
	b = append(b, v...)
	b = append(b, `,"env":{`...)
	for i, p := range env {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.k)
		b = append(b, ':')
		b = appendJSONString(b, p.v)
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as encoding/json writes it: plain ASCII as it
// is, anything to escape through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (p *pool) take() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	inst := p.idle[n-1]
	p.idle = p.idle[:n-1]
	return inst
}

// put returns a healthy instance to its pool while the budget allows:
// first idle instances of other actions make room, then inst goes.
func (p *pool) put(inst *instance) {
	e := p.e
	if over, closed := e.account(inst); closed {
		e.discard(inst)
		return
	} else if over {
		e.evictIdle(p)
		if over, _ = e.account(inst); over {
			e.discard(inst)
			return
		}
	}
	p.mu.Lock()
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

func (p *pool) closeIdle(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range idle {
		_ = inst.mod.Close(ctx)
		inst.mem.release()
	}
}

// account brings inst's memory up to date in the executor's total, and
// reports whether the total is over the budget and whether the executor is
// closed.
func (e *Executor) account(inst *instance) (over, closed bool) {
	size := inst.mem.size.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.live += size - inst.bytes
	inst.bytes = size
	return e.live > e.budget, e.closed
}

// discard closes an instance that is not running.
func (e *Executor) discard(inst *instance) {
	_ = inst.mod.Close(context.Background())
	inst.mem.release()
	e.mu.Lock()
	e.live -= inst.bytes
	inst.bytes = 0
	e.mu.Unlock()
}

// evictIdle closes idle instances of pools other than keep until the live
// memory fits the budget.
func (e *Executor) evictIdle(keep *pool) {
	e.mu.Lock()
	pools := make([]*pool, 0, len(e.pools))
	for _, p := range e.pools {
		if p != keep {
			pools = append(pools, p)
		}
	}
	e.mu.Unlock()
	for _, p := range pools {
		for {
			e.mu.Lock()
			fits := e.live <= e.budget
			e.mu.Unlock()
			if fits {
				return
			}
			inst := p.take()
			if inst == nil {
				break
			}
			e.discard(inst)
		}
	}
}
