package ring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/faasedge/faasedge/activation"
)

// Placement is a granted claim: where a function runs and under which lease.
type Placement struct {
	Offer    Offer  `json:"offer"`
	LeaseID  string `json:"leaseID"`
	MemoryMB int    `json:"memory"`
	CID      string `json:"cid"`
	// Expiry is when the lease lapses unless renewed or used (epoch ms).
	Expiry     int64 `json:"expiry"`
	FromBackup bool  `json:"fromBackup"`
	Stats      Stats `json:"stats"`
}

// Supplier is the peer the placement runs on.
func (p Placement) Supplier() peer.ID { return p.Offer.Supplier }

// Stats measure one Schedule call, the proposal's metrics.
type Stats struct {
	// Tries is the number of trader lookups (keys tried).
	Tries int `json:"tries"`
	// DiscoveryMessages counts DHT lookup queries and find requests;
	// DeployMessages counts claims.
	DiscoveryMessages int `json:"discoveryMessages"`
	DeployMessages    int `json:"deployMessages"`
	// Discovery is the time to the first offers found (or to giving up);
	// Deployment the time to the granted claim.
	Discovery  time.Duration `json:"discovery"`
	Deployment time.Duration `json:"deployment"`
	// Peers is the number of distinct peers sent a find or a claim (the
	// DHT lookups' peers are counted in DiscoveryMessages only).
	Peers int `json:"peers"`

	contacted map[peer.ID]struct{}
}

// contact counts p among the peers a Schedule call talked to.
func (st *Stats) contact(p peer.ID) {
	if st.contacted == nil {
		st.contacted = map[peer.ID]struct{}{}
	}
	st.contacted[p] = struct{}{}
	st.Peers = len(st.contacted)
}

// Schedule is the proposal's Scheduling (Alg. 3) around ResourceDiscovery
// (Alg. 2): up to maxTries distinct random keys, of the request's region
// and alternately of the regions above it (discoveryKeys), each asking the
// key's trader for offers; the offers
// found are sorted by the policy and claimed in turn until one supplier
// grants the claim. When the tries are spent the backup list is the last
// resort. The returned error wraps ErrNoOffer when nothing fit; the
// Placement's Stats are filled either way.
func (n *Node) Schedule(ctx context.Context, cid string, memoryMB int) (Placement, error) {
	var st Stats
	start := n.cfg.now()
	found := false
	mark := func() {
		if !found {
			found = true
			st.Discovery = n.cfg.now().Sub(start)
		}
	}
	rs := n.cfg.regions
	r0 := max(rs.For(memoryMB), 0)
	if memoryMB < 1 || memoryMB > MaxOfferMB {
		return Placement{}, fmt.Errorf("ring: schedule %d MB: outside 1..%d MB", memoryMB, MaxOfferMB)
	}
	var lastErr error
	for _, c := range n.discoveryKeys(r0) {
		if err := ctx.Err(); err != nil {
			return Placement{Stats: st}, err
		}
		region, key := c.region, c.key
		trader, msgs, err := n.tr.Trader(ctx, key)
		st.Tries++
		st.DiscoveryMessages += msgs
		if err != nil {
			lastErr = err
			continue
		}
		offers, err := n.find(ctx, trader, region, memoryMB, &st)
		if err != nil {
			lastErr = err
			continue
		}
		if len(offers) == 0 {
			continue
		}
		mark()
		if p, err := n.claimFirst(ctx, offers, cid, memoryMB, &st); err == nil {
			st.Deployment = n.cfg.now().Sub(start)
			p.Stats = st
			return p, nil
		} else {
			lastErr = err
		}
	}
	if n.cfg.backup {
		if offers := n.backupFitting(memoryMB); len(offers) > 0 {
			mark()
			p, err := n.claimFirst(ctx, offers, cid, memoryMB, &st)
			if err == nil {
				st.Deployment = n.cfg.now().Sub(start)
				p.FromBackup = true
				p.Stats = st
				return p, nil
			}
			lastErr = err
		}
	}
	mark()
	st.Deployment = n.cfg.now().Sub(start)
	if lastErr != nil {
		return Placement{Stats: st}, fmt.Errorf("%w for %d MB: %w", ErrNoOffer, memoryMB, lastErr)
	}
	return Placement{Stats: st}, fmt.Errorf("%w for %d MB", ErrNoOffer, memoryMB)
}

type regionKey struct {
	region int
	key    Key
}

