package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/faasedge/faasedge/p2p/ring"
)

// MemNet is a light in-memory network for tens of thousands of ring nodes
// in one process. Messages are synchronous function calls on a virtual
// clock; trader lookups are real Kademlia iterative lookups (k, α, β as in
// go-libp2p-kad-dht) over routing tables that are not stored but derived on
// demand from the sorted set of live peers: a node's bucket i holds up to k
// peers spread evenly over the peers that share exactly i leading bits with
// it. That keeps a node at a few hundred bytes where go-libp2p's mocknet
// needs megabytes, while lookups still walk the same XOR metric and find
// the same closest peer the DHT would.
//
// Operations (Call, Trader) may run concurrently with each other; Join and
// Leave must not run while an operation is in flight. Virtual time is the
// ring's Clock plus, per endpoint, the lag of the operation that endpoint is
// driving (Begin), so concurrent operations each measure their own
// latency.
type MemNet struct {
	Clock *Clock
	// Latency is one message's one-way delay on the virtual clock.
	Latency time.Duration
	K       int // bucket size and lookup width (kad-dht: 20)
	Alpha   int // lookup concurrency (kad-dht: 10)
	Beta    int // a lookup ends when the Beta closest peers answered (kad-dht: 3)

	eps   map[peer.ID]*Endpoint
	mu    sync.Mutex // guards snap and dirty: lookups rebuild them lazily
	snap  *snapshot
	dirty bool
}

// snapshot is the live set sorted by DHT ID, with the first 64 bits of
// each ID beside it: splitting a run of it by one bit is a binary search
// over integers, and most distance comparisons need no more than them.
type snapshot struct {
	eps    []*Endpoint
	prefix []uint64
}

// NewMemNet returns an empty network with kad-dht's lookup parameters.
func NewMemNet(clock *Clock, latency time.Duration) *MemNet {
	return &MemNet{Clock: clock, Latency: latency, K: 20, Alpha: 10, Beta: 3, eps: map[peer.ID]*Endpoint{}}
}

// Clock is the ring's virtual time: only arrivals move it forward. The
// time an operation takes is kept apart, as the lag of the endpoint driving
// it (Endpoint.Begin, Endpoint.Now).
type Clock struct{ ns atomic.Int64 }

// NewClock starts virtual time at start.
func NewClock(start time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(start.UnixNano())
	return c
}

// Now is the current virtual time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves virtual time forward.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Endpoint is one node's attachment to a MemNet; it implements
// ring.Transport.
type Endpoint struct {
	net *MemNet
	id  peer.ID
	kid []byte
	// k64 is kid's first 64 bits; seed fixes where this node's buckets
	// start in their runs.
	k64, seed uint64
	alive     bool
	// table is the routing table last derived for this node (routes).
	table atomic.Pointer[routeTable]
	// handlers is a slice, not a map: a node speaks five protocols, and a
	// map per node would cost more memory than the rest of the endpoint.
	handlers []memHandler
	// lag is how far the operation this endpoint drives has run past the
	// ring's clock: its messages' latency.
	lag atomic.Int64
	// Traffic counters: messages and bytes sent and received.
	MsgsOut, MsgsIn   atomic.Int64
	BytesOut, BytesIn atomic.Int64
}

// Begin starts an operation driven by this endpoint at offset past the
// ring's clock (an arrival between two clock steps); the latency of its
// messages is added from there.
func (e *Endpoint) Begin(offset time.Duration) { e.lag.Store(int64(offset)) }

// Now is this endpoint's virtual time: the ring's clock plus the lag of the
// operation it drives. Ring nodes on a MemNet use it as their clock.
func (e *Endpoint) Now() time.Time { return e.net.Clock.Now().Add(time.Duration(e.lag.Load())) }

func (e *Endpoint) wait(d time.Duration) { e.lag.Add(int64(d)) }

type memHandler struct {
	proto protocol.ID
	max   int
	h     ring.Handler
}

// Join attaches a live node.
func (n *MemNet) Join(id peer.ID) *Endpoint {
	kid := kb.ConvertPeerID(id)
	k64 := binary.BigEndian.Uint64(kid)
	// Room for the ring's five protocols.
	ep := &Endpoint{net: n, id: id, kid: kid, k64: k64, seed: mix(k64, 0), alive: true, handlers: make([]memHandler, 0, 5)}
	n.eps[id] = ep
	n.mu.Lock()
	n.dirty = true
	n.mu.Unlock()
	return ep
}

// Leave kills a node: it answers nothing from now on.
func (n *MemNet) Leave(id peer.ID) {
	if ep, ok := n.eps[id]; ok {
		ep.alive = false
		delete(n.eps, id)
		n.mu.Lock()
		n.dirty = true
		n.mu.Unlock()
	}
}

