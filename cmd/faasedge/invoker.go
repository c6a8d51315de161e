package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/memtrim"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/kv"
	"github.com/faasedge/faasedge/whisk"
)

// runInvoker starts like the stock invoker: --id N --uniqueName S
// [--displayedName D], configured by the stock environment
// (openwhisk-wire.md 7). A bad or missing variable is one error line that
// names it.
func runInvoker(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("invoker", stderr)
	id := fs.Int("id", -1, "invoker instance id (topic invoker{id})")
	uniqueName := fs.String("uniqueName", "", "unique name of this invoker")
	displayedName := fs.String("displayedName", "", "name shown by the controller's /invokers")
	overwriteID := fs.Int("overwriteId", -1, "accepted for compatibility; only meaningful with ZooKeeper id assignment")
	// Code by CID: every invoker runs an IPFS node. The stock deployment
	// passes only environment, so each flag has a variable too.
	node := ipfsFlags{
		dataDir: os.Getenv("FAASEDGE_DATA_DIR"),
		peers:   envList("FAASEDGE_PEERS"),
		listen:  envList("FAASEDGE_LISTEN"),
		gateway: os.Getenv("FAASEDGE_GATEWAY"),
	}
	fs.StringVar(&node.dataDir, "data-dir", node.dataDir, "directory for the compiled-module cache, block store and node identity ($FAASEDGE_DATA_DIR; empty: in memory)")
	fs.Var(&node.peers, "peer", "IPFS/ring peer multiaddr with /p2p/<id> to fetch ipfs://<CID> code from (repeatable; $FAASEDGE_PEERS, comma-separated)")
	fs.Var(&node.listen, "listen", "libp2p listen multiaddr (repeatable; $FAASEDGE_LISTEN; default loopback)")
	fs.StringVar(&node.gateway, "gateway", node.gateway, "trustless HTTP gateway to fall back on for code by CID ($FAASEDGE_GATEWAY; off when empty)")
	redisURL := fs.String("redis", os.Getenv("FAASEDGE_REDIS"), "Redis URL (redis://[user:pass@]host:port[/db]) of the key-value store for actions annotated faasedge-kv ($FAASEDGE_REDIS; none when empty)")
	compilesDefault := executor.DefaultCompileConcurrency
	if v := os.Getenv("FAASEDGE_COMPILE_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return &invoker.EnvError{Var: "FAASEDGE_COMPILE_CONCURRENCY", Err: fmt.Errorf("%q is not a number", v)}
		}
		compilesDefault = n
	}
	diskDefault := os.Getenv("FAASEDGE_COMPILE_DISK")
	if diskDefault == "" {
		diskDefault = "2048m"
	}
	compiles := fs.Int("compile-concurrency", compilesDefault,
		"wasm modules compiled at once ahead of their first activation, as the actions database's _changes shows them created or updated ($FAASEDGE_COMPILE_CONCURRENCY; -1: none, no prewarming: each compiles on its first activation)")
	compileDisk := fs.String("compile-disk", diskDefault, "disk kept for compiled wasm modules under --data-dir ($FAASEDGE_COMPILE_DISK)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	disk, err := whisk.ParseConfigSize(*compileDisk)
	if err != nil {
		return fmt.Errorf("%w: --compile-disk: %w", errUsage, err)
	}
	if *id < 0 {
		if *overwriteID >= 0 || *uniqueName != "" {
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
		executor.WithCompileBudget(executor.CompileBudget{Concurrent: *compiles, DiskBytes: int64(disk)})}
	if *redisURL != "" {
		store, err := kv.DialRedis(*redisURL)
		if err != nil {
			return err
		}
		defer store.Close()
		exOpts = append(exOpts, executor.WithKeyValue(store))
	}
	ex, closeExec, err := openExecutor(ctx, node.dataDir, &node, stderr, exOpts...)
	if err != nil {
		return err
	}
	defer closeExec()
	cfg.Instance, cfg.UniqueName, cfg.DisplayedName = *id, *uniqueName, *displayedName
	cfg.Runner, cfg.TLS, cfg.Logger = invoker.LocalRunner(ex, nil), tlsCfg, log
	if *compiles >= 0 {
		cfg.Prewarm.Compiler = ex
	}
	eng, err := invoker.New(ctx, cfg)
	if err != nil {
		return err
	}
	go memtrim.Run(ctx, memtrim.Every)
	return untilStopped(eng.Run(ctx))
}

// envList splits a comma-separated variable, ignoring empty items.
func envList(name string) repeated {
	var out repeated
	for _, v := range strings.Split(os.Getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
