package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/internal/memtrim"
	kvstore "github.com/faasedge/faasedge/kv"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/worker"
)

// nodeOptions are the edge node's settings.
type nodeOptions struct {
	host                                 hostFlags
	allow, schedulers, allowHosts        repeated
	pnetKey, index, data, redis, metrics string
	memoryMB, vnodes                     int
	refresh                              time.Duration
}

// offers splits the memory into vnodes offers no larger than one offer may be.
func (o *nodeOptions) offers() ([]int, error) {
	if o.vnodes < 1 || o.memoryMB < o.vnodes*ring.DefaultRegions[0].MinMB {
		return nil, fmt.Errorf("--memory %d MB in %d offers: each offer needs at least %d MB", o.memoryMB, o.vnodes, ring.DefaultRegions[0].MinMB)
	}
	out := make([]int, o.vnodes)
	for i := range out {
		out[i] = o.memoryMB / o.vnodes
		if out[i] > ring.MaxOfferMB {
			return nil, fmt.Errorf("--memory %d MB in %d offers: offers above %d MB; use more --vnodes", o.memoryMB, o.vnodes, ring.MaxOfferMB)
		}
	}
	return out, nil
}

func (o *nodeOptions) hostConfig() (p2p.Config, error) {
	cfg := o.host.config()
	if o.pnetKey != "" {
		file, err := os.Open(o.pnetKey)
		if err != nil {
			return cfg, fmt.Errorf("--pnet-key: %w", err)
		}
		defer file.Close()
		if cfg.PSK, err = pnet.DecodeV1PSK(file); err != nil {
			return cfg, fmt.Errorf("--pnet-key %s: %w", o.pnetKey, err)
		}
	}
	for _, s := range o.allow {
		id, err := peer.Decode(s)
		if err != nil {
			return cfg, fmt.Errorf("--allow %q: %w", s, err)
		}
		cfg.AllowPeers = append(cfg.AllowPeers, id)
	}
	// Bootstrap peers must pass the allow-list too.
	if len(cfg.AllowPeers) > 0 {
		boot, err := p2p.ParseAddrInfos(o.host.peers)
		if err != nil {
			return cfg, fmt.Errorf("--peer: %w", err)
		}
		for _, ai := range boot {
			cfg.AllowPeers = append(cfg.AllowPeers, ai.ID)
		}
	}
	return cfg, nil
}

func (o *nodeOptions) run(ctx context.Context, _ []string, _, stderr io.Writer) error {
	offers, err := o.offers()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	hcfg, err := o.hostConfig()
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	scheds, err := p2p.ParseAddrInfos(o.schedulers)
	if err != nil {
		return fmt.Errorf("%w: --scheduler: %w", errUsage, err)
	}
	if o.data != "" {
		if _, err := worker.DataMount(o.data); err != nil {
			return fmt.Errorf("%w: --data: %w", errUsage, err)
		}
	}
	log := newLogger(stderr, false)
	ecfg := edge.Config{
		Host: hcfg, OffersMB: offers, Schedulers: scheds, SchedulerIndex: o.index,
		Refresh: o.refresh, Logger: log, AllowedHosts: o.allowHosts, DataMount: o.data,
	}
	if o.redis != "" {
		r, err := kvstore.DialRedis(o.redis)
		if err != nil {
			return fmt.Errorf("%w: --redis: %w", errUsage, err)
		}
		defer r.Close()
		ecfg.KeyValue = r
	}
	var metricsLn net.Listener
	if o.metrics != "" {
		// Listen before starting, so that a taken port fails fast.
		if metricsLn, err = net.Listen("tcp", o.metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer metricsLn.Close()
	}
	node, err := edge.Start(ctx, ecfg)
	if err != nil {
		return err
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", node.MetricsHandler())
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