// Size is the number of live nodes.
func (n *MemNet) Size() int { return len(n.eps) }

func (n *MemNet) live() *snapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dirty || n.snap == nil {
		// A fresh snapshot: lookups in flight keep reading the old one.
		eps := make([]*Endpoint, 0, len(n.eps))
		for _, ep := range n.eps {
			eps = append(eps, ep)
		}
		slices.SortFunc(eps, func(a, b *Endpoint) int { return bytes.Compare(a.kid, b.kid) })
		prefix := make([]uint64, len(eps))
		for i, ep := range eps {
			prefix[i] = ep.k64
		}
		n.snap = &snapshot{eps: eps, prefix: prefix}
		n.dirty = false
	}
	return n.snap
}

// Self implements ring.Transport.
func (e *Endpoint) Self() peer.ID { return e.id }

// Addrs implements ring.Transport; in-memory nodes need none.
func (e *Endpoint) Addrs() []string { return nil }

// Handle implements ring.Transport.
func (e *Endpoint) Handle(proto protocol.ID, maxSize int, h ring.Handler) {
	e.handlers = slices.DeleteFunc(e.handlers, func(m memHandler) bool { return m.proto == proto })
	e.handlers = append(e.handlers, memHandler{proto: proto, max: maxSize, h: h})
}

func (e *Endpoint) handler(proto protocol.ID) (memHandler, bool) {
	for _, m := range e.handlers {
		if m.proto == proto {
			return m, true
		}
	}
	return memHandler{}, false
}

var _ ring.Transport = (*Endpoint)(nil)

// Call implements ring.Transport: the request and the reply each cost one
// message and Latency on the virtual clock. A request a node sends itself
// (ring.WithSelfCalls) costs nothing. Under a lockstep, the call is one of
// the operation's serial steps.
func (e *Endpoint) Call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, req []byte) (resp []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inStep(ctx, proto, to.ID, func() {
		if to.ID == e.id {
			resp, err = e.serve(ctx, e, proto, req)
			return
		}
		resp, err = e.call(ctx, to, proto, req)
	})
	return resp, err
}

func (e *Endpoint) call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, req []byte) ([]byte, error) {
	e.MsgsOut.Add(1)
	e.BytesOut.Add(int64(len(req)))
	e.wait(e.net.Latency)
	touch(ctx, to.ID)
	dst, ok := e.net.eps[to.ID]
	if !ok || !dst.alive {
		// A dead peer never answers: the caller waits for its dial timeout.
		e.wait(e.net.Latency)
		return nil, fmt.Errorf("sim: %s unreachable", to.ID)
	}
	dst.MsgsIn.Add(1)
	dst.BytesIn.Add(int64(len(req)))
	resp, err := dst.serve(ctx, e, proto, req)
	dst.MsgsOut.Add(1)
	e.MsgsIn.Add(1)
	n := int64(len(resp) + 1)
	if err != nil {
		n = int64(len(err.Error()) + 1)
		err = ring.NewRemoteError(err)
	}
	dst.BytesOut.Add(n)
	e.BytesIn.Add(n)
	e.wait(e.net.Latency)
	return resp, err
}

// serve is dst's handler of proto answering from.
func (dst *Endpoint) serve(ctx context.Context, from *Endpoint, proto protocol.ID, req []byte) ([]byte, error) {
	h, ok := dst.handler(proto)
	if !ok {
		return nil, fmt.Errorf("sim: %s does not speak %s", dst.id, proto)
	}
	if len(req) > h.max {
		return nil, fmt.Errorf("bad request: message too large")
	}
	return h.h(ctx, from.id, req)
}

type peerSetKey struct{}

// PeerSet collects the distinct peers the messages of one operation reach:
// an operation carries it in its context (WithPeerSet), and MemNet adds
// every peer a call or lookup query is sent to. Work a handler starts on
// its own context (a supplier's re-publishing after a claim) is not
// counted.
type PeerSet map[peer.ID]struct{}

// WithPeerSet returns ctx carrying s.
func WithPeerSet(ctx context.Context, s PeerSet) context.Context {
	return context.WithValue(ctx, peerSetKey{}, s)
}

func touch(ctx context.Context, id peer.ID) {
	if s, ok := ctx.Value(peerSetKey{}).(PeerSet); ok {
		s[id] = struct{}{}
	}
}

// findNodeBytes is the size of a kad FIND_NODE request and of one peer in
// its reply (ID and one address), for the bandwidth figures.
const (
	findNodeReqBytes  = 48
	findNodePeerBytes = 80
)

