package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/internal/memtrim"
	kvstore "github.com/faasedge/faasedge/kv"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
)

// nodeFlags are the edge node's settings.
type nodeFlags struct {
	listen, peers, allow, schedulers, allowHosts  repeated
	dataDir, pnetKey, index, data, redis, metrics string
	memoryMB, vnodes                              int
	refresh                                       time.Duration
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
	fs.Var(&f.allowHosts, "allow-host", "host actions run here may send HTTP to, when their faasedge-allowed-hosts allows it too (repeatable; \"*\" defers to the actions; none: no outbound HTTP)")
	fs.StringVar(&f.index, "scheduler-index", "", "/ipns/<name> of the scheduler index; its schedulers get the backup list")
	fs.DurationVar(&f.refresh, "refresh", ring.DefaultRefresh, "how often offers are re-published")
	fs.StringVar(&f.data, "data", "", "host directory actions run here read at /data (read-only); none by default")
	fs.StringVar(&f.redis, "redis", "", "Redis server (redis://host:port[/db]) backing the key-value store of actions annotated faasedge-kv; none by default")
	fs.StringVar(&f.metrics, "metrics", "", "address serving Prometheus /metrics (libp2p bytes by protocol, runs), e.g. 127.0.0.1:9464; off by default")
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
	fs := newFlags("node", stderr)
	var f nodeFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
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
	if f.data != "" {
		if _, err := edge.DataMount(f.data); err != nil {
			return fmt.Errorf("%w: --data: %w", errUsage, err)
		}
	}
	log := newLogger(stderr, false)
	ecfg := edge.Config{
		Host: hcfg, OffersMB: offers, Schedulers: scheds, SchedulerIndex: f.index,
		Refresh: f.refresh, Logger: log, AllowedHosts: f.allowHosts, DataMount: f.data,
	}
	if f.redis != "" {
		r, err := kvstore.DialRedis(f.redis)
		if err != nil {
			return fmt.Errorf("%w: --redis: %w", errUsage, err)
		}
		defer r.Close()
		ecfg.KeyValue = r
	}
	var metricsLn net.Listener
	if f.metrics != "" {
		// Listen before starting, so that a taken port fails fast.
		if metricsLn, err = net.Listen("tcp", f.metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metricsLn.Close()
	}
	node, err := edge.Start(ctx, ecfg)
	if err != nil {
		return err
	}
	if metricsLn != nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(node.Collector())
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := httpserve.Server(mux, httpserve.Limits{})
		go srv.Serve(metricsLn)
		defer srv.Close()
		log.Info("metrics", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
	}
	go memtrim.Run(ctx, memtrim.Every)
	<-ctx.Done()
	log.Info("edge node stopping: withdrawing offers")
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := node.Close(wctx); err != nil {
		log.Warn("edge node stop", "err", err)
	}
	return nil
}
