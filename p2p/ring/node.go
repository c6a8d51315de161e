package ring

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/pbnjay/memory"
)

// Policy orders the offers a discovery found.
type Policy int

const (
	// BestFit takes the smallest offer that fits (Caravela's binpack): it
	// keeps large offers whole for large requests.
	BestFit Policy = iota
	// WorstFit takes the largest offer: it spreads load over suppliers.
	WorstFit
)

func (p Policy) String() string {
	if p == WorstFit {
		return "worstfit"
	}
	return "bestfit"
}

// ParsePolicy reads "bestfit" or "worstfit".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "bestfit", "best", "":
		return BestFit, nil
	case "worstfit", "worst":
		return WorstFit, nil
	}
	return 0, fmt.Errorf("ring: unknown policy %q (bestfit, worstfit)", s)
}

// Defaults. Edge volunteers churn more than Caravela's (1 min re-offer,
// 15 min trader refresh, 2 missed refreshes), so offers live for three
// refresh periods of 10 s: a supplier that leaves is gone from every trader
// within 30 s.
const (
	DefaultRefresh  = 10 * time.Second
	DefaultOfferTTL = 3 * DefaultRefresh
	DefaultLeaseTTL = time.Minute
	// DefaultMaxTries is above Caravela's 3: edge rings hold few offers
	// per key, and the simulator shows 5 tries lift success at 90 %
	// utilisation from 99.6-99.9 % to 100 % while the mean stays near 1.3
	// lookups (most requests hit on the first key).
	DefaultMaxTries = 5
	// maxFindOffers caps one find reply.
	maxFindOffers = 32
	// maxOffersPerSupplier caps what one supplier may park at a trader or
	// in a backup list, so a peer cannot fill another's memory.
	maxOffersPerSupplier = 64
)

// maxOfferLifetime caps how far ahead an offer's expiry may lie: two of
// this node's offer lifetimes (six refresh periods by default), room for
// suppliers configured with a refresh up to twice as long, while an offer
// claiming to live for years is refused rather than outliving its
// supplier.
func (c *config) maxOfferLifetime() time.Duration { return 2 * c.offerTTL }

type config struct {
	regions    *Regions
	policy     Policy
	maxTries   int
	backup     bool
	refresh    time.Duration
	offerTTL   time.Duration
	leaseTTL   time.Duration
	executor   Executor
	freeMemory func() int
	now        func() time.Time
	seed       uint64
	dispatch   func(func())
	selfCalls  bool
	log        *slog.Logger
	schedulers []peer.AddrInfo
}

// Option configures a Node.
type Option func(*config) error

// WithRegions replaces DefaultRegions.
func WithRegions(specs []RegionSpec) Option {
	return func(c *config) (err error) { c.regions, err = NewRegions(specs); return err }
}

// WithPolicy sets the scheduling policy (default BestFit).
func WithPolicy(p Policy) Option { return func(c *config) error { c.policy = p; return nil } }

// WithMaxTries sets how many random keys discovery tries before the backup
// list (default DefaultMaxTries; Caravela's MaxPartitionsSearch is 3).
func WithMaxTries(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("ring: maxTries %d < 1", n)
		}
		c.maxTries = n
		return nil
	}
}

// WithBackup turns the backup list on or off (default on).
func WithBackup(on bool) Option { return func(c *config) error { c.backup = on; return nil } }

// WithTimers sets the supplier's refresh period, how long an offer lives at
// a trader unless refreshed, and how long a claim's lease lives unless
// renewed.
func WithTimers(refresh, offerTTL, leaseTTL time.Duration) Option {
	return func(c *config) error {
		if refresh <= 0 || offerTTL < refresh || leaseTTL <= 0 {
			return fmt.Errorf("ring: timers refresh %v, offer ttl %v, lease ttl %v: need 0 < refresh <= offer ttl", refresh, offerTTL, leaseTTL)
		}
		c.refresh, c.offerTTL, c.leaseTTL = refresh, offerTTL, leaseTTL
		return nil
	}
}

// WithExecutor sets what runs remote activations on this node.
func WithExecutor(e Executor) Option { return func(c *config) error { c.executor = e; return nil } }

// WithFreeMemory replaces the probe a claim is checked against (default:
// the machine's free memory).
func WithFreeMemory(f func() int) Option {
	return func(c *config) error { c.freeMemory = f; return nil }
}

// WithClock replaces time.Now (the simulator's virtual clock).
func WithClock(now func() time.Time) Option { return func(c *config) error { c.now = now; return nil } }

// WithSeed makes the node's random key choices reproducible.
func WithSeed(seed uint64) Option { return func(c *config) error { c.seed = seed; return nil } }

// WithDispatch replaces how background work (re-publishing an offer after a
// claim, preparing code) is started; the default is a goroutine, the
// simulator runs it inline to stay deterministic.
func WithDispatch(f func(func())) Option { return func(c *config) error { c.dispatch = f; return nil } }

// WithSelfCalls sends the requests a node addresses to itself (as the
// trader of its own key, or the supplier of an offer it claims) through
// its transport, as to any peer, instead of serving them in-process: the
// simulator's network orders them with all the others.
func WithSelfCalls() Option { return func(c *config) error { c.selfCalls = true; return nil } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) error { c.log = l; return nil } }

