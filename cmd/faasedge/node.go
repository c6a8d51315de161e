package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

func init() {
	register(command{
		name:    "node",
		summary: "run an edge node: volunteer memory to the offer ring and run activations",
		run:     runNode,
	})
}

// nodeFlags are the edge node's settings.
type nodeFlags struct {
	listen, peers, allow, schedulers repeated
	dataDir, pnetKey, index          string
	memoryMB, vnodes                 int
	refresh                          time.Duration
}

func (f *nodeFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.listen, "listen", "libp2p listen multiaddr (repeatable; default "+strings.Join(p2p.DefaultListenAddrs, ",")+")")
	fs.Var(&f.peers, "peer", "ring peer multiaddr with /p2p/<id> to bootstrap from (repeatable)")
	fs.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "node data directory: identity key, block store, compiled modules")
	fs.IntVar(&f.memoryMB, "memory", 1024, "memory (MB) this node volunteers")
	fs.IntVar(&f.vnodes, "vnodes", 2, "offers (virtual nodes) the memory is split into, so it lands in several regions")
	fs.StringVar(&f.pnetKey, "pnet-key", "", "private network key file (libp2p swarm.key format); only holders of it can connect")
	fs.Var(&f.allow, "allow", "peer ID allowed to connect (repeatable); when set, every other peer is refused")
	fs.Var(&f.schedulers, "scheduler", "scheduler multiaddr with /p2p/<id> to push free offers to, the backup list (repeatable)")
	fs.StringVar(&f.index, "scheduler-index", "", "/ipns/<name> of the scheduler index; its schedulers get the backup list")
	fs.DurationVar(&f.refresh, "refresh", ring.DefaultRefresh, "how often offers are re-published")
}

// offers splits the memory into vnodes offers no larger than one offer may be.
func (f *nodeFlags) offers() ([]int, error) {
	if f.vnodes < 1 || f.memoryMB < f.vnodes*ring.DefaultRegions[0].MinMB {
		return nil, fmt.Errorf("--memory %d MB in %d offers: each offer needs at least %d MB", f.memoryMB, f.vnodes, ring.DefaultRegions[0].MinMB)
	}
	out := make([]int, f.vnodes)
	for i := range out {
		out[i] = f.memoryMB / f.vnodes
		if out[i] > ring.MaxOfferMB {
			return nil, fmt.Errorf("--memory %d MB in %d offers: offers above %d MB; use more --vnodes", f.memoryMB, f.vnodes, ring.MaxOfferMB)
		}
	}
	return out, nil
}

func (f *nodeFlags) hostConfig() (p2p.Config, error) {
	cfg := p2p.Config{DataDir: f.dataDir, ListenAddrs: f.listen, Bootstrap: f.peers}
	if f.pnetKey != "" {
		file, err := os.Open(f.pnetKey)
		if err != nil {
			return cfg, fmt.Errorf("--pnet-key: %w", err)
		}
		defer file.Close()
		if cfg.PSK, err = pnet.DecodeV1PSK(file); err != nil {
			return cfg, fmt.Errorf("--pnet-key %s: %w", f.pnetKey, err)
		}
	}
	for _, s := range f.allow {
		id, err := peer.Decode(s)
		if err != nil {
			return cfg, fmt.Errorf("--allow %q: %w", s, err)
		}
		cfg.AllowPeers = append(cfg.AllowPeers, id)
	}
	// Bootstrap peers must pass the allow-list too.
	if len(cfg.AllowPeers) > 0 {
		boot, err := p2p.ParseAddrInfos(f.peers)
		if err != nil {
			return cfg, fmt.Errorf("--peer: %w", err)
		}
		for _, ai := range boot {
			cfg.AllowPeers = append(cfg.AllowPeers, ai.ID)
		}
	}
	return cfg, nil
}

