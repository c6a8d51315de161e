// Package sim runs the offer ring (package ring, the same code edge nodes
// run) at scale and measures it with the proposal's metrics: request
// success rate, messages and time per discovery and per deployment,
// bandwidth and memory per node, and utilisation. Two back-ends carry the
// ring's messages: real go-libp2p hosts with the Kademlia DHT on loopback
// (tens to a few hundred nodes) and MemNet, an in-memory network on a
// virtual clock for 10,000 to 100,000 nodes.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/p2p/ring"
)

// Config is one simulation run.
type Config struct {
	Backend string // "mem" or "libp2p"
	Nodes   int
	// NodeMemory is each node's volunteered memory; it is split into
	// VNodes equal offers (the proposal's virtual nodes).
	NodeMemory Dist
	VNodes     int
	// Requests is the size of each request (function memory).
	Requests Dist
	// Rate is requests per (virtual) second over the whole ring.
	Rate float64
	// Churn is the fraction of nodes replaced per refresh period.
	Churn      float64
	Policy     ring.Policy
	MaxTries   int
	Backup     bool
	Schedulers int
	// Levels are the utilisations measured in steady state, ascending.
	Levels []float64
	// Measure is the number of requests measured at each level.
	Measure int
	Seed    uint64
	// Latency is one message's one-way delay (mem back-end).
	Latency time.Duration
	// Refresh is the suppliers' refresh period: virtual time on the mem
	// back-end; on libp2p the ring is refreshed every TickEvery requests.
	Refresh   time.Duration
	TickEvery int
	Log       *slog.Logger
}

// DefaultConfig is a ring of mixed edge devices.
func DefaultConfig() Config {
	return Config{
		Backend:    "mem",
		Nodes:      1000,
		NodeMemory: MustDist("1024:3,2048:3,4096:2,8192:1"),
		VNodes:     2,
		Requests:   MustDist("128:4,256:3,512:2,1024:1"),
		Rate:       200,
		Policy:     ring.BestFit,
		MaxTries:   ring.DefaultMaxTries,
		Backup:     true,
		Schedulers: 4,
		Levels:     []float64{0.5, 0.8, 0.9},
		Measure:    1000,
		Seed:       1,
		Latency:    20 * time.Millisecond,
		Refresh:    ring.DefaultRefresh,
		TickEvery:  100,
	}
}

// Point is the measurement of a batch of requests.
type Point struct {
	Backend, Policy     string
	Nodes               int
	Level               float64 // target utilisation (steady state) or bin start (ramp)
	Utilisation         float64 // mean utilisation while measured
	Requests, Succeeded int
	Feasible            int // requests some live offer could have taken
	FromBackup          int
	Tries               float64 // mean trader lookups
	DiscoveryMsgs       float64 // mean
	DeployMsgs          float64 // mean
	DiscoveryP50        time.Duration
	DiscoveryP99        time.Duration
	DeploymentP50       time.Duration
	DeploymentP99       time.Duration
	BandwidthPerNode    float64 // bytes per node per second (mem back-end)
	MemoryPerNode       float64 // heap growth per node over start-up (noisy below ~1,000 nodes)
	Lost                int     // placements lost with a departed supplier
}

// SuccessRate is Succeeded/Requests.
func (p Point) SuccessRate() float64 { return ratio(p.Succeeded, p.Requests) }

