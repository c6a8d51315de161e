package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/testground/sdk-go/network"
	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	tgsync "github.com/testground/sdk-go/sync"

	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/p2p/sim"
)

// Roles of the ring case's groups.
const (
	roleScheduler = "scheduler"
	roleSupplier  = "supplier"
	roleChurner   = "churner"
)

// params are the ring case's parameters (manifest.toml), the same as
// `faasedge sim` takes.
type params struct {
	role       string
	nodeMemory sim.Dist
	vnodes     int
	requests   sim.Dist
	rate       float64
	levels     []float64
	measure    int
	policy     ring.Policy
	maxTries   int
	backup     bool
	refresh    time.Duration
	churn      float64
	latency    time.Duration
	bandwidth  uint64 // bytes per second; 0: no cap
	seed       uint64
}

// parseParams reads and checks the parameters; Testground fills in the
// manifest's defaults for those a composition does not set.
func parseParams(p map[string]string) (params, error) {
	var out params
	var errs []error
	str := func(k string) string {
		v, ok := p[k]
		if !ok {
			errs = append(errs, fmt.Errorf("parameter %s not set", k))
		}
		return v
	}
	num := func(k string) float64 {
		s := str(k)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && s != "" {
			errs = append(errs, fmt.Errorf("parameter %s: %w", k, err))
		}
		return v
	}
	dur := func(k string) time.Duration {
		d, err := time.ParseDuration(str(k))
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %s: %w", k, err))
		}
		return d
	}
	dist := func(k string) sim.Dist {
		d, err := sim.ParseDist(str(k))
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %s: %w", k, err))
		}
		return d
	}
	out.role = str("role")
	out.nodeMemory, out.requests = dist("node_memory"), dist("requests")
	out.vnodes, out.measure, out.maxTries = int(num("vnodes")), int(num("measure")), int(num("max_tries"))
	out.rate, out.churn, out.seed = num("rate"), num("churn"), uint64(num("seed"))
	out.refresh, out.latency = dur("refresh"), dur("latency")
	var err error
	if out.backup, err = strconv.ParseBool(str("backup")); err != nil {
		errs = append(errs, fmt.Errorf("parameter backup: %w", err))
	}
	if out.policy, err = ring.ParsePolicy(str("policy")); err != nil {
		errs = append(errs, err)
	}
	if out.bandwidth, err = parseBandwidth(str("bandwidth")); err != nil {
		errs = append(errs, err)
	}
	for _, s := range strings.Split(str("levels"), ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 || v >= 1 || (len(out.levels) > 0 && v <= out.levels[len(out.levels)-1]) {
			errs = append(errs, fmt.Errorf("parameter levels: %q must be ascending values in (0,1)", p["levels"]))
			break
		}
		out.levels = append(out.levels, v)
	}
	switch {
	case out.role != roleScheduler && out.role != roleSupplier && out.role != roleChurner:
		errs = append(errs, fmt.Errorf("parameter role: unknown %q", out.role))
	case out.vnodes < 1 || out.measure < 1 || out.maxTries < 1 || out.rate <= 0:
		errs = append(errs, fmt.Errorf("vnodes %d, measure %d, max_tries %d, rate %v: all must be positive", out.vnodes, out.measure, out.maxTries, out.rate))
	case out.churn < 0 || out.churn > 1:
		errs = append(errs, fmt.Errorf("parameter churn: %v outside 0..1", out.churn))
	case out.refresh <= 0:
		errs = append(errs, fmt.Errorf("parameter refresh: %v", out.refresh))
	}
	return out, errors.Join(errs...)
}

// parseBandwidth reads a cap such as 10Mib (bits per second, Testground's
// and tc's units) into bytes per second; empty is no cap.
func parseBandwidth(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   uint64
	}{{"Gib", 1 << 30}, {"Mib", 1 << 20}, {"Kib", 1 << 10}, {"bit", 1}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				break
			}
			return n * u.mult / 8, nil
		}
	}
	return 0, fmt.Errorf("parameter bandwidth: %q is not a rate such as 10Mib", s)
}