// discoveryKeys picks the keys discovery tries, maxTries in all: keys of
// the request's own region r0 alternate with keys of the regions above it
// (r0, r0+1, r0, r0+2, ...). The own region holds the tightest offers; the
// regions above hold offers that all fit, which matters when small requests
// meet volunteers offering large amounts. Keys are distinct, so a retry
// never asks the same trader for the same region twice.
func (n *Node) discoveryKeys(r0 int) []regionKey {
	rs := n.cfg.regions
	n.mu.Lock()
	defer n.mu.Unlock()
	perms := map[int][]int{}
	next := func(r int) (regionKey, bool) {
		p, ok := perms[r]
		if !ok {
			p = n.rnd.Perm(len(rs.keys[r]))
		}
		if len(p) == 0 {
			perms[r] = p
			return regionKey{}, false
		}
		perms[r] = p[1:]
		return regionKey{r, rs.keys[r][p[0]]}, true
	}
	var out []regionKey
	up := r0 + 1
	for own := true; len(out) < n.cfg.maxTries; own = !own {
		if own {
			if k, ok := next(r0); ok {
				out = append(out, k)
				continue
			}
		}
		for ; up < rs.Len(); up++ {
			if k, ok := next(up); ok {
				out = append(out, k)
				up++
				break
			}
		}
		if up >= rs.Len() && len(perms[r0]) == 0 && perms[r0] != nil {
			break // every key tried
		}
	}
	return out
}

// find asks a trader (possibly this node) for fitting offers. Signatures
// are checked only on the offer about to be claimed (claimFirst): most
// offers found are never used, and verifying each costs an ed25519 check.
func (n *Node) find(ctx context.Context, trader peer.ID, region, memoryMB int, st *Stats) ([]*Offer, error) {
	body, _ := json.Marshal(findMsg{Region: region, MemoryMB: memoryMB})
	var m offersMsg
	if trader != n.ID() {
		st.DiscoveryMessages++
		st.contact(trader)
	}
	if err := n.send(ctx, trader, ProtoFind, body, &m); err != nil {
		return nil, err
	}
	out := m.Offers[:0]
	for _, o := range m.Offers {
		if o != nil && o.AvailableMB >= memoryMB {
			out = append(out, o)
		}
	}
	return out, nil
}

// order sorts offers by the policy: best fit smallest first, worst fit
// largest first; ties broken by offer ID so runs are reproducible.
func (n *Node) order(offers []*Offer) {
	sort.Slice(offers, func(i, j int) bool {
		a, b := offers[i], offers[j]
		if a.AvailableMB != b.AvailableMB {
			if n.cfg.policy == WorstFit {
				return a.AvailableMB > b.AvailableMB
			}
			return a.AvailableMB < b.AvailableMB
		}
		return a.ID < b.ID
	})
}

// claimFirst claims the offers in policy order; a refused claim falls
// through to the next offer.
func (n *Node) claimFirst(ctx context.Context, offers []*Offer, cid string, memoryMB int, st *Stats) (Placement, error) {
	n.order(offers)
	var errs []error
	now := n.cfg.now()
	for _, o := range offers {
		if err := ctx.Err(); err != nil {
			return Placement{}, err
		}
		if err := o.Verify(n.cfg.regions, now, n.cfg.maxOfferLifetime()); err != nil {
			n.cfg.log.Warn("ring: skipping bad offer", "supplier", o.Supplier, "err", err)
			errs = append(errs, err)
			continue
		}
		n.mu.Lock()
		n.addrs[o.Supplier] = o.Addrs
		n.mu.Unlock()
		body, _ := json.Marshal(claimMsg{Op: opClaim, OfferID: o.ID, MemoryMB: memoryMB, CID: cid})
		var rep claimReply
		if o.Supplier != n.ID() {
			st.DeployMessages++
			st.contact(o.Supplier)
		}
		if err := n.send(ctx, o.Supplier, ProtoClaim, body, &rep); err != nil {
			errs = append(errs, err)
			n.dropBackup(o)
			continue
		}
		return Placement{Offer: *o, LeaseID: rep.LeaseID, MemoryMB: memoryMB, CID: cid, Expiry: rep.Expiry}, nil
	}
	return Placement{}, errors.Join(errs...)
}

// RunReplyGrace is how long past a run's deadline the scheduler waits for
// the supplier's reply: the supplier stops the run at the deadline and
// answers with the stock timeout response and the logs, which take a
// moment to arrive. A healthy supplier whose action timed out is thus not
// mistaken for a failed one (and its lease dropped).
const RunReplyGrace = 10 * time.Second

// Run sends an activation to the placement's supplier on
// /faasedge/run/1.0.0 and waits for the result. It returns at the request's
// deadline plus RunReplyGrace at the latest, earlier with an error if the
// supplier goes away.
func (n *Node) Run(ctx context.Context, p Placement, req RunRequest) (activation.Result, error) {
	req.LeaseID = p.LeaseID
	if req.Action.Code.CID == "" {
		req.Action.Code.CID = p.CID
	}
	if d := req.Invocation.Deadline; !d.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(RunReplyGrace))
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return activation.Result{}, err
	}
	var resp activation.Result
	if err := n.send(ctx, p.Offer.Supplier, ProtoRun, body, &resp); err != nil {
		return activation.Result{}, fmt.Errorf("ring: run %s on %s: %w", req.Invocation.ID, p.Offer.Supplier, err)
	}
	return resp, nil
}

