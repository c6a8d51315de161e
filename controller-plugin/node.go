package controllerplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
)

// NodeConfig is a scheduling node of the offer ring with its gateway, what
// `faasedge gateway` runs; zero values take the defaults.
type NodeConfig struct {
	// Host configures the libp2p host; its DataDir also keeps the block
	// store.
	Host p2p.Config
	// Policy places work on offers (ring.BestFit when zero).
	Policy ring.Policy
	// Gateway configures the virtual invokers; its Publisher is the
	// node's block exchange, and Invoker.HTTPAddr, when set, is where the
	// gateway's Handler is served.
	Gateway Config
	// Manager, when set, serves the Function Manager's deploy protocol.
	Manager *ManagerConfig
	// IndexKey, when set, lists this node in the scheduler index signed
	// with that operator key.
	IndexKey crypto.PrivKey
	// Logger receives every component's logs (slog.Default() when nil).
	Logger *slog.Logger
}

// Node is a running scheduling node and gateway.
type Node struct {
	ring *edge.Node // a ring member that supplies nothing
	gw   *Gateway
	srv  *http.Server
	log  *slog.Logger

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// StartNode brings a node up: a ring member that supplies nothing
// (p2p/edge: host, block exchange, ring node), the Function Manager, the
// scheduler index listing and the gateway, whose virtual invokers start
// claiming capacity. ctx bounds the start-up only; the node runs until
// Close.
func StartNode(ctx context.Context, cfg NodeConfig) (_ *Node, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Node{log: log}
	defer func() {
		if err != nil {
			n.Close(context.WithoutCancel(ctx))
		}
	}()
	n.ring, err = edge.Start(ctx, edge.Config{Host: cfg.Host, RingOptions: []ring.Option{ring.WithPolicy(cfg.Policy)}, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("controllerplugin: %w", err)
	}
	var bctx context.Context
	bctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.IndexKey != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			publishIndex(bctx, n.ring.Host(), cfg.IndexKey, log)
		}()
	}
	gcfg := cfg.Gateway
	gcfg.Publisher = n.ring.IPFS()
	if gcfg.Logger == nil {
		gcfg.Logger = log
	}
	if n.gw, err = New(ctx, n.ring.Ring(), gcfg); err != nil {
		return nil, err
	}
	if cfg.Manager != nil {
		mc := *cfg.Manager
		mc.Gateway = n.gw
		fm, err := NewFunctionManager(n.ring.Ring(), n.ring.IPFS(), mc, log)
		if err != nil {
			return nil, err
		}
		fm.Register(n.ring.Transport())
	}
	if addr := gcfg.Invoker.HTTPAddr; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("controllerplugin: listen %s: %w", addr, err)
		}
		n.srv = httpserve.Server(n.gw.Handler(), invoker.HTTPLimits)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "err", err)
			}
		}()
	}
	if err := n.gw.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("gateway started", "peer", n.ring.Host().ID(), "ids", gcfg.IDs,
		"capacityMB", n.gw.capacity, "functionManager", cfg.Manager != nil)
	return n, nil
}

// Run serves until ctx ends, then closes the node, giving the
// activations in flight the invoker's shutdown time.
func (n *Node) Run(ctx context.Context) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invoker.DefaultShutdownTimeout+30*time.Second)
	defer cancel()
	return n.Close(sctx)
}

// Gateway is the node's gateway.
func (n *Node) Gateway() *Gateway { return n.gw }

// Ring is the node's ring member (host, block exchange, ring node).
func (n *Node) Ring() *edge.Node { return n.ring }

// Close shuts the gateway down (activations in flight still finish and
// are acked, ctx bounds the wait), then the ring member. Closing again
// does nothing.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.gw != nil && n.gw.stop != nil {
			errs = append(errs, n.gw.Shutdown(ctx))
		}
		if n.srv != nil {
			errs = append(errs, n.srv.Close())
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.ring != nil {
			errs = append(errs, n.ring.Close(ctx))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// indexTTL is how long a scheduler index record is valid; it is
// published again at half that.
const indexTTL = 24 * time.Hour

// publishIndex lists this node in the scheduler index under the operator
// key, so that `faasedge deploy --scheduler /ipns/<name>` finds it. It
// retries until the DHT takes the record (the ring may still be forming
// at start-up) and publishes again before the record expires.
func publishIndex(ctx context.Context, h *p2p.Host, key crypto.PrivKey, log *slog.Logger) {
	wait := time.Second
	for {
		name, err := ring.PublishIndex(ctx, h.DHT, key, h.FullAddrs(), uint64(time.Now().UnixMilli()), indexTTL)
		if err == nil {
			log.Info("listed in the scheduler index", "name", "/ipns/"+name.String())
			wait = indexTTL / 2
		} else if ctx.Err() == nil {
			log.Warn("publishing the scheduler index failed, retrying", "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
