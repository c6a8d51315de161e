package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// run is one activation in progress.
type run struct {
	e          *Executor
	a          *activation.Action
	in         activation.Invocation
	limits     whisk.Limits
	timeout    time.Duration
	maxPayload int64
	out        *capture

	begin, runStart, end time.Time
	cold, timedOut       bool
	fetch                activation.Fetch // what the guest waited for on its mounts
	resp                 whisk.ActivationResponse
}

// runLimits fills in the defaults of unset limits.
func runLimits(l whisk.Limits) whisk.Limits {
	if l.Timeout <= 0 {
		l.Timeout = whisk.DefaultTimeoutMs
	}
	if l.Memory <= 0 {
		l.Memory = whisk.DefaultMemoryMB
	}
	l.Logs = max(l.Logs, 0)
	l.Concurrency = max(l.Concurrency, 1)
	return l
}

func newRun(e *Executor, a *activation.Action, in activation.Invocation) *run {
	l := runLimits(a.Limits)
	maxPayload := in.MaxPayload
	if maxPayload <= 0 {
		maxPayload = whisk.PayloadMax
	}
	return &run{
		e: e, a: a, in: in, limits: l, maxPayload: maxPayload,
		timeout: time.Duration(l.Timeout) * time.Millisecond,
		out:     newCapture(l.Logs<<20, maxPayload),
	}
}

func (r *run) memoryBytes() uint64 { return uint64(r.limits.Memory) << 20 }

func (r *run) exec(ctx context.Context) {
	r.begin = time.Now()
	defer func() { r.end = time.Now() }()

	m, cold, err := r.e.module(ctx, r.a, r.timeout)
	r.cold = cold
	var dev *devError
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed):
		r.fail(whisk.StatusWhiskError, whisk.MsgProvisionFailed)
		return
	case errors.As(err, &dev):
		r.fail(whisk.StatusDeveloperError, dev.msg)
		return
	case ctx.Err() != nil:
		r.contextFailure(ctx, true)
		return
	default:
		r.e.log.Error("executor: loading an action failed", "action", r.a.Name.DocID(), "err", err)
		r.fail(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
		return
	}
	defer r.e.done(m)
	// Checked before instantiating: wazero panics when the memory
	// allocator refuses a module's initial memory.
	if m.info.memoryFits(r.limits.Memory) != nil {
		r.fail(whisk.StatusDeveloperError, whisk.MsgMemoryExhausted)
		return
	}
	if err := m.info.hostFits(r.limits.Memory); err != nil {
		r.fail(whisk.StatusDeveloperError, err.Error())
		return
	}
	if ctx, err = r.link(ctx, m); err != nil {
		r.fail(whisk.StatusDeveloperError, err.Error())
		return
	}
	if m.reactor {
		r.reactor(ctx, m)
	} else {
		r.command(ctx, m)
	}
}

// command runs a command module: a fresh instance whose _start runs during
// instantiation.
func (r *run) command(ctx context.Context, m *module) {
	value := r.value()
	stdin := make([]byte, len(value)+1)
	copy(stdin, value)
	stdin[len(value)] = '\n'
	cfg := r.e.base.
		WithStdin(bytes.NewReader(stdin)).
		WithStdout(r.out.stdout()).
		WithStderr(r.out.stderr()).
		WithArgs(r.a.Name.Name).
		WithStartFunctions(exportStart)
	r.in.EachEnv(r.a, func(k, v string) { cfg = cfg.WithEnv(k, v) })
	var fetch fetchMeter
	if len(r.e.mounts) > 0 {
		cfg = cfg.WithFSConfig(r.e.fsConfig(&fetch))
	}
	mem := newMemoryLimit(r.memoryBytes())
	r.runStart = time.Now()
	mod, timedOut, err := r.instantiate(ctx, m, cfg, mem, "running")
	if mod != nil {
		_ = mod.Close(ctx)
	}
	r.fetch = fetch.take()
	mem.release()
	r.out.flush()
	body, n := r.out.takeResult()
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		err = nil
	}
	switch {
	case r.stopped(ctx, err, timedOut, mem, false):
	case err == nil:
		r.respond(body, n, false)
	case exit != nil:
		r.respond(body, n, true)
	default: // a trap
		r.fail(whisk.StatusDeveloperError, whisk.MsgAbnormalRun)
	}
}

