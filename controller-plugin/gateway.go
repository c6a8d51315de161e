// Package controllerplugin makes volunteered edge capacity usable from an
// unmodified OpenWhisk controller, and lets edge clients deploy functions
// through the scheduling nodes (design.md section 6).
//
// The stock ShardingContainerPoolBalancer learns invokers only from health
// pings, fixes their capacity at the first ping and ignores tags, so edge
// capacity enters it as virtual invokers: a Gateway runs a range of stable
// invoker ids, each a full invoker engine (package invoker) advertising a
// fixed capacity. Each virtual invoker backs that capacity with claims on
// edge offers found through the offer ring, runs every wasm activation on
// one of its claimed nodes with the remote-run protocol, claims again when
// a node leaves, and pings disabled while it holds nothing so that the
// controller routes elsewhere. The engine keeps every stock guarantee: one
// slot-freeing ack and one record per activation, on every path.
//
// The FunctionManager is the scheduling node's deploy service: an edge
// client hands it a module's CID, it schedules the module onto an edge node
// (which fetches and prepares it) and creates the action through the
// OpenWhisk REST API.
package controllerplugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/whisk"
)

// Defaults of a gateway.
const (
	// DefaultCapacityMB is what each virtual invoker advertises.
	DefaultCapacityMB = 2048
	// DefaultMinClaimMB is the smallest claim: OpenWhisk's largest default
	// action memory, so that any action fits on one claim.
	DefaultMinClaimMB = 512
	// DefaultCheckInterval is how often leases are renewed, which bounds
	// how long a departed supplier goes unnoticed when no run hits it.
	DefaultCheckInterval = 5 * time.Second
)

// Config configures a Gateway; zero values take the defaults.
type Config struct {
	// Invoker configures every virtual invoker as the stock invoker is
	// configured (FromEnv's result: Kafka, CouchDB, topics prefix, user
	// events, credentials). Instance, names, user memory, runner and
	// logger come from the gateway; HTTPAddr is where Node serves the
	// gateway's Handler.
	Invoker invoker.Config
	// IDs are the virtual invokers' instance ids.
	IDs []int
	// CapacityMB is the memory each virtual invoker advertises and backs
	// with claims (DefaultCapacityMB).
	CapacityMB int
	// MinClaimMB is the smallest claim a virtual invoker makes
	// (DefaultMinClaimMB); actions with more memory never run on it.
	MinClaimMB int
	// CheckInterval is how often leases are renewed and missing capacity
	// is claimed (DefaultCheckInterval).
	CheckInterval time.Duration
	// Publisher, when set, lets virtual invokers run actions whose code is
	// inline (zip or base64 wasm) by adding it to IPFS for the edge nodes
	// to fetch.
	Publisher Publisher
	// Names makes a virtual invoker's uniqueName and displayedName from
	// its id ("edge<id>" for both when nil).
	Names func(id int) (uniqueName, displayedName string)
	// Logger receives the gateway's logs (slog.Default() when nil).
	Logger *slog.Logger
}

// Gateway runs a range of virtual invokers.
type Gateway struct {
	capacity int
	minClaim int
	check    time.Duration
	pub      Publisher
	names    func(int) (string, string)
	log      *slog.Logger
	m        *metrics

	invokers []*VirtualInvoker
	wg       sync.WaitGroup
	stop     context.CancelFunc
}

// VirtualInvoker is one invoker id the gateway runs.
type VirtualInvoker struct {
	id      int
	engine  *invoker.Engine
	backing *backing
	stopped atomic.Bool
}

// ID is the invoker instance id.
func (v *VirtualInvoker) ID() int { return v.id }

// Engine is the invoker engine behind the id.
func (v *VirtualInvoker) Engine() *invoker.Engine { return v.engine }

// BackedMB is the memory the invoker holds in claims.
func (v *VirtualInvoker) BackedMB() int { return v.backing.backedMB() }

// Suppliers are the edge nodes the invoker's claims are on, one entry per
// claim.
func (v *VirtualInvoker) Suppliers() []peer.ID { return v.backing.suppliers() }