// Trader implements ring.Transport with an iterative Kademlia lookup. Each
// round queries up to Alpha unqueried peers among the K closest known, in
// parallel (one round trip on the clock); the lookup ends when the Beta
// closest known peers have all answered, and then, like kad-dht's
// GetClosestPeers, queries the rest of the K closest.
func (e *Endpoint) Trader(ctx context.Context, key ring.Key) (peer.ID, int, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	target := kb.ConvertKey(string(key[:]))
	n := e.net
	s := n.live()
	// closest holds the K closest peers heard of, nearest first, with
	// whether they were queried; answers are the answers of one round.
	closest := newNearSet(s, n.K, target)
	queried := make([]bool, 0, n.K)
	answers := make([]nearSet, n.Alpha)
	for i := range answers {
		answers[i] = newNearSet(s, n.K, target)
	}
	merge := func(from *nearSet) {
		for i, p := range from.idx {
			if s.eps[p] == e || slices.Contains(closest.idx, p) {
				continue
			}
			if at := closest.offer(p, from.d[i]); at >= 0 {
				queried = slices.Insert(queried, at, false)[:len(closest.idx)]
			}
		}
	}
	n.nearest(s, e, &answers[0])
	merge(&answers[0])
	msgs := 0
	batch := make([]int32, 0, n.Alpha)
	for {
		batch = batch[:0]
		done := true
		for i, p := range closest.idx {
			if queried[i] {
				continue
			}
			if i < n.Beta {
				done = false
			}
			if len(batch) < n.Alpha {
				batch = append(batch, p)
			}
		}
		if done || len(batch) == 0 {
			break
		}
		// The batch's answers are merged after all were asked, as kad-dht's
		// parallel queries are.
		for i, p := range closest.idx {
			if slices.Contains(batch, p) {
				queried[i] = true
			}
		}
		e.wait(2 * n.Latency)
		for i, p := range batch {
			msgs++
			answers[i].reset()
			n.nearest(s, s.eps[p], &answers[i])
			e.countQuery(ctx, s.eps[p], len(answers[i].idx))
		}
		for i := range batch {
			merge(&answers[i])
		}
	}
	// kad-dht's GetClosestPeers follows up: it queries every one of the K
	// closest it has not heard from, in one more round.
	follow := false
	for i, p := range closest.idx {
		if queried[i] {
			continue
		}
		follow = true
		msgs++
		answers[0].reset()
		n.nearest(s, s.eps[p], &answers[0])
		e.countQuery(ctx, s.eps[p], len(answers[0].idx))
	}
	if follow {
		e.wait(2 * n.Latency)
	}
	best := e
	if len(closest.idx) > 0 && closer(s.eps[closest.idx[0]].kid, e.kid, target) {
		best = s.eps[closest.idx[0]]
	}
	return best.id, msgs, nil
}

// nearSet keeps the k peers closest to target among those offered,
// nearest first: XOR distance on the first 64 bits, full IDs on a tie.
// Peers are indices into the snapshot: no pointers to write (or for the
// collector to scan) in the lookups' hottest loop.
type nearSet struct {
	s      *snapshot
	k      int
	target []byte
	t64    uint64
	idx    []int32
	d      []uint64
}

func newNearSet(s *snapshot, k int, target []byte) nearSet {
	return nearSet{s: s, k: k, target: target, t64: binary.BigEndian.Uint64(target), idx: make([]int32, 0, k), d: make([]uint64, 0, k)}
}

func (ns *nearSet) reset() { ns.idx, ns.d = ns.idx[:0], ns.d[:0] }

func (ns *nearSet) full() bool { return len(ns.idx) == ns.k }

// offer adds peer p (at distance d) if it is among the k closest so far
// and returns where it went, or -1.
func (ns *nearSet) offer(p int32, d uint64) int {
	less := func(i int) bool {
		return d < ns.d[i] || d == ns.d[i] && closer(ns.s.eps[p].kid, ns.s.eps[ns.idx[i]].kid, ns.target)
	}
	if ns.full() && !less(ns.k-1) {
		return -1
	}
	at := len(ns.idx)
	for at > 0 && less(at-1) {
		at--
	}
	if ns.full() {
		ns.idx, ns.d = ns.idx[:ns.k-1], ns.d[:ns.k-1]
	}
	ns.idx, ns.d = slices.Insert(ns.idx, at, p), slices.Insert(ns.d, at, d)
	return at
}

// countQuery books one FIND_NODE exchange with to, answered with peers.
func (e *Endpoint) countQuery(ctx context.Context, to *Endpoint, peers int) {
	touch(ctx, to.id)
	e.MsgsOut.Add(1)
	e.BytesOut.Add(findNodeReqBytes)
	to.MsgsIn.Add(1)
	to.BytesIn.Add(findNodeReqBytes)
	to.MsgsOut.Add(1)
	to.BytesOut.Add(int64(peers * findNodePeerBytes))
	e.MsgsIn.Add(1)
	e.BytesIn.Add(int64(peers * findNodePeerBytes))
}

