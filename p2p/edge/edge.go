// Package edge composes an edge volunteer of the offer ring from its parts:
// a libp2p host (package p2p), the IPFS block exchange that fetches action
// code by CID (p2p/ipfs), the WebAssembly executor (executor) and the ring
// node that publishes offers and serves claims and runs (p2p/ring).
//
// `faasedge node` is flag parsing around Start; the standalone starts a few
// Nodes on loopback so that its virtual invokers have edge capacity; tests
// start them as real ring members. A Node given no memory supplies nothing:
// it is a plain ring member, as a scheduler or an edge client is.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/internal/closer"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
	"github.com/faasedge/faasedge/worker"
)

// Config is a node's configuration; zero values take the defaults.
type Config struct {
	// Host configures the libp2p host: listen addresses, bootstrap peers,
	// private network key, allow-list. Its DataDir also keeps the block
	// store and the compiled modules; empty keeps everything in memory.
	Host p2p.Config
	// ModulesDir keeps the compiled modules instead of Host.DataDir: nodes
	// of one process (the standalone's) share one cache, and compile each
	// module once.
	ModulesDir string
	// OffersMB is the memory volunteered, one offer (virtual node) per
	// entry, so that it lands in several regions. Empty: the node supplies
	// nothing and runs no executor.
	OffersMB []int
	// IPFSPeers are multiaddrs (with /p2p/<id>) of nodes the block
	// exchange stays connected to besides the bootstrap peers: where the
	// code of the actions this node runs is added.
	IPFSPeers []string
	// Schedulers receive the node's free offers as their backup list.
	Schedulers []peer.AddrInfo
	// SchedulerIndex is the /ipns/<name> of a scheduler index, resolved now
	// and then; its schedulers get the backup list too.
	SchedulerIndex string
	// Refresh is how often offers are re-published (ring.DefaultRefresh);
	// they expire at traders after three periods.
	Refresh time.Duration
	// AllowedHosts is the operator's outbound HTTP policy: actions run here
	// reach only hosts in both their own faasedge-allowed-hosts and this
	// list ("*" leaves the actions' lists as they are). Empty: no outbound
	// HTTP from this node.
	AllowedHosts []string
	// KeyValue backs the faasedge-kv capability of the actions run here;
	// without one, such actions fail with a link error naming it. What
	// they publish with ipfs_add goes to the node's own IPFS node.
	KeyValue executor.KeyValue
	// DataMount is a host directory the actions run here read at /data
	// (read-only): data an operator placed on the node. Empty: no /data.
	// Every node shows its block exchange at /ipfs.
	DataMount string
	// RingOptions are applied after the ones Config implies (tests shorten
	// the timers with ring.WithTimers, for instance).
	RingOptions []ring.Option
	// Logger receives every component's logs (discarded when nil).
	Logger *slog.Logger
}