// Sync-service names. Schedulers publish their addresses; suppliers and
// churners publish what they offer; barriers separate the phases.
var (
	topicSchedulers = tgsync.NewTopic("schedulers", []string{})
	topicSupply     = tgsync.NewTopic("supply", 0)
	// topicSchedulerCount carries the size of the scheduler group.
	topicSchedulerCount = tgsync.NewTopic("scheduler-count", 0)
	stateUp             = tgsync.State("ring-up")
	stateDone           = tgsync.State("schedulers-done")
)

func stateFilled(i int) tgsync.State   { return tgsync.State(fmt.Sprintf("filled-%d", i)) }
func stateMeasured(i int) tgsync.State { return tgsync.State(fmt.Sprintf("measured-%d", i)) }

// ringCase is the "ring" test case (Testground's entry point).
func ringCase(env *runtime.RunEnv, ic *run.InitContext) error {
	return runRing(context.Background(), env, ic)
}

// runRing starts this instance's ring node, meets the others through the
// sync service and plays its role until the schedulers are done.
func runRing(ctx context.Context, env *runtime.RunEnv, ic *run.InitContext) error {
	p, err := parseParams(env.TestInstanceParams)
	if err != nil {
		return err
	}
	if env.TestSidecar {
		// Latency and bandwidth come from the sidecar's traffic shaping on
		// the data network, the only place they come from in a run.
		ic.NetClient.MustConfigureNetwork(ctx, &network.Config{
			Network: network.DefaultDataNetwork, Enable: true,
			Default:       network.LinkShape{Latency: p.latency, Bandwidth: p.bandwidth},
			CallbackState: "network-configured", RoutingPolicy: network.DenyAll,
		})
	} else {
		env.RecordMessage("no sidecar: links unshaped (latency and bandwidth are the local network's)")
	}
	ip, err := ic.NetClient.GetDataNetworkIP()
	if err != nil {
		return err
	}
	schedulers, err := countSchedulers(ctx, env, ic, p)
	if err != nil {
		return err
	}
	in := &instance{env: env, ic: ic, p: p, ip: ip, schedulers: schedulers,
		rnd: rand.New(rand.NewPCG(p.seed, uint64(ic.GlobalSeq)))}
	defer in.close()
	if p.role == roleScheduler {
		return in.schedule(ctx)
	}
	return in.supply(ctx)
}

