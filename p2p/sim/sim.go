// Package sim runs the offer ring (package ring, the same code edge nodes
// run) at scale and measures it with the proposal's metrics: request
// success rate, messages and time per discovery and per deployment,
// bandwidth and memory per node, and utilisation. Two back-ends carry the
// ring's messages: real go-libp2p hosts with the Kademlia DHT on loopback
// (tens to a few hundred nodes) and MemNet, an in-memory network on a
// virtual clock for 1,000 to a few hundred thousand nodes.
//
// On MemNet the ring's code runs unchanged (offers signed, verified and
// JSON-encoded as on the wire); what the simulator makes cheap is its own
// world: lookups walk routing tables derived from a sorted snapshot of the
// live set, verifications of signatures it watched honest nodes make skip
// the curve arithmetic (keys.go), and background work runs inline. What
// remains is mostly the ring's own work, 2.5 to 4 ms of CPU per node for a
// run that fills the ring to half its memory (see eval/testground's
// README for measured runs).
//
// A mem run's figures depend only on its Config and Seed, never on the
// cores or the machine's load: time is virtual (the ring's wall-clock
// timeouts bound calls that take microseconds here), the refreshes spread
// over the cores touch each node's own state and commute at its traders,
// and the schedulers' arrivals run side by side in lockstep
// (lockstep.go), their messages in arrival order.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/p2p/ring"
)

// Config is one simulation run.
type Config struct {
	Backend string // "mem", "libp2p" or "mocknet"
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
	// Workers is how many goroutines run the suppliers' refreshes (0:
	// GOMAXPROCS). The arrivals between two refreshes run one per
	// scheduler, concurrently, in lockstep (lockstep.go). A mem run's
	// figures depend only on the configuration and Seed: not on Workers,
	// GOMAXPROCS or the machine's load.
	Workers int
	Log     *slog.Logger
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
	// DistinctPeers is the mean number of other peers one scheduling's
	// messages reached: lookup queries, finds and claims (mem back-end;
	// 0 on libp2p, which does not count them).
	DistinctPeers    float64
	DiscoveryP50     time.Duration
	DiscoveryP99     time.Duration
	DeploymentP50    time.Duration
	DeploymentP99    time.Duration
	BandwidthPerNode float64 // bytes per node per second (mem back-end)
	MemoryPerNode    float64 // heap growth per node over start-up and the first refresh (noisy below ~1,000 nodes)
	Lost             int     // placements lost with a departed supplier
	// LatencySource says where the latencies come from: the virtual
	// clock's latency per message, or the wall clock over real libp2p.
	LatencySource string
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
	peers                int
}

type placed struct {
	node *ring.Node
	p    ring.Placement
}

// arrival is one request, drawn from the run's seed before a batch runs.
type arrival struct {
	offset time.Duration // past the clock at the batch's start
	mem    int
	sched  int    // index into schedulers
	pick   uint64 // which placement departs first, in steady state
}

type runner struct {
	cfg        Config
	be         backend
	rnd        *rand.Rand
	workers    int
	nodes      []*ring.Node
	schedulers []*ring.Node
	// placements[s] are the live placements scheduler s made; departures
	// release its own.
	placements [][]placed
	nextTick   time.Time
	sinceTick  int
	lost       int
	start      time.Time
	scheds     []peer.AddrInfo
	// total is the offered MB across live nodes, counted after each
	// refresh; used the leased MB.
	total int
	used  atomic.Int64
	// maxOffer bounds every offer's size (the largest ever supplied), so
	// a request above it is known infeasible without asking every node.
	maxOffer int
}

