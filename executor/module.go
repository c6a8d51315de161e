package executor

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The exports that tell a module's ABI apart (see the package documentation).
const (
	exportStart      = "_start"
	exportInitialize = "_initialize"
	exportAlloc      = "faasedge_alloc"
	exportRun        = "faasedge_run"
	wasiModule       = "wasi_snapshot_preview1"
)

var errClosed = errors.New("executor closed")

// module is a compiled module in the in-memory cache. ready is closed when
// the other fields are set.
type module struct {
	ready    chan struct{}
	fetched  chan struct{} // closed once the code is in hand
	compiled wazero.CompiledModule
	reactor  bool
	minPages uint32 // initial linear memory
	err      error
}

// module returns a's compiled module, fetching and compiling it once per
// digest. cold reports that this call had to wait for that work. The fetch
// is bounded by the action's timeout; compiling is not, as the stock
// invoker's timeout does not cover starting a container. A wait that ends
// with ctx leaves the work going, so that later activations find the module
// ready.
func (e *Executor) module(ctx context.Context, a *Action, timeout time.Duration) (m *module, cold bool, err error) {
	key := a.digest()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, false, errClosed
	}
	m, ok := e.modules[key]
	if !ok {
		m = &module{ready: make(chan struct{}), fetched: make(chan struct{})}
		e.modules[key] = m
		e.loads.Add(1)
		go e.load(context.WithoutCancel(ctx), key, m, *a, timeout)
	}
	e.mu.Unlock()
	select {
	case <-m.ready:
		return m, false, m.err
	default:
	}
	// A fetch is bounded by the action's timeout even if the Fetcher
	// ignores its context.
	var fetchTimeout <-chan time.Time
	cid, ipfs := a.cid()
	if ipfs {
		t := time.NewTimer(timeout)
		defer t.Stop()
		fetchTimeout = t.C
	}
	for {
		select {
		case <-m.ready:
			return m, true, m.err
		case <-ctx.Done():
			return nil, true, ctx.Err()
		case <-fetchTimeout:
			select {
			case <-m.fetched:
				fetchTimeout = nil
			default:
				return nil, true, devErrorf("could not fetch code %s%s: %v", ipfsScheme, cid, context.DeadlineExceeded)
			}
		}
	}
}

func (e *Executor) load(ctx context.Context, key string, m *module, a Action, timeout time.Duration) {
	defer e.loads.Done()
	defer close(m.ready)
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := e.loadCode(fctx, &a)
	close(m.fetched)
	if err == nil {
		m.compiled, err = e.rt.CompileModule(ctx, code)
		if err != nil {
			err = devErrorf("the action's WebAssembly module is invalid: %v", err)
		}
	}
	if err == nil {
		err = e.inspect(m)
	}
	if err != nil {
		m.err = err
		var dev *devError
		if _, ipfs := a.cid(); ipfs || !errors.As(err, &dev) {
			// A fetch can succeed later, and so can anything that was not
			// the code's fault: only bad code stays cached.
			e.mu.Lock()
			if e.modules[key] == m {
				delete(e.modules, key)
			}
			e.mu.Unlock()
		}
		if m.compiled != nil {
			_ = m.compiled.Close(ctx)
		}
	}
}

// inspect decides the module's ABI and checks that it only needs what the
// executor provides.
func (e *Executor) inspect(m *module) error {
	cm := m.compiled
	wasi := e.rt.Module(wasiModule).ExportedFunctionDefinitions()
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasiModule || wasi[name] == nil {
			return devErrorf("the action's module imports %s.%s: only WASI preview 1 (%s) is provided", mod, name, wasiModule)
		}
	}
	if len(cm.ImportedMemories()) > 0 {
		return devErrorf("the action's module imports its memory: it must define its own")
	}
	for _, mem := range cm.ExportedMemories() {
		m.minPages = max(m.minPages, mem.Min())
	}
	exports := cm.ExportedFunctions()
	if _, ok := exports[exportStart]; ok {
		return nil
	}
	alloc, ok1 := exports[exportAlloc]
	run, ok2 := exports[exportRun]
	if !ok1 || !ok2 {
		return devErrorf("the action's module exports neither %s (command) nor %s and %s (reactor)", exportStart, exportAlloc, exportRun)
	}
	if !signature(alloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}) {
		return devErrorf("the action's module exports %s with the wrong signature: want (i32) -> i32", exportAlloc)
	}
	if !isEntry(run) {
		return devErrorf("the action's module exports %s with the wrong signature: want (i32, i32) -> i64", exportRun)
	}
	m.reactor = true
	return nil
}

func signature(f api.FunctionDefinition, params, results []api.ValueType) bool {
	return slices.Equal(f.ParamTypes(), params) && slices.Equal(f.ResultTypes(), results)
}

func isEntry(f api.FunctionDefinition) bool {
	return signature(f, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64})
}

// entry is the reactor function an action calls: its Main when the module
// exports such a function, else faasedge_run.
func (m *module) entry(main string) string {
	if main != "" && main != exportRun {
		if f, ok := m.compiled.ExportedFunctions()[main]; ok && isEntry(f) {
			return main
		}
	}
	return exportRun
}
