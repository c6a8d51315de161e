package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/standalone"
	"github.com/faasedge/faasedge/whisk"
)

// runStandalone starts the stack, prints where it is once the invokers are
// healthy, and stops it cleanly on Ctrl-C.
func runStandalone(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("standalone", stderr)
	addr := fs.String("addr", "127.0.0.1:3233", "address of the OpenWhisk REST API")
	dataDir := fs.String("data-dir", filepath.Join(defaultDataDir(), "standalone"), "where documents and compiled modules are kept")
	redisURL := fs.String("redis", "", "keep the actions' key-value store in this Redis (redis://host:port[/db]) instead of the embedded one")
	couch := fs.String("couchdb", "", "use this CouchDB (or pouchdb-server) instead of the embedded store, e.g. http://admin:pass@127.0.0.1:5984")
	invokers := fs.Int("invokers", 1, "number of invoker engines")
	memory := fs.String("user-memory", "2048m", "memory each invoker offers to actions")
	edgeNodes := fs.Int("edge-nodes", 2, "number of edge nodes started on loopback, whose memory virtual invokers lend to the controller (0: none)")
	edgeMemory := fs.String("edge-memory", "1024m", "memory each edge node volunteers, in two offers")
	virtual := fs.Int("virtual-invokers", 1, "number of virtual invokers sharing the edge nodes' memory; their ids follow the invokers'")
	dataMount := fs.String("data-mount", "", "host directory every action reads at /data, read-only, on the invokers and the edge nodes")
	var peers repeated
	fs.Var(&peers, "peer", "multiaddr (with /p2p/<id>) of an IPFS peer serving ipfs://<CID> action code; repeatable")
	compiles := fs.Int("compile-concurrency", executor.DefaultCompileConcurrency, "wasm modules compiled at once when actions are created or updated (-1: none, each compiles on its first invoke)")
	compileDisk := fs.String("compile-disk", "2048m", "disk kept for compiled wasm modules under --data-dir")
	logLevel := fs.String("log-level", "warn", "log level of every component: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mem, err := whisk.ParseConfigSize(*memory)
	if err != nil {
		return fmt.Errorf("%w: --user-memory: %w", errUsage, err)
	}
	if *invokers < 1 {
		return fmt.Errorf("%w: --invokers must be at least 1", errUsage)
	}
	disk, err := whisk.ParseConfigSize(*compileDisk)
	if err != nil {
		return fmt.Errorf("%w: --compile-disk: %w", errUsage, err)
	}
	edgeMem, err := whisk.ParseConfigSize(*edgeMemory)
	if err != nil {
		return fmt.Errorf("%w: --edge-memory: %w", errUsage, err)
	}
	if *edgeNodes < 0 {
		return fmt.Errorf("%w: --edge-nodes must not be negative", errUsage)
	}
	if *edgeNodes > 0 && *virtual < 1 {
		return fmt.Errorf("%w: --virtual-invokers must be at least 1 with edge nodes", errUsage)
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %w", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s, err := standalone.Start(ctx, standalone.Config{
		APIAddr: *addr, DataDir: *dataDir, CouchURL: *couch, RedisURL: *redisURL, DataMount: *dataMount,
		Invokers: *invokers, UserMemory: mem, IPFSPeers: peers, Logger: log,
		EdgeNodes: *edgeNodes, EdgeMemory: edgeMem, VirtualInvokers: *virtual,
		Compile: executor.CompileBudget{Concurrent: *compiles, DiskBytes: int64(disk)},
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.Close(cctx); err != nil {
			fmt.Fprintf(stderr, "faasedge standalone: stopping: %v\n", err)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.WaitReady(rctx); err != nil {
		return err
	}
	s.Banner(stdout)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping: letting activations in flight finish...")
	return nil
}