func runNode(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f nodeFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	offers, err := f.offers()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	hcfg, err := f.hostConfig()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	scheds, err := p2p.ParseAddrInfos(f.schedulers)
	if err != nil {
		return fmt.Errorf("%w: --scheduler: %w", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	h, err := p2p.NewHost(ctx, hcfg)
	if err != nil {
		return err
	}
	defer h.Close()
	// The block exchange serves code to other nodes and fetches ours.
	code, err := ipfs.New(ctx, h, ipfs.WithDataDir(f.dataDir), ipfs.WithPeers(f.peers...), ipfs.WithLogger(log))
	if err != nil {
		return err
	}
	defer code.Close()
	ex, err := executor.New(ctx, executor.WithDataDir(f.dataDir), executor.WithFetcher(code),
		executor.WithMemoryBudget(int64(f.memoryMB)<<20), executor.WithLogger(log))
	if err != nil {
		return err
	}
	defer ex.Close(context.WithoutCancel(ctx))

	tr := ring.NewHostTransport(h, log)
	defer tr.Close()
	node, err := ring.New(tr, h.Peerstore().PrivKey(h.ID()),
		ring.WithExecutor(wasmRunner{ex: ex, code: code}),
		ring.WithTimers(f.refresh, 3*f.refresh, ring.DefaultLeaseTTL),
		ring.WithSchedulers(scheds),
		ring.WithLogger(log))
	if err != nil {
		return err
	}
	if err := node.Supply(offers...); err != nil {
		return err
	}
	if f.index != "" {
		go followIndex(ctx, h, node, f.index, scheds, f.refresh, log)
	}
	node.Start(ctx)
	log.Info("edge node started", "peer", h.ID(), "addrs", h.FullAddrs(), "offersMB", offers)
	<-ctx.Done()
	log.Info("edge node stopping: withdrawing offers")
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := node.Close(wctx); err != nil {
		log.Warn("withdraw offers", "err", err)
	}
	return nil
}

// followIndex resolves the scheduler index now and then, so the backup list
// reaches the schedulers the operator lists.
func followIndex(ctx context.Context, h *p2p.Host, node *ring.Node, index string, fixed []peer.AddrInfo, every time.Duration, log *slog.Logger) {
	name, err := ipns.NameFromString(index)
	if err != nil {
		log.Error("--scheduler-index", "err", err)
		return
	}
	t := time.NewTicker(every * 6)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, every)
		infos, err := ring.ResolveIndex(rctx, h.DHT, name)
		cancel()
		if err != nil {
			log.Warn("resolve scheduler index", "name", index, "err", err)
		} else {
			node.SetSchedulers(append(append([]peer.AddrInfo(nil), fixed...), infos...))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// wasmRunner runs remote activations in the WebAssembly executor, with the
// code fetched by CID over the node's block exchange.
type wasmRunner struct {
	ex   *executor.Executor
	code *ipfs.Node
}

// Run implements ring.Executor.
func (w wasmRunner) Run(ctx context.Context, req ring.RunRequest) (ring.RunResponse, error) {
	arrived := time.Now()
	if req.CID == "" {
		return ring.RunResponse{}, errors.New("run request without a code CID")
	}
	path, name := splitActionName(req.ActionName)
	a := &executor.Action{
		Name: name, Namespace: path, Version: req.ActionVersion, Kind: "wasm:wasip1",
		Code: []byte("ipfs://" + req.CID), Digest: req.CID,
		Limits: whisk.Limits{
			Timeout: int64(req.Limits.Timeout), Memory: int64(req.Limits.Memory),
			Logs: int64(req.Limits.Logs), Concurrency: req.Limits.Concurrency,
		},
	}
	if a.Limits.Timeout == 0 {
		a.Limits = whisk.DefaultLimits()
	}
	res := w.ex.Run(ctx, a, executor.Activation{Value: req.Value, Env: req.Env})
	out := ring.RunResponse{
		StatusCode: int(res.Response.StatusCode),
		Result:     res.Response.Result,
		Logs:       res.Logs,
		Start:      res.Start.UnixMilli(),
		End:        res.End.UnixMilli(),
		Duration:   res.End.Sub(res.Start).Milliseconds(),
		WaitTime:   max(res.Start.Sub(arrived).Milliseconds(), 0),
		Timeout:    res.TimedOut,
	}
	if res.Cold {
		out.InitTime = res.InitTime.Milliseconds()
	}
	return out, nil
}

// Prepare implements ring.Preparer: a granted claim fetches the code, so
// the first run does not wait for the block exchange.
func (w wasmRunner) Prepare(ctx context.Context, cid string) error {
	_, err := w.code.Fetch(ctx, cid)
	return err
}

// splitActionName turns "/ns/pkg/name" into ("ns/pkg", "name").
func splitActionName(s string) (path, name string) {
	s = strings.TrimPrefix(s, "/")
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return "", s
	}
	return s[:i], s[i+1:]
}