// FeasibleSuccessRate is Succeeded over the requests that could fit.
func (p Point) FeasibleSuccessRate() float64 { return ratio(min(p.Succeeded, p.Feasible), p.Feasible) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Report is a run's result: steady-state points per level and the ramp
// (requests binned by utilisation while the ring filled).
type Report struct {
	Steady []Point
	Ramp   []Point
}

type sample struct {
	ok, feasible, backup bool
	util                 float64
	st                   ring.Stats
}

type placed struct {
	node *ring.Node
	p    ring.Placement
}

type runner struct {
	cfg        Config
	be         backend
	rnd        *rand.Rand
	nodes      []*ring.Node
	schedulers []*ring.Node
	placements []placed
	nextTick   time.Time
	sinceTick  int
	lost       int
	start      time.Time
	scheds     []peer.AddrInfo
	// total and used track offered and leased MB (total 0: recount).
	total, used int
}

// backend starts and stops ring nodes and keeps their clock.
type backend interface {
	add(ctx context.Context, opts ...ring.Option) (*ring.Node, peer.AddrInfo, error)
	remove(id peer.ID)
	now() time.Time
	advance(d time.Duration)
	// set puts virtual time back after an operation (no-op on real time).
	set(t time.Time)
	trafficBytes() int64
	close()
}

// Run runs one simulation.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Nodes < 2 || cfg.VNodes < 1 || cfg.Schedulers < 1 || cfg.Schedulers > cfg.Nodes || cfg.Measure < 1 || cfg.Rate <= 0 {
		return Report{}, fmt.Errorf("sim: bad config: %d nodes, %d vnodes, %d schedulers, %d measured, rate %v", cfg.Nodes, cfg.VNodes, cfg.Schedulers, cfg.Measure, cfg.Rate)
	}
	if !slices.IsSorted(cfg.Levels) || len(cfg.Levels) == 0 || cfg.Levels[len(cfg.Levels)-1] >= 1 {
		return Report{}, fmt.Errorf("sim: levels %v must be ascending and below 1", cfg.Levels)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var be backend
	switch cfg.Backend {
	case "mem":
		be = newMemBackend(cfg)
	case "libp2p":
		be = newHostBackend(cfg)
	default:
		return Report{}, fmt.Errorf("sim: unknown backend %q (mem, libp2p)", cfg.Backend)
	}
	defer be.close()
	r := &runner{cfg: cfg, be: be, rnd: rand.New(rand.NewPCG(cfg.Seed, 7))}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := r.startNodes(ctx); err != nil {
		return Report{}, err
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	memPerNode := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(cfg.Nodes)
	r.tickAll(ctx)
	r.start = be.now()
	startBytes := be.trafficBytes()

	var rep Report
	var ramp []sample
	for _, level := range cfg.Levels {
		// Fill to the level; these requests make the ramp curve.
		fails := 0
		for r.utilisation() < level && fails < 50 {
			s, err := r.request(ctx)
			if err != nil {
				return rep, err
			}
			ramp = append(ramp, s)
			if s.ok {
				fails = 0
			} else {
				fails++
			}
		}
		var ss []sample
		for range cfg.Measure {
			// Steady state: one departure per arrival around the level.
			if r.utilisation() >= level && len(r.placements) > 0 {
				if err := r.releaseRandom(ctx); err != nil {
					return rep, err
				}
			}
			s, err := r.request(ctx)
			if err != nil {
				return rep, err
			}
			ss = append(ss, s)
		}
		pt := r.point(ss, level)
		pt.MemoryPerNode = memPerNode
		if el := be.now().Sub(r.start).Seconds(); el > 0 && cfg.Backend == "mem" {
			pt.BandwidthPerNode = float64(be.trafficBytes()-startBytes) / 2 / el / float64(cfg.Nodes)
		}
		rep.Steady = append(rep.Steady, pt)
		cfg.Log.Info("sim: level", "policy", cfg.Policy, "level", level, "success", pt.SuccessRate(), "tries", pt.Tries)
	}
	// Ramp bins of 5 % utilisation.
	bins := map[int][]sample{}
	for _, s := range ramp {
		b := int(s.util * 20)
		bins[b] = append(bins[b], s)
	}
	keys := make([]int, 0, len(bins))
	for b := range bins {
		keys = append(keys, b)
	}
	sort.Ints(keys)
	for _, b := range keys {
		pt := r.point(bins[b], float64(b)/20)
		pt.MemoryPerNode = memPerNode
		rep.Ramp = append(rep.Ramp, pt)
	}
	return rep, nil
}

func (r *runner) nodeOpts(schedulers []peer.AddrInfo) []ring.Option {
	return []ring.Option{
		ring.WithPolicy(r.cfg.Policy),
		ring.WithMaxTries(r.cfg.MaxTries),
		ring.WithBackup(r.cfg.Backup),
		ring.WithSeed(r.rnd.Uint64()),
		ring.WithSchedulers(schedulers),
		ring.WithLogger(r.cfg.Log),
		// Simulated nodes have only the memory they offer.
		ring.WithFreeMemory(func() int { return ring.MaxOfferMB * 16 }),
		// Background work runs inline: the run stays reproducible.
		ring.WithDispatch(func(f func()) { f() }),
	}
}

func (r *runner) startNodes(ctx context.Context) error {
	var scheds []peer.AddrInfo
	for i := range r.cfg.Nodes {
		n, ai, err := r.be.add(ctx, r.nodeOpts(nil)...)
		if err != nil {
			return err
		}
		if err := r.supply(n); err != nil {
			return err
		}
		if i < r.cfg.Schedulers {
			scheds = append(scheds, ai)
			r.schedulers = append(r.schedulers, n)
		}
		r.nodes = append(r.nodes, n)
	}
	r.scheds = scheds
	for _, n := range r.nodes {
		n.SetSchedulers(scheds)
	}
	return nil
}

// supply splits a node's memory into its offers.
func (r *runner) supply(n *ring.Node) error {
	total := r.cfg.NodeMemory.Draw(r.rnd)
	parts := make([]int, r.cfg.VNodes)
	for i := range parts {
		parts[i] = min(total/r.cfg.VNodes, ring.MaxOfferMB)
	}
	return n.Supply(parts...)
}

// tickAll runs every node's refresh (expiry, publish, backup push).
func (r *runner) tickAll(ctx context.Context) {
	t0 := r.be.now()
	for _, n := range r.nodes {
		n.Tick(ctx)
		r.be.set(t0)
	}
	r.nextTick = t0.Add(r.cfg.Refresh)
	r.sinceTick = 0
}

// step advances time by one inter-arrival and runs the refresh (and
// churn) when it is due.
func (r *runner) step(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.be.advance(time.Duration(float64(time.Second) / r.cfg.Rate))
	r.sinceTick++
	due := !r.be.now().Before(r.nextTick)
	if r.cfg.Backend == "libp2p" {
		due = r.sinceTick >= r.cfg.TickEvery
	}
	if !due {
		return nil
	}
	if err := r.churn(ctx); err != nil {
		return err
	}
	r.tickAll(ctx)
	return nil
}

// churn replaces a fraction of the non-scheduler nodes.
func (r *runner) churn(ctx context.Context) error {
	k := int(r.cfg.Churn*float64(len(r.nodes)) + r.rnd.Float64())
	for range k {
		i := r.cfg.Schedulers + r.rnd.IntN(len(r.nodes)-r.cfg.Schedulers)
		gone := r.nodes[i]
		r.be.remove(gone.ID())
		kept := r.placements[:0]
		for _, p := range r.placements {
			if p.p.Supplier() == gone.ID() {
				r.lost++
				r.used -= p.p.MemoryMB
				continue
			}
			kept = append(kept, p)
		}
		r.placements = kept
		n, _, err := r.be.add(ctx, r.nodeOpts(r.scheds)...)
		if err != nil {
			return err
		}
		if err := r.supply(n); err != nil {
			return err
		}
		r.nodes[i] = n
	}
	r.total = 0
	return nil
}

// utilisation is leased memory over offered memory across live nodes.
func (r *runner) utilisation() float64 {
	if r.total == 0 {
		for _, n := range r.nodes {
			t, _ := n.Capacity()
			r.total += t
		}
	}
	return ratio(r.used, r.total)
}

// feasible reports whether some live offer could take mem.
func (r *runner) feasible(mem int) bool {
	for _, n := range r.nodes {
		for _, f := range n.Free() {
			if f >= mem {
				return true
			}
		}
	}
	return false
}

func (r *runner) request(ctx context.Context) (sample, error) {
	if err := r.step(ctx); err != nil {
		return sample{}, err
	}
	mem := r.cfg.Requests.Draw(r.rnd)
	s := sample{util: r.utilisation()}
	sched := r.schedulers[r.rnd.IntN(len(r.schedulers))]
	t0 := r.be.now()
	p, err := sched.Schedule(ctx, "", mem)
	r.be.set(t0)
	s.st = p.Stats
	switch {
	case err == nil:
		s.ok, s.feasible, s.backup = true, true, p.FromBackup
		r.placements = append(r.placements, placed{node: sched, p: p})
		r.used += mem
	case errors.Is(err, ring.ErrNoOffer):
		s.feasible = r.feasible(mem)
	case ctx.Err() != nil:
		return s, ctx.Err()
	default:
		return s, err
	}
	return s, nil
}

func (r *runner) releaseRandom(ctx context.Context) error {
	i := r.rnd.IntN(len(r.placements))
	p := r.placements[i]
	r.placements[i] = r.placements[len(r.placements)-1]
	r.placements = r.placements[:len(r.placements)-1]
	r.used -= p.p.MemoryMB
	t0 := r.be.now()
	err := p.node.Release(ctx, p.p)
	r.be.set(t0)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

func (r *runner) point(ss []sample, level float64) Point {
	pt := Point{Backend: r.cfg.Backend, Policy: r.cfg.Policy.String(), Nodes: r.cfg.Nodes, Level: level, Requests: len(ss), Lost: r.lost}
	var disc, dep []time.Duration
	var util float64
	for _, s := range ss {
		util += s.util
		if s.ok {
			pt.Succeeded++
		}
		if s.feasible {
			pt.Feasible++
		}
		if s.backup {
			pt.FromBackup++
		}
		pt.Tries += float64(s.st.Tries)
		pt.DiscoveryMsgs += float64(s.st.DiscoveryMessages)
		pt.DeployMsgs += float64(s.st.DeployMessages)
		disc = append(disc, s.st.Discovery)
		if s.ok {
			dep = append(dep, s.st.Deployment)
		}
	}
	n := float64(len(ss))
	pt.Utilisation = util / n
	pt.Tries /= n
	pt.DiscoveryMsgs /= n
	pt.DeployMsgs /= n
	pt.DiscoveryP50, pt.DiscoveryP99 = quantile(disc, 0.5), quantile(disc, 0.99)
	pt.DeploymentP50, pt.DeploymentP99 = quantile(dep, 0.5), quantile(dep, 0.99)
	return pt
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)]
}