// WithSchedulers sets the schedulers a supplier pushes its free offers to
// (the backup list).
func WithSchedulers(s []peer.AddrInfo) Option {
	return func(c *config) error { c.schedulers = s; return nil }
}

// SetSchedulers replaces the schedulers this supplier pushes its backup
// entries to, e.g. after resolving the scheduler index.
func (n *Node) SetSchedulers(s []peer.AddrInfo) {
	n.mu.Lock()
	n.cfg.schedulers = append([]peer.AddrInfo(nil), s...)
	n.mu.Unlock()
}

// Node is one member of the offer ring. Every node is a trader (it holds
// the offers published to keys it is closest to); a node with memory to
// give is a supplier; a node that places work is a scheduler.
type Node struct {
	cfg config
	tr  Transport
	key crypto.PrivKey
	// handlers are the node's side of each ring protocol, registered on
	// tr and called directly for requests to itself (local).
	handlers map[protocol.ID]Handler

	mu  sync.Mutex
	rnd *rand.Rand
	// Trader state: OffersRecv.
	offersRecv offerTable
	// Supplier state. OffersSent: trader → IDs of the offers it holds.
	vnodes     []*vnode
	offersSent map[peer.ID]map[string]bool
	leases     map[string]*lease
	// Scheduler state.
	addrs  AddressTable
	backup map[peer.ID][]*Offer
	// backupMax bounds the free memory of any backup entry (exact after
	// Expire, raised by pushes in between), so a request no entry can fit
	// skips the scan of a list that holds every supplier of the ring.
	backupMax int
	// Prepares under way (fetch and compile requests), bounded by
	// maxPreparing so that lease holders cannot pile them up.
	preparing int

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// New builds a node on a transport and registers its protocol handlers.
// key must be the transport's identity key: offers are signed with it and
// verified against the peer ID.
func New(tr Transport, key crypto.PrivKey, opts ...Option) (*Node, error) {
	c := config{
		policy:   BestFit,
		maxTries: DefaultMaxTries,
		backup:   true,
		refresh:  DefaultRefresh,
		offerTTL: DefaultOfferTTL,
		leaseTTL: DefaultLeaseTTL,
		freeMemory: func() int {
			return int(memory.FreeMemory() >> 20)
		},
		now:      time.Now,
		seed:     rand.Uint64(),
		dispatch: func(f func()) { go f() },
		log:      slog.Default(),
	}
	var err error
	if c.regions, err = defaultRegions(); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if id, err := peer.IDFromPrivateKey(key); err != nil || id != tr.Self() {
		return nil, fmt.Errorf("ring: key does not belong to %s", tr.Self())
	}
	n := &Node{
		cfg:        c,
		tr:         tr,
		key:        key,
		rnd:        rand.New(rand.NewPCG(c.seed, uint64(len(tr.Self())))),
		offersRecv: newOfferTable(),
		offersSent: map[peer.ID]map[string]bool{},
		leases:     map[string]*lease{},
		addrs:      AddressTable{},
		backup:     map[peer.ID][]*Offer{},
	}
	n.handlers = map[protocol.ID]Handler{
		ProtoOffer: decoded(n.handleOffer), ProtoFind: decoded(n.handleFind), ProtoBackup: decoded(n.handleBackup),
		ProtoClaim: decoded(n.handleClaim), ProtoRun: decoded(n.handleRun),
	}
	for proto, h := range n.handlers {
		tr.Handle(proto, maxMessage(proto), h)
	}
	return n, nil
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.tr.Self() }

// Regions is the node's region table.
func (n *Node) Regions() *Regions { return n.cfg.regions }

// Start runs the background loop: every refresh period the supplier
// re-publishes its offers and pushes its free ones to the schedulers, leases
// and offers past their expiry are dropped. Close stops it.
func (n *Node) Start(ctx context.Context) {
	ctx, n.cancel = context.WithCancel(ctx)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(n.cfg.refresh)
		defer t.Stop()
		for {
			n.Tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Tick is one refresh period's work; the simulator calls it on its virtual
// clock instead of Start.
func (n *Node) Tick(ctx context.Context) {
	n.Expire()
	if err := n.Publish(ctx); err != nil && ctx.Err() == nil {
		n.cfg.log.Warn("ring: publish", "node", n.ID(), "err", err)
	}
	if err := n.PushBackup(ctx); err != nil && ctx.Err() == nil {
		n.cfg.log.Debug("ring: backup push", "node", n.ID(), "err", err)
	}
}

// Close stops the background loop and withdraws this node's offers.
func (n *Node) Close(ctx context.Context) error {
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
	}
	return n.Withdraw(ctx)
}

// Expire drops offers, backup entries and leases past their expiry.
func (n *Node) Expire() {
	now := n.cfg.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.offersRecv.expire(now)
	n.backupMax = 0
	for p, os := range n.backup {
		kept := os[:0]
		for _, o := range os {
			if !o.expired(now) {
				kept = append(kept, o)
				n.backupMax = max(n.backupMax, o.AvailableMB)
			}
		}
		if len(kept) == 0 {
			delete(n.backup, p)
		} else {
			n.backup[p] = kept
		}
	}
	n.expireLeasesLocked(now)
}

// AddressTable maps peers to the addresses their offers carried, so a
// scheduler can dial a supplier a trader told it about.
type AddressTable map[peer.ID][]string