// New builds a virtual invoker for each of cfg.IDs: wasm actions run on
// edge nodes through r, nodejs actions (the controller's health test
// action) in process.
func New(ctx context.Context, r Ring, cfg Config) (*Gateway, error) {
	g := &Gateway{
		capacity: cmp.Or(cfg.CapacityMB, DefaultCapacityMB), minClaim: cmp.Or(cfg.MinClaimMB, DefaultMinClaimMB),
		check: cmp.Or(cfg.CheckInterval, DefaultCheckInterval), pub: cfg.Publisher, names: cfg.Names,
		log: cmp.Or(cfg.Logger, slog.Default()), m: newMetrics(),
	}
	if g.names == nil {
		g.names = func(id int) (string, string) { n := "edge" + strconv.Itoa(id); return n, n }
	}
	base, ids := cfg.Invoker, cfg.IDs
	switch {
	case len(ids) == 0:
		return nil, errors.New("controllerplugin: no virtual invoker ids")
	case g.capacity < whisk.MinMemoryMB:
		return nil, fmt.Errorf("controllerplugin: capacity %d MB is below the %d MB of one action", g.capacity, whisk.MinMemoryMB)
	case g.minClaim < 1:
		return nil, fmt.Errorf("controllerplugin: smallest claim %d MB", g.minClaim)
	case g.check <= 0:
		return nil, fmt.Errorf("controllerplugin: check interval %v", g.check)
	}
	seen := map[int]bool{}
	for _, id := range ids {
		if seen[id] {
			return nil, fmt.Errorf("controllerplugin: invoker id %d given twice", id)
		}
		seen[id] = true
		v := &VirtualInvoker{id: id}
		log := g.log.With("virtualInvoker", id)
		im := g.m.forInvoker(id, g.capacity)
		v.backing = newBacking(r, g.capacity, g.minClaim, g.check, im, log, func(backed int) {
			if !v.stopped.Load() {
				v.engine.SetEnabled(ctx, backed > 0)
			}
		})
		run := &edgeRunner{ring: r, backing: v.backing, pub: g.pub, m: im, cids: map[string]string{}}
		unique, displayed := g.names(id)
		ic := base
		ic.Instance, ic.UniqueName, ic.DisplayedName = id, unique, displayed
		ic.UserMemory = whisk.ByteSize(g.capacity) * whisk.MB
		ic.HTTPAddr = "" // the gateway serves no invoker endpoints
		ic.Runner = invoker.Kinds{"wasm": run, "nodejs": &invoker.JSRunner{}}
		ic.Logger = log
		ic.Prewarm = invoker.PrewarmConfig{}
		if len(g.invokers) == 0 {
			// One follower of _changes is enough: the edge nodes of every
			// virtual invoker's claims are prepared.
			ic.Prewarm.Compiler = edgePreparer{g: g, run: run}
		}
		eng, err := invoker.New(ctx, ic)
		if err != nil {
			return nil, fmt.Errorf("controllerplugin: virtual invoker %d: %w", id, err)
		}
		v.engine = eng
		g.invokers = append(g.invokers, v)
	}
	return g, nil
}

// Prepare has every edge node the virtual invokers hold claims on fetch
// and compile the module cid, so that an activation finds it compiled on
// whichever of them it lands (each node's compile budget bounds the work).
// It returns once the nodes have taken the request, with the errors of
// those that refused it.
func (g *Gateway) Prepare(ctx context.Context, cid string) error {
	seen := map[peer.ID]bool{}
	var errs []error
	for _, v := range g.invokers {
		for _, p := range v.backing.placements() {
			if seen[p.Supplier()] {
				continue
			}
			seen[p.Supplier()] = true
			if err := v.backing.ring.Prepare(ctx, p, cid); err != nil {
				errs = append(errs, fmt.Errorf("prepare %s on %s: %w", cid, p.Supplier(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// edgePreparer is the gateway's invoker.Precompiler: a wasm action created
// or updated has the edge nodes of the virtual invokers' claims fetch and
// compile its module (inline code is first published to IPFS, as its runs
// would publish it). It returns once the nodes have taken the request;
// each compiles within its own budget.
type edgePreparer struct {
	g   *Gateway
	run *edgeRunner
}

func (p edgePreparer) Compile(ctx context.Context, a *activation.Action) error {
	cid, err := p.run.codeCID(ctx, a)
	if err != nil {
		return err
	}
	return p.g.Prepare(ctx, cid)
}

// Invokers are the virtual invokers, in the order of their ids.
func (g *Gateway) Invokers() []*VirtualInvoker { return g.invokers }

// Start announces every virtual invoker as disabled (it holds nothing
// yet), starts the engines and starts claiming. Each invoker enables itself
// once it holds a claim.
func (g *Gateway) Start(ctx context.Context) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.stop = cancel
	for _, v := range g.invokers {
		v.backing.report()
		if err := v.engine.Start(ctx); err != nil {
			cancel()
			return fmt.Errorf("controllerplugin: virtual invoker %d: %w", v.id, err)
		}
	}
	for _, v := range g.invokers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			v.backing.maintain(bctx)
		}()
	}
	return nil
}

// Shutdown drains every engine (the activations in flight still run on
// their claims and are acked), then releases the claims.
func (g *Gateway) Shutdown(ctx context.Context) error {
	errs := make([]error, len(g.invokers))
	var wg sync.WaitGroup
	for i, v := range g.invokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = v.engine.Shutdown(ctx)
			v.stopped.Store(true)
		}()
	}
	wg.Wait()
	if g.stop != nil {
		g.stop()
	}
	g.wg.Wait()
	return errors.Join(errs...)
}

// Handler serves the gateway's Prometheus series at /metrics and each
// virtual invoker's stock endpoints under /invokers/<id>/ (ping, metrics,
// enable, disable, isEnabled).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.m.reg, promhttp.HandlerOpts{}))
	for _, v := range g.invokers {
		prefix := "/invokers/" + strconv.Itoa(v.id)
		mux.Handle(prefix+"/", http.StripPrefix(prefix, v.engine.Handler()))
	}
	return mux
}
