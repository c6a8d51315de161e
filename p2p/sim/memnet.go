package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
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

	eps    map[peer.ID]*Endpoint
	mu     sync.Mutex  // guards sorted and dirty: lookups rebuild them lazily
	sorted []*Endpoint // live endpoints by DHT ID
	dirty  bool
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
	net      *MemNet
	id       peer.ID
	kid      []byte
	alive    bool
	handlers map[protocol.ID]memHandler
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
	max int
	h   ring.Handler
}

// Join attaches a live node.
func (n *MemNet) Join(id peer.ID) *Endpoint {
	ep := &Endpoint{net: n, id: id, kid: kb.ConvertPeerID(id), alive: true, handlers: map[protocol.ID]memHandler{}}
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

func (n *MemNet) live() []*Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dirty {
		// A fresh slice: lookups in flight keep reading the old one.
		n.sorted = make([]*Endpoint, 0, len(n.eps))
		for _, ep := range n.eps {
			n.sorted = append(n.sorted, ep)
		}
		sort.Slice(n.sorted, func(i, j int) bool { return bytes.Compare(n.sorted[i].kid, n.sorted[j].kid) < 0 })
		n.dirty = false
	}
	return n.sorted
}

// Self implements ring.Transport.
func (e *Endpoint) Self() peer.ID { return e.id }

// Addrs implements ring.Transport; in-memory nodes need none.
func (e *Endpoint) Addrs() []string { return nil }

// Handle implements ring.Transport.
func (e *Endpoint) Handle(proto protocol.ID, maxSize int, h ring.Handler) {
	e.handlers[proto] = memHandler{max: maxSize, h: h}
}

var _ ring.Transport = (*Endpoint)(nil)

// Call implements ring.Transport: the request and the reply each cost one
// message and Latency on the virtual clock.
func (e *Endpoint) Call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.MsgsOut.Add(1)
	e.BytesOut.Add(int64(len(req)))
	e.wait(e.net.Latency)
	dst, ok := e.net.eps[to.ID]
	if !ok || !dst.alive {
		// A dead peer never answers: the caller waits for its dial timeout.
		e.wait(e.net.Latency)
		return nil, fmt.Errorf("sim: %s unreachable", to.ID)
	}
	dst.MsgsIn.Add(1)
	dst.BytesIn.Add(int64(len(req)))
	h, ok := dst.handlers[proto]
	if !ok {
		return nil, fmt.Errorf("sim: %s does not speak %s", to.ID, proto)
	}
	var resp []byte
	var err error
	if len(req) > h.max {
		err = fmt.Errorf("bad request: message too large")
	} else {
		resp, err = h.h(ctx, e.id, req)
	}
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
	live := n.live()
	type cand struct {
		ep      *Endpoint
		queried bool
	}
	known := map[*Endpoint]*cand{}
	var order []*cand
	add := func(eps []*Endpoint) {
		for _, p := range eps {
			if p == e {
				continue
			}
			if _, ok := known[p]; !ok {
				c := &cand{ep: p}
				known[p] = c
				order = append(order, c)
			}
		}
		t := binary.BigEndian.Uint64(target)
		sort.Slice(order, func(i, j int) bool {
			a, b := binary.BigEndian.Uint64(order[i].ep.kid)^t, binary.BigEndian.Uint64(order[j].ep.kid)^t
			if a != b {
				return a < b
			}
			return closer(order[i].ep.kid, order[j].ep.kid, target)
		})
		if len(order) > n.K {
			for _, c := range order[n.K:] {
				delete(known, c.ep)
			}
			order = order[:n.K]
		}
	}
	add(n.nearest(live, e, target))
	msgs := 0
	for {
		var batch []*cand
		for _, c := range order {
			if !c.queried && len(batch) < n.Alpha {
				batch = append(batch, c)
			}
		}
		done := true
		for i := 0; i < len(order) && i < n.Beta; i++ {
			if !order[i].queried {
				done = false
			}
		}
		if done || len(batch) == 0 {
			break
		}
		e.wait(2 * n.Latency)
		var found []*Endpoint
		for _, c := range batch {
			c.queried = true
			msgs++
			res := n.nearest(live, c.ep, target)
			e.countQuery(c.ep, len(res))
			found = append(found, res...)
		}
		add(found)
	}
	// kad-dht's GetClosestPeers follows up: it queries every one of the K
	// closest it has not heard from, in one more round.
	var follow []*cand
	for _, c := range order {
		if !c.queried {
			follow = append(follow, c)
		}
	}
	if len(follow) > 0 {
		e.wait(2 * n.Latency)
	}
	for _, c := range follow {
		c.queried = true
		msgs++
		res := n.nearest(live, c.ep, target)
		e.countQuery(c.ep, len(res))
	}
	best := e
	for _, c := range order {
		if closer(c.ep.kid, best.kid, target) {
			best = c.ep
		}
	}
	return best.id, msgs, nil
}

