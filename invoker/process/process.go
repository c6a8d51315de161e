// Package process composes the drop-in invoker as `faasedge invoker` runs
// it: the stock environment read into an invoker.Config, a worker (its
// executor, IPFS node and key-value store) for the wasm actions, and the
// engine. It is apart from package invoker, which so stays clear of
// libp2p and of p2p/ipfs (whose tests run an engine on their own node).
package process

import (
	"context"
	"errors"
	"log/slog"

	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/worker"
)

// Config configures the drop-in invoker as `faasedge invoker` runs
// it: what the stock invoker takes as arguments, and the worker its wasm
// actions run on. Everything else comes from the stock environment
// (invoker.FromEnv, invoker.TLSFromEnv), as it does for the stock invoker.
type Config struct {
	// Instance, UniqueName and DisplayedName are the stock --id,
	// --uniqueName and --displayedName.
	Instance                  int
	UniqueName, DisplayedName string
	// Worker runs the wasm actions. Open sets its Memory to the
	// environment's user memory and its Logger to Logger. A Compile
	// budget that allows compiles prewarms the actions the controller
	// announces (invoker.Config.Prewarm).
	Worker worker.Config
	// Getenv reads the environment (os.Getenv in the binary).
	Getenv func(string) string
	// Logger receives every component's logs (discarded when nil).
	Logger *slog.Logger
}

// Process is the drop-in invoker's engine with the worker it runs wasm
// actions on; nodejs actions run on an invoker.JSRunner of its own.
type Process struct {
	engine *invoker.Engine
	work   *worker.Worker
}

// Open reads the environment, opens the worker and builds the engine; a
// bad or missing variable is an *invoker.EnvError naming it. On failure,
// what was opened is closed.
func Open(ctx context.Context, pc Config) (*Process, error) {
	cfg, err := invoker.FromEnv(pc.Getenv)
	if err != nil {
		return nil, err
	}
	if cfg.TLS, err = invoker.TLSFromEnv(pc.Getenv); err != nil {
		return nil, err
	}
	log := pc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wcfg := pc.Worker
	wcfg.Memory, wcfg.Logger = cfg.UserMemory, log
	w, err := worker.Open(ctx, wcfg)
	if err != nil {
		return nil, err
	}
	cfg.Instance, cfg.UniqueName, cfg.DisplayedName = pc.Instance, pc.UniqueName, pc.DisplayedName
	cfg.Runner, cfg.Logger = invoker.LocalRunner(w.Executor(), nil), log
	if n := w.IPFS(); n != nil {
		// The engine's /metrics shows the node's fetches.
		cfg.Metrics = append(cfg.Metrics, n.Metrics())
	}
	if wcfg.Compile.Concurrent >= 0 {
		cfg.Prewarm.Compiler = w.Executor()
	}
	eng, err := invoker.New(ctx, cfg)
	if err != nil {
		return nil, errors.Join(err, w.Close(context.WithoutCancel(ctx)))
	}
	return &Process{engine: eng, work: w}, nil
}

// Run runs the engine until ctx is done (invoker.Engine.Run), then closes the
// worker. Call it once.
func (p *Process) Run(ctx context.Context) error {
	return errors.Join(p.engine.Run(ctx), p.work.Close(context.WithoutCancel(ctx)))
}