// backend starts and stops ring nodes and keeps their clock.
type backend interface {
	add(ctx context.Context, opts ...ring.Option) (*ring.Node, peer.AddrInfo, error)
	remove(id peer.ID)
	now() time.Time
	advance(d time.Duration)
	// begin starts an operation driven by node id at offset past the
	// clock (no-op on real time).
	begin(id peer.ID, offset time.Duration)
	trafficBytes() int64
	// newPeriod starts a refresh period: what the back-end keeps per
	// period (the signature memo) may drop the period before last.
	newPeriod()
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
	case "mocknet":
		be = newMockBackend(cfg)
	default:
		return Report{}, fmt.Errorf("sim: unknown backend %q (mem, libp2p, mocknet)", cfg.Backend)
	}
	defer be.close()
	r := newRunner(cfg, be)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := r.startNodes(ctx); err != nil {
		return Report{}, err
	}
	// The first refresh fills the traders' tables and the backup lists:
	// they are part of what a node holds.
	r.tickAll(ctx)
	// The signature memo is the simulator's, not the nodes': empty it
	// before weighing what they hold.
	be.newPeriod()
	be.newPeriod()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	memPerNode := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(cfg.Nodes)
	cfg.Log.Info("sim: ring up", "policy", cfg.Policy, "nodes", cfg.Nodes, "bytes_per_node", memPerNode)
	r.start = be.now()
	startBytes := be.trafficBytes()

	var rep Report
	var ramp []sample
	lastLog := time.Now()
	for _, level := range cfg.Levels {
		// Fill to the level; these requests make the ramp curve.
		fails := 0
		for r.utilisation() < level && fails < 50 {
			ss, err := r.arrive(ctx, r.fillBatch(level), false, level)
			if err != nil {
				return rep, err
			}
			// A progress line every 10 s of wall time: large rings take
			// minutes to fill.
			if time.Since(lastLog) > 10*time.Second {
				lastLog = time.Now()
				cfg.Log.Info("sim: filling", "policy", cfg.Policy, "level", level, "utilisation", r.utilisation(), "requests", len(ramp)+len(ss))
			}
			for _, s := range ss {
				ramp = append(ramp, s)
				if s.ok {
					fails = 0
				} else {
					fails++
				}
			}
		}
		var ss []sample
		for len(ss) < cfg.Measure {
			// Steady state: one departure per arrival around the level.
			got, err := r.arrive(ctx, cfg.Measure-len(ss), true, level)
			if err != nil {
				return rep, err
			}
			ss = append(ss, got...)
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

func newRunner(cfg Config, be backend) *runner {
	r := &runner{cfg: cfg, be: be, rnd: rand.New(rand.NewPCG(cfg.Seed, 7)), workers: cfg.Workers}
	if r.workers <= 0 {
		r.workers = runtime.GOMAXPROCS(0)
	}
	r.placements = make([][]placed, cfg.Schedulers)
	return r
}

func (r *runner) nodeOpts(schedulers []peer.AddrInfo) []ring.Option {
	return []ring.Option{
		ring.WithPolicy(r.cfg.Policy),
		ring.WithMaxTries(r.cfg.MaxTries),
		ring.WithBackup(r.cfg.Backup),
		ring.WithSeed(r.rnd.Uint64()),
		ring.WithSchedulers(schedulers),
		ring.WithLogger(r.cfg.Log),
		// Offers live three refresh periods, as on a real node; a placement
		// keeps its memory until the run releases it (a deployed function),
		// so the leased memory is what the runner counts.
		ring.WithTimers(r.cfg.Refresh, 3*r.cfg.Refresh, 1000*time.Hour),
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
	r.maxOffer = max(r.maxOffer, parts[0])
	return n.Supply(parts...)
}

// tickAll runs every node's refresh (expiry, publish, backup push), spread
// over the workers: each node's refresh touches only its own state and, by
// commutative inserts under their locks, its traders' and schedulers'.
func (r *runner) tickAll(ctx context.Context) {
	r.be.newPeriod()
	r.parallel(len(r.nodes), func(i int) {
		id := r.nodes[i].ID()
		r.be.begin(id, 0)
		r.nodes[i].Tick(ctx)
		r.be.begin(id, 0)
	})
	r.total = 0
	for _, n := range r.nodes {
		t, _ := n.Capacity()
		r.total += t
	}
	r.nextTick = r.be.now().Add(r.cfg.Refresh)
	r.sinceTick = 0
}

// parallel calls f(0..n-1) on the workers, handing out small chunks.
func (r *runner) parallel(n int, f func(int)) {
	const chunk = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range r.workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					f(i)
				}
			}
		})
	}
	wg.Wait()
}

// gap is the time between two arrivals.
func (r *runner) gap() time.Duration { return time.Duration(float64(time.Second) / r.cfg.Rate) }

// fillBatch is how many arrivals to run at once while filling to level:
// half the estimate of what is missing, so a batch overshoots the level by
// little.
func (r *runner) fillBatch(level float64) int {
	missing := level*float64(r.total) - float64(r.used.Load())
	return max(1, min(4096, int(missing/r.cfg.Requests.Mean()/2)))
}