func closer(a, b, target []byte) bool {
	for i := range target {
		x, y := a[i]^target[i], b[i]^target[i]
		if x != y {
			return x < y
		}
	}
	return false
}

// nearest is node x's answer to FIND_NODE(target): the K peers of its
// derived routing table closest to target, into out. Buckets come in order
// of distance, so the walk stops when out is full: the bucket at x's common
// prefix length c with target holds the closest (they share more than c
// bits with target), then the buckets beyond c (exactly c bits), then those
// before c, each farther than the next.
func (n *MemNet) nearest(s *snapshot, x *Endpoint, out *nearSet) {
	ranges := n.routes(s, x)
	c := commonPrefixLen(x.kid, out.target)
	if c < len(ranges) {
		n.bucket(s, x, ranges[c], c, out)
	}
	for i := c + 1; i < len(ranges) && !out.full(); i++ {
		n.bucket(s, x, ranges[i], i, out)
	}
	for i := min(c, len(ranges)) - 1; i >= 0 && !out.full(); i-- {
		n.bucket(s, x, ranges[i], i, out)
	}
}

func commonPrefixLen(a, b []byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return len(a) * 8
}

// routeTable is a node's derived routing table on one snapshot.
type routeTable struct {
	snap   *snapshot
	ranges [][2]int
}

// routes is x's routing table on snapshot s: kept from x's last lookup
// answer on the same snapshot (a lookup asks the same peers near its
// target over and over), derived again after the live set changed or the
// tables were forgotten (Forget).
func (n *MemNet) routes(s *snapshot, x *Endpoint) [][2]int {
	if t := x.table.Load(); t != nil && t.snap == s {
		return t.ranges
	}
	t := &routeTable{snap: s, ranges: n.table(s, x, make([][2]int, 0, 24))}
	x.table.Store(t)
	return t.ranges
}

// Forget drops the routing tables kept since the last call, bounding what
// the network holds to the nodes asked in between.
func (n *MemNet) Forget() {
	for _, ep := range n.eps {
		ep.table.Store(nil)
	}
}

// table derives x's routing table as runs of the sorted live set, appended
// to out: for each prefix length i, the peers sharing exactly i leading bits
// with x form one contiguous run, bucket i's candidates.
func (n *MemNet) table(s *snapshot, x *Endpoint, out [][2]int) [][2]int {
	lo, hi := 0, len(s.eps) // the run sharing the first i bits with x
	for i := 0; i < 256 && hi-lo > 1; i++ {
		// Split [lo,hi) by bit i: peers with bit 0 first.
		var mid int
		if i < 64 {
			// The run shares x's first i bits, so those with bit i set are
			// the ones from x's first i bits followed by a one.
			t := (x.k64>>(63-i) | 1) << (63 - i)
			a, b := lo, hi
			for a < b {
				if m := int(uint(a+b) >> 1); s.prefix[m] < t {
					a = m + 1
				} else {
					b = m
				}
			}
			mid = a
		} else {
			mid = lo + sort.Search(hi-lo, func(j int) bool {
				return s.eps[lo+j].kid[i/8]>>(7-i%8)&1 == 1
			})
		}
		if x.kid[i/8]>>(7-i%8)&1 == 0 {
			out = append(out, [2]int{mid, hi})
			hi = mid
		} else {
			out = append(out, [2]int{lo, mid})
			lo = mid
		}
	}
	return out
}

// bucket offers x's bucket i to out: up to K peers of its run, spread evenly
// from an offset fixed per node and bucket, as a long-running node's bucket
// would hold.
func (n *MemNet) bucket(s *snapshot, x *Endpoint, run [2]int, i int, out *nearSet) {
	blo, size := run[0], run[1]-run[0]
	// Distances from the snapshot's prefixes: no visit to the endpoints
	// that do not make the cut.
	add := func(j int) { out.offer(int32(j), s.prefix[j]^out.t64) }
	if size <= n.K {
		for j := blo; j < run[1]; j++ {
			add(j)
		}
		return
	}
	off := int(mix(x.seed, uint64(i)) % uint64(size))
	for j := range n.K {
		add(blo + (off+j*size/n.K)%size)
	}
}

// mix is SplitMix64's finaliser over a and b: a cheap, well-spread hash.
func mix(a, b uint64) uint64 {
	z := a + (b+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// ExactTrader is the true closest live peer to key (for validation).
func (n *MemNet) ExactTrader(key ring.Key) peer.ID {
	target := kb.ConvertKey(string(key[:]))
	var best *Endpoint
	for _, ep := range n.live().eps {
		if best == nil || closer(ep.kid, best.kid, target) {
			best = ep
		}
	}
	return best.id
}
