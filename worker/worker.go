// Package worker composes what runs WebAssembly actions in a process: the
// executor, the IPFS node it fetches ipfs://<CID> code from, shows at /ipfs
// and publishes what actions add to, an operator's /data directory, and the
// key-value store of actions annotated faasedge-kv.
//
// The drop-in invoker (invoker/process), `faasedge exec`, the standalone and
// the edge nodes (p2p/edge) all run their actions on a Worker, so that an
// action sees the same mounts and capabilities wherever it runs.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/closer"
	"github.com/faasedge/faasedge/kv"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/whisk"
)

// Config is a worker's configuration; zero values take the executor's
// defaults and open nothing optional.
type Config struct {
	// IPFS is a node the caller runs (an edge node's block exchange, on
	// the ring's host) and closes after the worker. When nil, Node
	// configures one of the worker's own.
	IPFS *ipfs.Node
	// Node configures the worker's own IPFS node. Nil, with no IPFS:
	// none, and code by CID fails.
	Node *Node
	// ModulesDir keeps the compiled modules on disk, across restarts
	// (in memory when empty).
	ModulesDir string
	// Memory bounds the linear memory of the actions running at once
	// (executor.DefaultMemoryBudget when zero).
	Memory whisk.ByteSize
	// Compile bounds compiling modules ahead of their first activation.
	Compile executor.CompileBudget
	// HTTP is the operator's outbound HTTP policy (the executor's
	// default when nil).
	HTTP *executor.HTTPPolicy
	// DataMount is a host directory actions read at /data, read-only
	// (none when empty).
	DataMount string
	// KeyValue backs faasedge-kv; the caller closes it. When nil, the
	// worker dials RedisURL (redis://host:port[/db]) or, without one,
	// opens an embedded store in KVDir; with neither, such actions fail
	// with a link error naming the capability.
	KeyValue executor.KeyValue
	RedisURL string
	KVDir    string
	// Logger receives the executor's, the node's and the store's logs
	// (discarded when nil).
	Logger *slog.Logger
}

// Node configures a worker's own IPFS node: a DHT client on a host of
// its own that keeps its identity and blocks under Host.DataDir (in
// memory, with a fresh identity, when empty) and stays connected to the
// Host.Bootstrap peers.
type Node struct {
	Host p2p.Config
	// Gateway is a trustless HTTP gateway to fall back on (off when
	// empty).
	Gateway string
	// Logger receives the node's logs instead of Config.Logger.
	Logger *slog.Logger
}

// Worker is a running executor with its IPFS node and key-value store.
type Worker struct {
	host *p2p.Host  // nil unless the worker opened its node
	node *ipfs.Node // nil unless the worker opened it
	ipfs *ipfs.Node // the node in use: node or Config.IPFS
	kv   io.Closer  // nil unless the worker opened it
	kvs  executor.KeyValue
	exec *executor.Executor
}