// Renew extends the placement's lease.
func (n *Node) Renew(ctx context.Context, p *Placement) error {
	body, _ := json.Marshal(claimMsg{Op: opRenew, LeaseID: p.LeaseID})
	var rep claimReply
	if err := n.send(ctx, p.Offer.Supplier, ProtoClaim, body, &rep); err != nil {
		return err
	}
	p.Expiry = rep.Expiry
	return nil
}

// Prepare asks the placement's supplier to fetch and compile cid ahead of
// the runs it will be sent under the placement's lease (a claim made
// without that CID, or code deployed after the claim). It returns once the
// supplier has taken the request, not when the code is compiled.
func (n *Node) Prepare(ctx context.Context, p Placement, cid string) error {
	body, _ := json.Marshal(claimMsg{Op: opPrepare, LeaseID: p.LeaseID, CID: cid})
	return n.send(ctx, p.Offer.Supplier, ProtoClaim, body, nil)
}

// Release frees the placement's memory at its supplier.
func (n *Node) Release(ctx context.Context, p Placement) error {
	body, _ := json.Marshal(claimMsg{Op: opRelease, LeaseID: p.LeaseID})
	return n.send(ctx, p.Offer.Supplier, ProtoClaim, body, nil)
}

// handleBackup stores a supplier's pushed offers as its backup-list entry,
// replacing what it pushed before.
func (n *Node) handleBackup(_ context.Context, from peer.ID, m offersMsg) ([]byte, error) {
	if len(m.Offers) > maxOffersPerSupplier {
		return nil, fmt.Errorf("ring: backup push of %d offers over %d", len(m.Offers), maxOffersPerSupplier)
	}
	now := n.cfg.now()
	for _, o := range m.Offers {
		if o == nil || o.Supplier != from {
			return nil, fmt.Errorf("%w: backup offer not from %s", ErrBadSignature, from)
		}
		if err := o.Verify(n.cfg.regions, now, n.cfg.maxOfferLifetime()); err != nil {
			n.cfg.log.Warn("ring: backup offer refused", "from", from, "err", err)
			return nil, err
		}
	}
	n.mu.Lock()
	if len(m.Offers) == 0 {
		delete(n.backup, from)
	} else {
		n.backup[from] = m.Offers
		for _, o := range m.Offers {
			n.backupMax = max(n.backupMax, o.AvailableMB)
		}
		n.addrs[from] = m.Offers[0].Addrs
	}
	n.mu.Unlock()
	return nil, nil
}

func (n *Node) backupFitting(memoryMB int) []*Offer {
	now := n.cfg.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if memoryMB > n.backupMax {
		return nil
	}
	var out []*Offer
	for _, os := range n.backup {
		for _, o := range os {
			if o.AvailableMB >= memoryMB && !o.expired(now) {
				out = append(out, o)
			}
		}
	}
	return out
}

// dropBackup forgets a backup entry whose claim failed: it is stale until
// the supplier's next push.
func (n *Node) dropBackup(o *Offer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	os := n.backup[o.Supplier]
	for i, x := range os {
		if x.ID == o.ID {
			n.backup[o.Supplier] = append(os[:i:i], os[i+1:]...)
			return
		}
	}
}

// send delivers a request to a peer (or to this node's own handler) and
// decodes the reply into out when out is not nil.
func (n *Node) send(ctx context.Context, to peer.ID, proto protocol.ID, body []byte, out any) error {
	ai := peer.AddrInfo{ID: to}
	n.mu.Lock()
	for _, s := range n.addrs[to] {
		if a, err := parseAddr(s); err == nil {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	n.mu.Unlock()
	return n.call(ctx, ai, proto, body, out)
}

func (n *Node) call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, body []byte, out any) error {
	var resp []byte
	var err error
	if to.ID == n.ID() && !n.cfg.selfCalls {
		resp, err = n.local(ctx, proto, body)
	} else {
		resp, err = n.tr.Call(ctx, to, proto, body)
	}
	if err != nil {
		return err
	}
	if out == nil || len(resp) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("ring: %s reply: %w", proto, err)
	}
	return nil
}

// local serves a request addressed to this node without the network, as a
// trader that is also the scheduler or supplier.
func (n *Node) local(ctx context.Context, proto protocol.ID, body []byte) ([]byte, error) {
	h := n.handlers[proto]
	if h == nil {
		return nil, fmt.Errorf("ring: no handler for %s", proto)
	}
	return h(ctx, n.ID(), body)
}