// instantiate instantiates m with cfg under the memory limit mem, the
// action's timeout bounding its start functions (a command's whole run, a
// reactor's _initialize); a panic in wazero is an error, logged as
// happening while doing what. timedOut says the timeout or ctx ended it.
func (r *run) instantiate(ctx context.Context, m *module, cfg wazero.ModuleConfig, mem *memoryLimit, what string) (mod api.Module, timedOut bool, err error) {
	ictx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err = recovered(r.e.log, what, r.a, func() (err error) {
		mod, err = r.e.rt.InstantiateModule(experimental.WithMemoryAllocator(ictx, mem), m.compiled, cfg)
		return err
	})
	return mod, ictx.Err() != nil, err
}

// stopped records the failure of an instance whose start or call ended in
// err for a reason that is not the action's answer: the executor closing
// it (which wazero may report as a clean exit), the action's timeout or
// ctx ending (timedOut; init says it ended the start of a reactor), the
// memory limit. It reports whether it recorded one; otherwise err, nil
// included, is the caller's to map.
func (r *run) stopped(ctx context.Context, err error, timedOut bool, mem *memoryLimit, init bool) bool {
	switch {
	case r.e.isClosed():
		r.fail(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
	case err == nil:
		return false
	case timedOut:
		r.contextFailure(ctx, init)
	case mem.refused.Load():
		r.fail(whisk.StatusDeveloperError, whisk.MsgMemoryExhausted)
	default:
		return false
	}
	return true
}

// value is the activation's value, {} when absent.
func (r *run) value() []byte {
	if v := bytes.TrimSpace(r.in.Value); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		return v
	}
	return []byte("{}")
}

// respond maps a result (its first bytes and full length) to the response,
// as the stock invoker maps a /run response. failed says the guest exited
// with a non-zero code, the analogue of a non-200 answer.
func (r *run) respond(body []byte, n int64, failed bool) {
	if n > r.maxPayload {
		r.resp = whisk.ErrorResponse(whisk.StatusApplicationError,
			whisk.MsgTruncatedResponse(n, r.maxPayload, string(body[:r.maxPayload])))
		r.resp.Size = &n
		return
	}
	t := bytes.TrimSpace(body)
	var obj struct {
		Error json.RawMessage `json:"error"` // "null" when present and null
	}
	switch {
	case len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &obj) == nil:
		if e := obj.Error; len(e) > 0 {
			code := whisk.StatusApplicationError
			if failed {
				code = whisk.StatusDeveloperError
			}
			res := make([]byte, 0, len(e)+10)
			res = append(append(append(res, `{"error":`...), e...), '}')
			r.resp = whisk.ActivationResponse{StatusCode: code, Result: res}
		} else if failed {
			r.fail(whisk.StatusDeveloperError, whisk.MsgAbnormalRun)
			return
		} else {
			r.resp = whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: bytes.Clone(t)}
		}
	case !failed && len(t) > 0 && t[0] == '[' && json.Valid(t):
		r.resp = whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: bytes.Clone(t)}
	case failed:
		r.fail(whisk.StatusDeveloperError, whisk.MsgAbnormalRun)
		return
	default:
		r.resp = whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgInvalidRunResponse(string(body)))
	}
	r.resp.Size = &n
}

func (r *run) fail(code whisk.StatusCode, msg string) {
	r.resp = whisk.ErrorResponse(code, msg)
}

// contextFailure maps an ended context: the action's timeout is the stock
// timeout error; a caller that gave up (shutdown) is not the action's fault.
func (r *run) contextFailure(parent context.Context, init bool) {
	if errors.Is(parent.Err(), context.Canceled) {
		r.fail(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
		return
	}
	r.timedOut = true
	if init {
		r.fail(whisk.StatusDeveloperError, whisk.MsgInitTimeout(r.limits.Timeout))
	} else {
		r.fail(whisk.StatusDeveloperError, whisk.MsgTimeout(r.limits.Timeout))
	}
}

func (r *run) result() activation.Result {
	res := activation.Result{Response: r.resp, Cold: r.cold, TimedOut: r.timedOut, End: r.end, Fetch: r.fetch}
	start := r.runStart
	if start.IsZero() { // failed before running: the whole interval was init
		start = r.end
	}
	if r.cold {
		res.InitTime = start.Sub(r.begin)
	}
	res.Start = start.Add(-res.InitTime)
	if r.limits.Logs > 0 {
		res.Logs = r.out.logs(r.limits.Logs<<20, r.resp.StatusCode == whisk.StatusDeveloperError)
	}
	return res
}