// Open starts a worker: its IPFS node and key-value store, then the
// executor on them. ctx bounds the start-up; the node's /ipfs mount
// outlives it, until Close. On failure, what was opened is closed.
func Open(ctx context.Context, cfg Config) (w *Worker, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A failing return sets w to nil: close what was opened through
	// another name.
	opened := &Worker{ipfs: cfg.IPFS, kvs: cfg.KeyValue}
	w = opened
	defer func() {
		if err != nil {
			err = errors.Join(err, opened.Close(context.WithoutCancel(ctx)))
		}
	}()
	opts := []executor.Option{executor.WithLogger(log.With("component", "executor")), executor.WithCompileBudget(cfg.Compile)}
	if cfg.DataMount != "" {
		m, err := DataMount(cfg.DataMount)
		if err != nil {
			return nil, err
		}
		opts = append(opts, m)
	}
	if w.ipfs == nil && cfg.Node != nil {
		if w.host, w.node, err = cfg.Node.Open(ctx, log); err != nil {
			return nil, fmt.Errorf("ipfs node: %w", err)
		}
		w.ipfs = w.node
	}
	if w.ipfs != nil {
		opts = append(opts, executor.WithFetcher(w.ipfs), executor.WithPublisher(w.ipfs),
			executor.WithMount("/ipfs", w.ipfs.FS(context.WithoutCancel(ctx))))
	}
	if w.kvs == nil && (cfg.RedisURL != "" || cfg.KVDir != "") {
		if err := w.openKeyValue(cfg.RedisURL, cfg.KVDir, log); err != nil {
			return nil, err
		}
	}
	if w.kvs != nil {
		opts = append(opts, executor.WithKeyValue(w.kvs))
	}
	if cfg.ModulesDir != "" {
		opts = append(opts, executor.WithDataDir(cfg.ModulesDir))
	}
	if cfg.Memory > 0 {
		opts = append(opts, executor.WithMemoryBudget(int64(cfg.Memory)))
	}
	if cfg.HTTP != nil {
		opts = append(opts, executor.WithHTTPPolicy(*cfg.HTTP))
	}
	if w.exec, err = executor.New(ctx, opts...); err != nil {
		return nil, err
	}
	return w, nil
}

// Open starts the node's host, then the node, logging to the Node's
// Logger, else to log (discarded when nil). On failure, the host is closed.
func (c Node) Open(ctx context.Context, log *slog.Logger) (*p2p.Host, *ipfs.Node, error) {
	if c.Logger != nil {
		log = c.Logger
	} else if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hcfg := c.Host
	hcfg.DHTClient = true
	h, err := p2p.NewHost(ctx, hcfg)
	if err != nil {
		return nil, nil, err
	}
	opts := []ipfs.Option{ipfs.WithDataDir(hcfg.DataDir), ipfs.WithPeers(hcfg.Bootstrap...), ipfs.WithLogger(log.With("component", "ipfs"))}
	if c.Gateway != "" {
		opts = append(opts, ipfs.WithGateway(c.Gateway, ipfs.DefaultGatewayDelay))
	}
	n, err := ipfs.New(ctx, h, opts...)
	if err != nil {
		return nil, nil, errors.Join(err, h.Close())
	}
	return h, n, nil
}

func (w *Worker) openKeyValue(redisURL, dir string, log *slog.Logger) error {
	if redisURL != "" {
		r, err := kv.DialRedis(redisURL)
		if err != nil {
			return err
		}
		w.kv, w.kvs = r, r
		return nil
	}
	p, err := kv.OpenPebble(dir, log.With("component", "kv"))
	if err != nil {
		return err
	}
	w.kv, w.kvs = p, p
	return nil
}

// DataMount is the executor option that shows the host directory dir to
// actions at /data, read-only, once dir is checked to be a directory.
func DataMount(dir string) (executor.Option, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("data mount %s is not a directory (%v)", dir, err)
	}
	return executor.WithMount("/data", os.DirFS(dir)), nil
}

// Executor runs the worker's actions.
func (w *Worker) Executor() *executor.Executor { return w.exec }

// IPFS is the worker's IPFS node (nil without one).
func (w *Worker) IPFS() *ipfs.Node { return w.ipfs }

// Host is the host of the worker's own IPFS node (nil when it opened
// none).
func (w *Worker) Host() *p2p.Host { return w.host }

// KeyValue is the store behind faasedge-kv (nil without one).
func (w *Worker) KeyValue() executor.KeyValue { return w.kvs }

// Close stops the executor (ctx bounds its wait for runs in flight), then
// closes the store and the node the worker opened.
func (w *Worker) Close(ctx context.Context) error {
	var errs []error
	if w.exec != nil {
		errs = append(errs, w.exec.Close(ctx))
	}
	return errors.Join(append(errs, closer.Close(w.kv), closer.Close(w.node), closer.Close(w.host))...)
}
