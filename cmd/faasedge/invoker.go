package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/memtrim"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/kv"
)

// invokerEnv gives the invoker's own flags their defaults: the stock
// deployment passes only environment (openwhisk-wire.md 7).
var invokerEnv = map[string]string{
	"data-dir": "FAASEDGE_DATA_DIR", "peer": "FAASEDGE_PEERS", "listen": "FAASEDGE_LISTEN", "gateway": "FAASEDGE_GATEWAY",
	"redis": "FAASEDGE_REDIS", "compile-concurrency": "FAASEDGE_COMPILE_CONCURRENCY", "compile-disk": "FAASEDGE_COMPILE_DISK",
}

// invokerOptions start the invoker like the stock one: --id N --uniqueName
// S [--displayedName D], configured by the stock environment
// (openwhisk-wire.md 7). A bad or missing variable is one error line that
// names it.
type invokerOptions struct {
	id, overwriteID           int
	uniqueName, displayedName string
	// Code by CID: every invoker runs an IPFS node.
	node    ipfsFlags
	redis   string
	compile compileFlags
}

func (o *invokerOptions) run(ctx context.Context, _ []string, _, stderr io.Writer) error {
	if o.id < 0 {
		if o.overwriteID >= 0 || o.uniqueName != "" {
			return fmt.Errorf("%w: --id is required: dynamic id assignment through ZooKeeper is not supported", errUsage)
		}
		return fmt.Errorf("%w: --id is required", errUsage)
	}
	cfg, err := invoker.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	tlsCfg, err := invoker.TLSFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, false)
	exOpts := []executor.Option{executor.WithMemoryBudget(int64(cfg.UserMemory)), executor.WithLogger(log),
		executor.WithCompileBudget(o.compile.budget())}
	if o.redis != "" {
		store, err := kv.DialRedis(o.redis)
		if err != nil {
			return err
		}
		defer store.Close()
		exOpts = append(exOpts, executor.WithKeyValue(store))
	}
	ex, ipfsNode, closeExec, err := openExecutor(ctx, o.node.dataDir, &o.node, stderr, exOpts...)
	if err != nil {
		return err
	}
	defer closeExec()
	cfg.Instance, cfg.UniqueName, cfg.DisplayedName = o.id, o.uniqueName, o.displayedName
	cfg.Runner, cfg.TLS, cfg.Logger = invoker.LocalRunner(ex, nil), tlsCfg, log
	cfg.Metrics = append(cfg.Metrics, ipfsNode.Metrics())
	if o.compile.concurrency >= 0 {
		cfg.Prewarm.Compiler = ex
	}
	eng, err := invoker.New(ctx, cfg)
	if err != nil {
		return err
	}
	go memtrim.Run(ctx, memtrim.Every)
	return untilStopped(eng.Run(ctx))
}
