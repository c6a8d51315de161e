package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/faasedge/faasedge/internal/memtrim"
	"github.com/faasedge/faasedge/invoker/process"
	"github.com/faasedge/faasedge/worker"
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
	p, err := process.Open(ctx, process.Config{
		Instance: o.id, UniqueName: o.uniqueName, DisplayedName: o.displayedName,
		Worker: worker.Config{Node: o.node.worker(stderr), ModulesDir: o.node.dataDir, Compile: o.compile.budget(), RedisURL: o.redis},
		Getenv: os.Getenv, Logger: newLogger(stderr, false),
	})
	if err != nil {
		return err
	}
	go memtrim.Run(ctx, memtrim.Every)
	return untilStopped(p.Run(ctx))
}
