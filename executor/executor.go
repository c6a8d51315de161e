package executor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/faasedge/faasedge/activation"
)

// DefaultMemoryBudget is the memory pooled reactor instances may hold
// together unless WithMemoryBudget says otherwise.
const DefaultMemoryBudget = 1 << 30

// Fetcher resolves code by CID to the module's bytes (or a zip or base64
// of it, like inline code).
type Fetcher interface {
	Fetch(ctx context.Context, cid string) ([]byte, error)
}

// Option configures an Executor.
type Option func(*config)

type config struct {
	dataDir string
	fetcher Fetcher
	mounts  []mount
	budget  int64
	compile CompileBudget
	log     *slog.Logger
	host    hostConfig
}

// WithDataDir keeps wazero's compilation cache on disk under dir, so that a
// restarted executor does not compile known modules again.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithFetcher resolves code by CID. Without one, such code is a developer
// error.
func WithFetcher(f Fetcher) Option { return func(c *config) { c.fetcher = f } }

// WithMemoryBudget caps the linear memory of all live reactor instances; see
// the package documentation for what happens beyond it. A sixteenth of it
// (of the largest, when several executors share a process) bounds the
// spare linear memories kept for reuse.
func WithMemoryBudget(bytes int64) Option { return func(c *config) { c.budget = bytes } }

// WithLogger sets the executor's own logger (not the actions' logs).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Executor runs wasm actions. It is safe for concurrent use.
type Executor struct {
	rt      wazero.Runtime
	cache   wazero.CompilationCache // nil without a data dir
	disk    *diskCache              // nil without a data dir
	base    wazero.ModuleConfig     // without the mounts: each instance gets its own (fsConfig)
	mounts  []mount
	fetcher Fetcher
	budget  int64
	log     *slog.Logger
	host    *host

	mu         sync.Mutex
	closed     bool
	modules    map[string]*module // by digest
	maxModules int
	tick       uint64           // counts module lookups, for LRU eviction
	pools      map[string]*pool // by poolKey
	live       int64            // linear memory bytes of live reactor instances
	loads      sync.WaitGroup   // module loads under way; Close waits for them

	// Compiling ahead of time (Precompile): a slot per compile, closed
	// stop ends the waits, and counts under mu (aotPeak for tests).
	compileSlots                   chan struct{}
	stop                           chan struct{}
	aotWaiting, aotActive, aotPeak int
}

// New starts a wazero runtime (the optimising compiler where the platform
// has one, the interpreter elsewhere) with WASI preview 1.
func New(ctx context.Context, opts ...Option) (*Executor, error) {
	c := config{budget: DefaultMemoryBudget, log: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	// Debug info off: with it wazero keeps every custom section of a
	// module in memory (and parses DWARF), which a hostile module pads to
	// hundreds of MB; custom sections are dropped before compiling anyway
	// (readModule).
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithDebugInfoEnabled(false)
	if c.compile.Concurrent == 0 {
		c.compile.Concurrent = DefaultCompileConcurrency
	}
	if c.compile.DiskBytes <= 0 {
		c.compile.DiskBytes = DefaultCompileDiskBytes
	}
	var cache wazero.CompilationCache
	var disk *diskCache
	if c.dataDir != "" {
		var err error
		// wazero's cache key leaves out WithCloseOnContextDone, so this
		// directory must only ever hold code compiled with it (code without
		// its checks could not be stopped): hence a directory of our own.
		root := filepath.Join(c.dataDir, "wazero-executor")
		cache, err = wazero.NewCompilationCacheWithDir(root)
		if err != nil {
			return nil, fmt.Errorf("executor: compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(cache)
		disk = newDiskCache(root, c.compile.DiskBytes)
		if err := errors.Join(disk.dropOtherVersions(), disk.trim()); err != nil {
			c.log.Warn("executor: compilation cache", "err", err)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("executor: wasi: %w", err)
	}
	h, err := newHost(ctx, rt, c.host)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	base := wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStartFunctions() // _start and _initialize are called explicitly
	buffers.join(c.budget)
	return &Executor{
		rt: rt, cache: cache, disk: disk, base: base, mounts: c.mounts, fetcher: c.fetcher, budget: c.budget, log: c.log, host: h,
		modules: map[string]*module{}, maxModules: defaultMaxModules, pools: map[string]*pool{},
		compileSlots: make(chan struct{}, max(c.compile.Concurrent, 0)), stop: make(chan struct{}),
	}, nil
}

// Close stops every instance and the runtime; later runs fail with a whisk
// error.
func (e *Executor) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	pools := e.pools
	e.pools = map[string]*pool{}
	e.mu.Unlock()
	close(e.stop)
	e.loads.Wait()
	for _, p := range pools {
		p.closeIdle(ctx)
	}
	buffers.leave(e.budget)
	err := e.rt.Close(ctx)
	e.host.http.transport.CloseIdleConnections()
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

func (e *Executor) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// Run runs one activation of a. It never fails with a Go error: every
// failure is a Result with the stock status code and text, developer errors
// (status 2) for anything the action's code or output caused and whisk
// errors (status 3) for the executor's own faults.
func (e *Executor) Run(ctx context.Context, a *activation.Action, in activation.Invocation) activation.Result {
	r := newRun(e, a, in)
	r.exec(ctx)
	return r.result()
}
