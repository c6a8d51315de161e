package executor

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/faasedge/faasedge/activation"
)

// The exports that tell a module's ABI apart (see the package documentation).
const (
	exportStart      = "_start"
	exportInitialize = "_initialize"
	exportAlloc      = "faasedge_alloc"
	exportRun        = "faasedge_run"
	wasiModule       = "wasi_snapshot_preview1"
)

// module is a compiled module in the in-memory cache. ready is closed when
// the other fields are set.
type module struct {
	ready    chan struct{}
	fetched  chan struct{} // closed once the code is in hand
	compiled wazero.CompiledModule
	reactor  bool
	info     moduleInfo
	// hostImports are the functions it imports from the host module.
	hostImports []string
	err         error

	// Guarded by Executor.mu: runs using the module, and when it was last
	// asked for (Executor.tick), for evicting the least recently used.
	users   int
	lastUse uint64
}

// defaultMaxModules bounds the in-memory cache of compiled modules; the
// disk cache makes a module evicted from it cheap to load again.
const defaultMaxModules = 256

// module returns a's compiled module, fetching and compiling it once per
// digest. cold reports that this call had to wait for that work. The fetch
// is bounded by the action's timeout; compiling is not, as the stock
// invoker's timeout does not cover starting a container. A wait that ends
// with ctx leaves the work going, so that later activations find the module
// ready.
func (e *Executor) module(ctx context.Context, a *activation.Action, timeout time.Duration) (m *module, cold bool, err error) {
	key := a.Code.Key()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, false, ErrClosed
	}
	entry, ok := e.modules[key]
	var evicted []*module
	if !ok {
		entry = &module{ready: make(chan struct{}), fetched: make(chan struct{})}
		e.modules[key] = entry
		evicted = e.evictModules()
		e.loads.Add(1)
		go e.load(context.WithoutCancel(ctx), key, entry, *a, timeout)
	}
	e.tick++
	entry.users++
	entry.lastUse = e.tick
	e.mu.Unlock()
	for _, old := range evicted {
		if old.compiled != nil {
			// Safe with instances of it still running (wazero says so).
			_ = old.compiled.Close(context.Background())
		}
	}
	defer func() {
		if err != nil {
			e.done(entry)
		}
	}()
	m = entry
	select {
	case <-m.ready:
		// A load this call started is a cold start even when it finished
		// (from the disk cache) before we got here to wait for it.
		return m, !ok, m.err
	default:
	}
	// A fetch is bounded by the action's timeout even if the Fetcher
	// ignores its context.
	var fetchTimeout <-chan time.Time
	if a.Code.CID != "" {
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
				return nil, true, devErrorf("could not fetch code %s: %v", a.Code, context.DeadlineExceeded)
			}
		}
	}
}

// done ends a use of m that module began.
func (e *Executor) done(m *module) {
	e.mu.Lock()
	m.users--
	e.mu.Unlock()
}

// evictModules drops least recently used modules that no run is using
// until the cache is within its bound, and returns them for closing.
// e.mu is held.
func (e *Executor) evictModules() []*module {
	var out []*module
	for len(e.modules) > e.maxModules {
		var oldest *module
		var oldestKey string
		for k, m := range e.modules {
			select {
			case <-m.ready:
			default:
				continue // still loading
			}
			if m.users == 0 && (oldest == nil || m.lastUse < oldest.lastUse) {
				oldest, oldestKey = m, k
			}
		}
		if oldest == nil {
			break
		}
		delete(e.modules, oldestKey)
		out = append(out, oldest)
	}
	return out
}

func (e *Executor) load(ctx context.Context, key string, m *module, a activation.Action, timeout time.Duration) {
	defer e.loads.Done()
	defer close(m.ready)
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := e.loadCode(fctx, &a)
	close(m.fetched)
	cacheable := true // only bad code stays cached
	if err == nil {
		m.info, err = scanModule(code)
	}
	if err == nil {
		// Over this action's limit, the module is not compiled; another
		// action with a larger limit may still load it.
		if err = m.info.hostFits(runLimits(a.Limits).Memory); err != nil {
			cacheable = false
		}
	}
	if err == nil {
		err = e.compile(ctx, &a, m, code)
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
		if a.Code.CID != "" || !errors.As(err, &dev) || !cacheable {
			// A fetch can succeed later, and so can anything that was not
			// the code's fault.
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

// compile compiles code into m.compiled. A damaged entry of the disk
// cache fails wazero's compile; it is removed and the module compiled
// again, so that the entry cannot fail the module for good.
func (e *Executor) compile(ctx context.Context, a *activation.Action, m *module, code []byte) error {
	do := func() error {
		return recovered(e.log, "compiling", a, func() error {
			var err error
			m.compiled, err = e.rt.CompileModule(ctx, code)
			return err
		})
	}
	err := do()
	if e.disk == nil {
		return err
	}
	if isCacheError(err) {
		n, derr := e.disk.dropDamaged()
		e.log.Warn("executor: damaged compilation cache entry", "code", a.Code.String(), "err", err, "removed", n, "remove_err", derr)
		if n > 0 {
			err = do()
		}
	}
	if err == nil {
		if terr := e.disk.trim(); terr != nil {
			e.log.Warn("executor: compilation cache", "err", terr)
		}
	}
	return err
}

// inspect decides the module's ABI and checks that it only needs what the
// executor provides.
func (e *Executor) inspect(m *module) error {
	cm := m.compiled
	wasi := e.rt.Module(wasiModule).ExportedFunctionDefinitions()
	hostFuncs := e.rt.Module(hostModule).ExportedFunctionDefinitions()
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == wasiModule && wasi[name] != nil:
		case mod == hostModule && hostFuncs[name] != nil:
			m.hostImports = append(m.hostImports, name)
		default:
			return devErrorf("the action's module imports %s.%s: only WASI preview 1 (%s) and the host module %s are provided", mod, name, wasiModule, hostModule)
		}
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