// sortByDistance orders eps by XOR distance to target, comparing the first
// 64 bits first: ties beyond them are vanishingly rare.
func sortByDistance(eps []*Endpoint, target []byte) {
	t := binary.BigEndian.Uint64(target)
	d := make([]uint64, len(eps))
	idx := make([]int, len(eps))
	for i, ep := range eps {
		d[i] = binary.BigEndian.Uint64(ep.kid) ^ t
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool {
		if d[idx[i]] != d[idx[j]] {
			return d[idx[i]] < d[idx[j]]
		}
		return closer(eps[idx[i]].kid, eps[idx[j]].kid, target)
	})
	out := make([]*Endpoint, len(eps))
	for i, j := range idx {
		out[i] = eps[j]
	}
	copy(eps, out)
}

// countQuery books one FIND_NODE exchange with to, answered with peers.
func (e *Endpoint) countQuery(to *Endpoint, peers int) {
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
// derived routing table closest to target. Only the buckets that can hold
// them are built: the bucket at x's common prefix length with target holds
// the closest, then the buckets beyond it, then those before it.
func (n *MemNet) nearest(live []*Endpoint, x *Endpoint, target []byte) []*Endpoint {
	ranges := n.table(live, x)
	c := commonPrefixLen(x.kid, target)
	var out []*Endpoint
	take := func(b []*Endpoint) {
		if len(out) < n.K && len(b) > 0 {
			sortByDistance(b, target)
			out = append(out, b[:min(len(b), n.K-len(out))]...)
		}
	}
	if c < len(ranges) {
		take(n.bucket(live, x, ranges[c], c))
	}
	// Buckets past c share exactly c bits with target, as x does; they are
	// closer than the buckets before c.
	if len(out) < n.K {
		var rest []*Endpoint
		for i := c + 1; i < len(ranges); i++ {
			rest = append(rest, n.bucket(live, x, ranges[i], i)...)
		}
		take(rest)
	}
	for i := min(c, len(ranges)) - 1; i >= 0 && len(out) < n.K; i-- {
		take(n.bucket(live, x, ranges[i], i))
	}
	return out
}

func commonPrefixLen(a, b []byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return len(a) * 8
}

// table derives x's routing table as runs of the sorted live set: for each
// prefix length i, the peers sharing exactly i leading bits with x form one
// contiguous run, bucket i's candidates.
func (n *MemNet) table(live []*Endpoint, x *Endpoint) [][2]int {
	var out [][2]int
	lo, hi := 0, len(live) // the run sharing the first i bits with x
	for i := 0; i < 256 && hi-lo > 1; i++ {
		bit := x.kid[i/8] >> (7 - i%8) & 1
		// Split [lo,hi) by bit i: peers with bit 0 first.
		mid := lo + sort.Search(hi-lo, func(j int) bool {
			return live[lo+j].kid[i/8]>>(7-i%8)&1 == 1
		})
		if bit == 0 {
			out = append(out, [2]int{mid, hi})
			hi = mid
		} else {
			out = append(out, [2]int{lo, mid})
			lo = mid
		}
	}
	return out
}

// bucket is x's bucket i: up to K peers of its run, spread evenly from an
// offset fixed per node, as a long-running node's bucket would hold.
func (n *MemNet) bucket(live []*Endpoint, x *Endpoint, run [2]int, i int) []*Endpoint {
	blo, size := run[0], run[1]-run[0]
	if size <= n.K {
		return append([]*Endpoint(nil), live[blo:run[1]]...)
	}
	h := sha256.Sum256(append(append([]byte(nil), x.kid...), byte(i)))
	off := int(binary.BigEndian.Uint32(h[:4]) % uint32(size))
	b := make([]*Endpoint, n.K)
	for j := range b {
		b[j] = live[blo+(off+j*size/n.K)%size]
	}
	return b
}

// ExactTrader is the true closest live peer to key (for validation).
func (n *MemNet) ExactTrader(key ring.Key) peer.ID {
	target := kb.ConvertKey(string(key[:]))
	var best *Endpoint
	for _, ep := range n.live() {
		if best == nil || closer(ep.kid, best.kid, target) {
			best = ep
		}
	}
	return best.id
}