// countSchedulers learns how many schedulers the run has: the first
// scheduler publishes its group's size, and everyone reads that one
// message (reading every instance's role would cost each instance as many
// messages as the run has instances).
func countSchedulers(ctx context.Context, env *runtime.RunEnv, ic *run.InitContext, p params) (int, error) {
	if p.role == roleScheduler && ic.GroupSeq == 1 {
		if _, err := ic.SyncClient.Publish(ctx, topicSchedulerCount, env.TestGroupInstanceCount); err != nil {
			return 0, err
		}
	}
	ch := make(chan int, 1)
	sub, err := ic.SyncClient.Subscribe(ctx, topicSchedulerCount, ch)
	if err != nil {
		return 0, err
	}
	select {
	case n := <-ch:
		return n, nil
	case err := <-sub.Done():
		return 0, fmt.Errorf("scheduler count: %w", err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// instance is one test instance: its parameters and its ring node.
type instance struct {
	env        *runtime.RunEnv
	ic         *run.InitContext
	p          params
	ip         net.IP
	schedulers int
	rnd        *rand.Rand

	mu   sync.Mutex
	node *edge.Node
}

func (in *instance) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.node != nil {
		in.node.Close(context.Background())
		in.node = nil
	}
}

// start brings up this instance's ring node (p2p/edge, as faasedge node
// does), listening on the data network.
func (in *instance) start(ctx context.Context, boot []string, scheds []peer.AddrInfo, offers []int) (*edge.Node, error) {
	return edge.Start(ctx, edge.Config{
		Host:       p2p.Config{ListenAddrs: []string{fmt.Sprintf("/ip4/%s/tcp/0", in.ip)}, Bootstrap: boot},
		OffersMB:   offers,
		Schedulers: scheds,
		Refresh:    in.p.refresh,
		// A placement keeps its memory until the scheduler releases it (a
		// deployed function), as in the simulator.
		RingOptions: []ring.Option{
			ring.WithTimers(in.p.refresh, 3*in.p.refresh, 1000*time.Hour),
			ring.WithPolicy(in.p.policy), ring.WithMaxTries(in.p.maxTries), ring.WithBackup(in.p.backup),
			ring.WithSeed(in.rnd.Uint64()),
		},
	})
}

// offers splits the memory this instance volunteers into its vnodes, as
// the simulator does.
func (in *instance) offers() []int {
	total := in.p.nodeMemory.Draw(in.rnd)
	parts := make([]int, in.p.vnodes)
	for i := range parts {
		parts[i] = min(total/in.p.vnodes, ring.MaxOfferMB)
	}
	return parts
}

// schedulerAddrs waits for every scheduler's addresses.
func (in *instance) schedulerAddrs(ctx context.Context, want int) ([]string, []peer.AddrInfo, error) {
	ch := make(chan []string, in.env.TestInstanceCount)
	sub, err := in.ic.SyncClient.Subscribe(ctx, topicSchedulers, ch)
	if err != nil {
		return nil, nil, err
	}
	var boot []string
	var infos []peer.AddrInfo
	for len(infos) < want {
		select {
		case addrs := <-ch:
			ai, err := p2p.ParseAddrInfos(addrs)
			if err != nil {
				return nil, nil, err
			}
			boot = append(boot, addrs...)
			infos = append(infos, ai...)
		case err := <-sub.Done():
			return nil, nil, fmt.Errorf("schedulers topic: %w", err)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	return boot, infos, nil
}

// supply runs a supplier or churner: volunteer memory until the schedulers
// are done; a churner leaves and rejoins with a fresh identity at the
// churn rate.
func (in *instance) supply(ctx context.Context) error {
	boot, scheds, err := in.schedulerAddrs(ctx, in.schedulers)
	if err != nil {
		return err
	}
	offers := in.offers()
	n, err := in.start(ctx, boot, scheds, offers)
	if err != nil {
		return err
	}
	in.setNode(n)
	total := 0
	for _, mb := range offers {
		total += mb
	}
	if _, err := in.ic.SyncClient.Publish(ctx, topicSupply, total); err != nil {
		return err
	}
	if _, err := in.ic.SyncClient.SignalEntry(ctx, stateUp); err != nil {
		return err
	}
	done, err := in.ic.SyncClient.Barrier(ctx, stateDone, in.schedulers)
	if err != nil {
		return err
	}
	tick := time.NewTicker(in.p.refresh)
	defer tick.Stop()
	rejoins := 0
	for {
		select {
		case err := <-done.C:
			in.env.RecordMessage("%s done: %d MB offered, %d rejoins", in.p.role, total, rejoins)
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if in.p.role != roleChurner || in.rnd.Float64() >= in.p.churn {
				continue
			}
			// Leave without withdrawing, as a device that loses power, and
			// come back as a new volunteer.
			in.close()
			n, err := in.start(ctx, boot, scheds, offers)
			if err != nil {
				return fmt.Errorf("rejoin: %w", err)
			}
			in.setNode(n)
			rejoins++
		}
	}
}

func (in *instance) setNode(n *edge.Node) {
	in.mu.Lock()
	in.node = n
	in.mu.Unlock()
}

// sample is one request, one JSON line of samples.jsonl: the columns of
// `faasedge sim -csv` before aggregation.
type sample struct {
	Instance     int64   `json:"instance"`
	Phase        string  `json:"phase"` // ramp (filling to the level) or steady
	Level        float64 `json:"level"`
	Utilisation  float64 `json:"utilisation"` // leased part of this scheduler's share of the ring when the request arrived
	MemoryMB     int     `json:"memory"`
	OK           bool    `json:"ok"`
	FromBackup   bool    `json:"fromBackup"`
	Tries        int     `json:"tries"`
	DiscoveryMsg int     `json:"discoveryMessages"`
	DeployMsg    int     `json:"deployMessages"`
	DiscoveryMS  float64 `json:"discoveryMs"`
	DeploymentMS float64 `json:"deploymentMs"`
	Error        string  `json:"error,omitempty"`
}

// scheduler is a scheduling instance's books: its placements and the
// memory they lease, against its share of what the suppliers offer.
type scheduler struct {
	in   *instance
	node *ring.Node
	out  io.Writer
	// share is this scheduler's share of the offered MB, target the part
	// of it the current level leases.
	share, target float64

	mu     sync.Mutex
	placed []ring.Placement
	used   atomic.Int64
	// pending is the memory of the requests in flight while filling.
	pending atomic.Int64
	lost    atomic.Int64
	fails   atomic.Int64 // consecutive failures while filling
}

// schedule runs a scheduler: start the node, publish its addresses, wait
// for the ring, then per level fill to it and measure at it.
func (in *instance) schedule(ctx context.Context) error {
	var boot []string
	if in.ic.GroupSeq > 1 {
		// Later schedulers join the first one's ring.
		b, _, err := in.schedulerAddrs(ctx, 1)
		if err != nil {
			return err
		}
		boot = b
	}
	n, err := in.start(ctx, boot, nil, nil)
	if err != nil {
		return err
	}
	in.setNode(n)
	if _, err := in.ic.SyncClient.Publish(ctx, topicSchedulers, n.Host().FullAddrs()); err != nil {
		return err
	}
	// Everyone else signals once up; this scheduler too.
	if _, err := in.ic.SyncClient.SignalAndWait(ctx, stateUp, in.env.TestInstanceCount); err != nil {
		return err
	}
	offered, err := in.offered(ctx)
	if err != nil {
		return err
	}
	out, err := in.env.CreateRawAsset("samples.jsonl")
	if err != nil {
		return err
	}
	// Let a refresh period pass: every offer published, routing tables
	// filled.
	select {
	case <-time.After(in.p.refresh):
	case <-ctx.Done():
		return ctx.Err()
	}
	s := &scheduler{in: in, node: n.Ring(), out: out, share: float64(offered) / float64(in.schedulers)}
	kctx, stop := context.WithCancel(ctx)
	var kept sync.WaitGroup
	kept.Go(func() { s.keepLeases(kctx) })
	defer kept.Wait()
	defer stop()
	for i, level := range in.p.levels {
		s.target = level * s.share
		ramp := s.fill(ctx, level)
		if _, err := in.ic.SyncClient.SignalAndWait(ctx, stateFilled(i), in.schedulers); err != nil {
			return err
		}
		ok, total := s.measure(ctx, level, max(1, in.p.measure/in.schedulers))
		in.env.RecordMessage("level %.2f: %d ramp requests, %d/%d placed in steady state, utilisation %.3f, %d placements lost", level, ramp, ok, total, s.utilisation(), s.lost.Load())
		if _, err := in.ic.SyncClient.SignalAndWait(ctx, stateMeasured(i), in.schedulers); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	_, err = in.ic.SyncClient.SignalEntry(ctx, stateDone)
	return err
}

// offered sums what every supplier and churner published.
func (in *instance) offered(ctx context.Context) (int, error) {
	want := in.env.TestInstanceCount - in.schedulers
	ch := make(chan int, in.env.TestInstanceCount)
	sub, err := in.ic.SyncClient.Subscribe(ctx, topicSupply, ch)
	if err != nil {
		return 0, err
	}
	total := 0
	for range want {
		select {
		case mb := <-ch:
			total += mb
		case err := <-sub.Done():
			return 0, fmt.Errorf("supply topic: %w", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return total, nil
}

func (s *scheduler) utilisation() float64 { return float64(s.used.Load()) / s.share }

// maxInFlight bounds the requests one scheduler has in flight: arrivals are
// paced by the rate, and a slow ring must not pile up goroutines.
const maxInFlight = 64

// fill places requests at the rate until this scheduler's share reaches the
// level, counting the requests in flight (or 50 requests in a row fail: the
// ring is full), and returns how many it sent.
func (s *scheduler) fill(ctx context.Context, level float64) int {
	s.fails.Store(0)
	return s.paced(ctx, func(int) (func(context.Context), bool) {
		if s.used.Load()+s.pending.Load() >= int64(s.target) || s.fails.Load() >= 50 {
			return nil, false
		}
		mem := s.draw()
		s.pending.Add(int64(mem))
		return func(ctx context.Context) {
			defer s.pending.Add(-int64(mem))
			s.request(ctx, "ramp", level, mem)
		}, true
	})
}

// measure sends k requests at the rate, each preceded by one departure
// when the share is at the level, and returns how many were placed.
func (s *scheduler) measure(ctx context.Context, level float64, k int) (placed, total int) {
	var ok atomic.Int64
	total = s.paced(ctx, func(i int) (func(context.Context), bool) {
		if i >= k {
			return nil, false
		}
		mem := s.draw()
		return func(ctx context.Context) {
			if s.used.Load() >= int64(s.target) {
				s.release(ctx)
			}
			if s.request(ctx, "steady", level, mem) {
				ok.Add(1)
			}
		}, true
	})
	return int(ok.Load()), total
}

// paced starts the jobs next hands out at the scheduler's share of the
// rate, at most maxInFlight at once, until it hands out none; it waits for
// them and returns how many it started.
func (s *scheduler) paced(ctx context.Context, next func(i int) (func(context.Context), bool)) int {
	every := time.Duration(float64(time.Second) * float64(s.in.schedulers) / s.in.p.rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return i
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return i
		case sem <- struct{}{}:
		}
		job, ok := next(i)
		if !ok {
			<-sem
			return i
		}
		wg.Go(func() {
			defer func() { <-sem }()
			job(ctx)
		})
	}
}

// request schedules one request of mem MB and records it.
func (s *scheduler) request(ctx context.Context, phase string, level float64, mem int) bool {
	smp := sample{Instance: s.in.ic.GlobalSeq, Phase: phase, Level: level, Utilisation: s.utilisation(), MemoryMB: mem}
	p, err := s.node.Schedule(ctx, "", mem)
	st := p.Stats
	smp.Tries, smp.DiscoveryMsg, smp.DeployMsg = st.Tries, st.DiscoveryMessages, st.DeployMessages
	smp.DiscoveryMS, smp.DeploymentMS = ms(st.Discovery), ms(st.Deployment)
	if err == nil {
		smp.OK, smp.FromBackup = true, p.FromBackup
		s.mu.Lock()
		s.placed = append(s.placed, p)
		s.mu.Unlock()
		s.used.Add(int64(mem))
		s.fails.Store(0)
	} else {
		smp.Error = err.Error()
		s.fails.Add(1)
	}
	s.record(smp)
	return err == nil
}

// keepLeases renews this scheduler's leases every refresh period, as a
// scheduler holding deployed functions does, and books the ones whose
// supplier left as lost: their memory no longer counts as leased.
func (s *scheduler) keepLeases(ctx context.Context) {
	tick := time.NewTicker(s.in.p.refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		held := append([]ring.Placement(nil), s.placed...)
		s.mu.Unlock()
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, p := range held {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := s.node.Renew(ctx, &p); err != nil && ctx.Err() == nil {
					s.drop(p.LeaseID)
				}
			})
		}
		wg.Wait()
	}
}

// drop forgets a lost placement.
func (s *scheduler) drop(lease string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.placed {
		if p.LeaseID == lease {
			s.placed[i] = s.placed[len(s.placed)-1]
			s.placed = s.placed[:len(s.placed)-1]
			s.used.Add(-int64(p.MemoryMB))
			s.lost.Add(1)
			return
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *scheduler) draw() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in.p.requests.Draw(s.in.rnd)
}

// release departs one of this scheduler's placements, chosen at random; a
// placement whose supplier left is lost.
func (s *scheduler) release(ctx context.Context) {
	s.mu.Lock()
	if len(s.placed) == 0 {
		s.mu.Unlock()
		return
	}
	i := s.in.rnd.IntN(len(s.placed))
	p := s.placed[i]
	s.placed[i] = s.placed[len(s.placed)-1]
	s.placed = s.placed[:len(s.placed)-1]
	s.mu.Unlock()
	s.used.Add(-int64(p.MemoryMB))
	if err := s.node.Release(ctx, p); err != nil {
		s.lost.Add(1)
	}
}

func (s *scheduler) record(smp sample) {
	b, err := json.Marshal(smp)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.out.Write(append(b, '\n')); err != nil {
		s.in.env.RecordMessage("samples: %v", err)
	}
}