// Node is a running ring member.
type Node struct {
	host   *p2p.Host
	code   *ipfs.Node
	work   *worker.Worker // nil when the node supplies nothing
	runner *Executor
	tr     *ring.HostTransport
	ring   *ring.Node
	offers []int
	bw     metrics.Reporter
	log    *slog.Logger

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start brings a node up: host, block exchange, executor (when it supplies
// memory) and ring node, then publishes its offers. ctx bounds the
// start-up only; the node runs until Close.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Refresh <= 0 {
		cfg.Refresh = ring.DefaultRefresh
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Host.Bandwidth == nil {
		cfg.Host.Bandwidth = metrics.NewBandwidthCounter()
	}
	n := &Node{offers: append([]int(nil), cfg.OffersMB...), log: log, bw: cfg.Host.Bandwidth}
	defer func() {
		if err != nil {
			n.Close(context.WithoutCancel(ctx))
		}
	}()
	if n.host, err = p2p.NewHost(ctx, cfg.Host); err != nil {
		return nil, fmt.Errorf("edge: host: %w", err)
	}
	// The block exchange serves code to other nodes and fetches ours.
	iopts := []ipfs.Option{ipfs.WithPeers(cfg.Host.Bootstrap...), ipfs.WithPeers(cfg.IPFSPeers...), ipfs.WithLogger(log.With("component", "ipfs"))}
	if cfg.Host.DataDir != "" {
		iopts = append(iopts, ipfs.WithDataDir(cfg.Host.DataDir))
	}
	if n.code, err = ipfs.New(ctx, n.host, iopts...); err != nil {
		return nil, fmt.Errorf("edge: ipfs: %w", err)
	}
	ropts := []ring.Option{
		ring.WithTimers(cfg.Refresh, 3*cfg.Refresh, ring.DefaultLeaseTTL),
		ring.WithSchedulers(cfg.Schedulers),
		ring.WithLogger(log.With("component", "ring")),
	}
	if len(cfg.OffersMB) > 0 {
		total := 0
		for _, mb := range cfg.OffersMB {
			total += mb
		}
		if cfg.ModulesDir == "" {
			cfg.ModulesDir = cfg.Host.DataDir
		}
		if n.work, err = worker.Open(ctx, worker.Config{IPFS: n.code, ModulesDir: cfg.ModulesDir,
			Memory: whisk.ByteSize(total) * whisk.MB, DataMount: cfg.DataMount, KeyValue: cfg.KeyValue,
			HTTP:   &executor.HTTPPolicy{AllowedHosts: append([]string{}, cfg.AllowedHosts...)},
			Logger: log}); err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
		n.runner = &Executor{ex: n.work.Executor(), code: n.code}
		ropts = append(ropts, ring.WithExecutor(n.runner))
	}
	n.tr = ring.NewHostTransport(n.host, log.With("component", "ring"))
	if n.ring, err = ring.New(n.tr, n.host.Peerstore().PrivKey(n.host.ID()), append(ropts, cfg.RingOptions...)...); err != nil {
		return nil, fmt.Errorf("edge: ring: %w", err)
	}
	if len(cfg.OffersMB) > 0 {
		if err := n.ring.Supply(cfg.OffersMB...); err != nil {
			return nil, fmt.Errorf("edge: offers %v MB: %w", cfg.OffersMB, err)
		}
	}
	var bctx context.Context
	bctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.SchedulerIndex != "" {
		name, err := ipns.NameFromString(cfg.SchedulerIndex)
		if err != nil {
			return nil, fmt.Errorf("edge: scheduler index %q: %w", cfg.SchedulerIndex, err)
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.followIndex(bctx, name, cfg.Schedulers, cfg.Refresh)
		}()
	}
	n.ring.Start(bctx)
	log.Info("edge node started", "peer", n.host.ID(), "addrs", n.host.FullAddrs(), "offersMB", n.offers)
	return n, nil
}

// followIndex resolves the scheduler index now and then, so the backup list
// reaches the schedulers the operator lists.
func (n *Node) followIndex(ctx context.Context, name ipns.Name, fixed []peer.AddrInfo, every time.Duration) {
	t := time.NewTicker(every * 6)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, every)
		infos, err := ring.ResolveIndex(rctx, n.host.DHT, name)
		cancel()
		if err != nil {
			n.log.Warn("resolve scheduler index", "name", name, "err", err)
		} else {
			n.ring.SetSchedulers(append(append([]peer.AddrInfo(nil), fixed...), infos...))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Host is the node's libp2p host.
func (n *Node) Host() *p2p.Host { return n.host }

// IPFS is the node's block exchange: what is added to it, other nodes can
// fetch by CID.
func (n *Node) IPFS() *ipfs.Node { return n.code }

// Ring is the node's ring member, through which it also schedules and runs
// work on other nodes.
func (n *Node) Ring() *ring.Node { return n.ring }

// Transport is the ring's libp2p transport, on which other services (the
// Function Manager's deploy protocol, for one) register and call.
func (n *Node) Transport() *ring.HostTransport { return n.tr }

// Executor runs the activations the node is sent; nil when it supplies
// nothing.
func (n *Node) Executor() *Executor { return n.runner }

// OffersMB is the memory volunteered, one entry per offer.
func (n *Node) OffersMB() []int { return append([]int(nil), n.offers...) }

// Close withdraws the node's offers from their traders (ctx bounds it),
// then stops the ring, the executor, the block exchange and the host.
// Closing again does nothing.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.ring != nil {
			if err := n.ring.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("edge: withdraw offers: %w", err))
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.tr != nil {
			n.tr.Close()
		}
		if n.work != nil {
			errs = append(errs, n.work.Close(ctx))
		}
		errs = append(errs, closer.Close(n.code), closer.Close(n.host))
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// Executor adapts the WebAssembly executor to the ring: it runs remote
// activations with the code fetched by CID over the node's block exchange
// (ring.Executor), fetches the code of a granted claim ahead of its first
// run (ring.Preparer), and counts the runs it serves and what they waited
// for on their data mounts.
type Executor struct {
	ex                     *executor.Executor
	code                   *ipfs.Node
	runs                   atomic.Int64
	inFlight               atomic.Int64
	fetchNanos, fetchBytes atomic.Int64
}

var (
	_ ring.Executor = (*Executor)(nil)
	_ ring.Preparer = (*Executor)(nil)
)

// Runs is the number of activations run so far.
func (e *Executor) Runs() int64 { return e.runs.Load() }

// InFlight is the number of activations running now.
func (e *Executor) InFlight() int64 { return e.inFlight.Load() }

// Fetched is the sum of the runs' Result.Fetch so far.
func (e *Executor) Fetched() activation.Fetch {
	return activation.Fetch{Time: time.Duration(e.fetchNanos.Load()), Bytes: e.fetchBytes.Load()}
}

// Run implements ring.Executor. Edge nodes run code by CID only: inline
// code would make every run message as large as the module.
func (e *Executor) Run(ctx context.Context, req ring.RunRequest) (activation.Result, error) {
	a := req.Action
	if a.Code.CID == "" {
		return activation.Result{}, errors.New("run request without a code CID")
	}
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	a.Kind = whisk.KindWasm
	a.Code = prepared(a.Code.CID)
	if a.Limits.Timeout == 0 {
		a.Limits = whisk.DefaultLimits()
	}
	// The scheduler that sent the run holds code it published itself.
	res := e.ex.Run(ipfs.ContextWithSources(ctx, req.From), &a, req.Invocation)
	e.runs.Add(1)
	e.fetchNanos.Add(int64(res.Fetch.Time))
	e.fetchBytes.Add(res.Fetch.Bytes)
	return res, nil
}

// Prepare implements ring.Preparer: it fetches the code, streamed from the
// claimer first, and has it compiled ahead of the first run, within the
// executor's CompileBudget.
// The module is checked against the default memory limit: one that needs
// more compiles on its first run, as without Prepare.
func (e *Executor) Prepare(ctx context.Context, cid string, from peer.ID) error {
	if _, err := e.code.Fetch(ipfs.ContextWithSources(ctx, from), cid); err != nil {
		return err
	}
	e.ex.Precompile(&activation.Action{Kind: whisk.KindWasm, Code: prepared(cid), Limits: whisk.DefaultLimits()})
	return nil
}

// Ready reports whether the code of cid is compiled, so that its next run
// does not wait to compile.
func (e *Executor) Ready(cid string) bool { return e.ex.Ready(prepared(cid)) }

// prepared is code by CID keyed as Run keys it.
func prepared(cid string) activation.Code { return activation.Code{CID: cid, Digest: cid} }