// arrive runs up to k arrivals, as many as come before the next refresh,
// then the refresh (and churn) when it is due. The arrivals' sizes and
// schedulers are drawn in arrival order from the run's seed; each
// scheduler takes its own in arrival order, and the schedulers run side by
// side in lockstep. In steady state each arrival at or above level is
// preceded by a departure of one of its scheduler's placements.
func (r *runner) arrive(ctx context.Context, k int, steady bool, level float64) ([]sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gap := r.gap()
	if r.cfg.Backend != "mem" {
		k = min(k, max(1, r.cfg.TickEvery-r.sinceTick))
	} else if left := r.nextTick.Sub(r.be.now()); left > 0 {
		k = min(k, max(1, int((left+gap-1)/gap)))
	} else {
		k = 1
	}
	as := make([]arrival, k)
	bySched := make([][]int, len(r.schedulers))
	for i := range as {
		as[i] = arrival{offset: time.Duration(i+1) * gap, mem: r.cfg.Requests.Draw(r.rnd), sched: r.rnd.IntN(len(r.schedulers)), pick: r.rnd.Uint64()}
		bySched[as[i].sched] = append(bySched[as[i].sched], i)
	}
	out := make([]sample, k)
	errs := make([]error, len(r.schedulers))
	drivers := make([]peer.ID, len(r.schedulers))
	for i, s := range r.schedulers {
		drivers[i] = s.ID()
	}
	ls := newLockstep(drivers)
	var wg sync.WaitGroup
	for s, idx := range bySched {
		wg.Go(func() {
			defer ls.done()
			sched := r.schedulers[s]
			for _, i := range idx {
				a := as[i]
				var util float64
				ls.step(i, func() {
					if steady && r.utilisation() >= level {
						errs[s] = r.release(ctx, s, a)
					}
					util = r.utilisation()
					r.be.begin(sched.ID(), a.offset)
				})
				if errs[s] != nil {
					return
				}
				peers := PeerSet{}
				p, err := sched.Schedule(WithPeerSet(withOp(ctx, ls, i), peers), "", a.mem)
				ls.step(i, func() { out[i], errs[s] = r.settle(s, a, util, len(peers), p, err) })
				if errs[s] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.be.advance(time.Duration(k) * gap)
	r.sinceTick += k
	due := !r.be.now().Before(r.nextTick)
	if r.cfg.Backend != "mem" {
		due = r.sinceTick >= r.cfg.TickEvery
	}
	if due {
		if err := r.churn(ctx); err != nil {
			return nil, err
		}
		r.tickAll(ctx)
	}
	return out, nil
}

// churn replaces a fraction of the non-scheduler nodes.
func (r *runner) churn(ctx context.Context) error {
	k := int(r.cfg.Churn*float64(len(r.nodes)) + r.rnd.Float64())
	for range k {
		i := r.cfg.Schedulers + r.rnd.IntN(len(r.nodes)-r.cfg.Schedulers)
		gone := r.nodes[i]
		r.be.remove(gone.ID())
		for w, ps := range r.placements {
			kept := ps[:0]
			for _, p := range ps {
				if p.p.Supplier() == gone.ID() {
					r.lost++
					r.used.Add(-int64(p.p.MemoryMB))
					continue
				}
				kept = append(kept, p)
			}
			r.placements[w] = kept
		}
		n, _, err := r.be.add(ctx, r.nodeOpts(r.scheds)...)
		if err != nil {
			return err
		}
		if err := r.supply(n); err != nil {
			return err
		}
		r.nodes[i] = n
	}
	return nil
}

// utilisation is leased memory over offered memory across live nodes.
func (r *runner) utilisation() float64 { return ratio(int(r.used.Load()), r.total) }

// feasible reports whether some live offer could take mem.
func (r *runner) feasible(mem int) bool {
	if mem > r.maxOffer {
		return false
	}
	for _, n := range r.nodes {
		for _, f := range n.Free() {
			if f >= mem {
				return true
			}
		}
	}
	return false
}

// settle books the result of an arrival scheduled by scheduler s.
func (r *runner) settle(s int, a arrival, util float64, peers int, p ring.Placement, err error) (sample, error) {
	smp := sample{util: util, st: p.Stats, peers: peers}
	switch {
	case err == nil:
		smp.ok, smp.feasible, smp.backup = true, true, p.FromBackup
		r.placements[s] = append(r.placements[s], placed{node: r.schedulers[s], p: p})
		r.used.Add(int64(a.mem))
	case errors.Is(err, ring.ErrNoOffer):
		smp.feasible = r.feasible(a.mem)
	default:
		return smp, err
	}
	return smp, nil
}

// release departs one of scheduler s's placements, chosen by a.pick.
func (r *runner) release(ctx context.Context, s int, a arrival) error {
	ps := r.placements[s]
	if len(ps) == 0 {
		return nil
	}
	i := int(a.pick % uint64(len(ps)))
	p := ps[i]
	ps[i] = ps[len(ps)-1]
	r.placements[s] = ps[:len(ps)-1]
	r.used.Add(-int64(p.p.MemoryMB))
	r.be.begin(p.node.ID(), a.offset)
	if err := p.node.Release(ctx, p.p); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

func (r *runner) point(ss []sample, level float64) Point {
	pt := Point{Backend: r.cfg.Backend, Policy: r.cfg.Policy.String(), Nodes: r.cfg.Nodes, Level: level, Requests: len(ss), Lost: r.lost,
		LatencySource: r.latencySource()}
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
		pt.DistinctPeers += float64(s.peers)
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
	pt.DistinctPeers /= n
	pt.DiscoveryP50, pt.DiscoveryP99 = quantile(disc, 0.5), quantile(disc, 0.99)
	pt.DeploymentP50, pt.DeploymentP99 = quantile(dep, 0.5), quantile(dep, 0.99)
	return pt
}

func (r *runner) latencySource() string {
	switch r.cfg.Backend {
	case "mem":
		return fmt.Sprintf("virtual: %v one way per message on MemNet's clock, none for computing", r.cfg.Latency)
	case "mocknet":
		return fmt.Sprintf("wall clock: real libp2p on mocknet links of %v one way, plus this machine's computing", r.cfg.Latency)
	}
	return "wall clock: real libp2p on loopback TCP, no added latency"
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)]
}
