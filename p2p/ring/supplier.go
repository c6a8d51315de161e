package ring

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// vnode is one of a supplier's offers: the proposal's virtual node. A
// supplier splits the memory it volunteers into several vnodes so its
// offers land in several regions and at several traders.
type vnode struct {
	id       string
	capacity int
	used     int
	seq      uint64
	// Where its current offer is published; region -1 when unpublished.
	region int
	key    Key
	trader peer.ID
	// pub serialises the vnode's publications. Claims granted close
	// together each re-publish; interleaved, the older one could land at a
	// trader the newer one moved away from and never withdrew from, leaving
	// a copy with memory the vnode no longer has, which every scheduler
	// then claims in vain until it expires (the simulator showed failed
	// claims per scheduling growing with the ring's size and fill).
	pub sync.Mutex
}

func (v *vnode) available() int { return v.capacity - v.used }

// lease is a granted claim: memory of a vnode reserved for one scheduler
// until it is released or expires.
type lease struct {
	id     string
	owner  peer.ID
	vnode  *vnode
	mem    int
	expiry time.Time
	// runs are the runs in flight under the lease and runKB the memory
	// they take of it (runShareKB); a lease with runs does not expire.
	runs  int
	runKB int64
}

// Supply sets the memory this node volunteers, one offer per entry (the
// proposal's virtual nodes). Existing leases keep running on vnodes that
// remain; offers for removed vnodes are withdrawn at the next Publish.
func (n *Node) Supply(offersMB ...int) error {
	for _, mb := range offersMB {
		if mb < n.cfg.regions.Spec(0).MinMB || mb > MaxOfferMB {
			return fmt.Errorf("ring: offer of %d MB outside %d..%d MB", mb, n.cfg.regions.Spec(0).MinMB, MaxOfferMB)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	vs := make([]*vnode, 0, len(offersMB))
	for i, mb := range offersMB {
		if i < len(n.vnodes) {
			v := n.vnodes[i]
			v.capacity = mb
			vs = append(vs, v)
			continue
		}
		vs = append(vs, &vnode{id: fmt.Sprintf("%016x", n.rnd.Uint64()), capacity: mb, region: -1})
	}
	n.vnodes = vs
	return nil
}

// Capacity returns the memory this node offers and how much of it is leased.
func (n *Node) Capacity() (totalMB, usedMB int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, v := range n.vnodes {
		totalMB += v.capacity
		usedMB += v.used
	}
	return totalMB, usedMB
}

// Publish is the proposal's PublishOffer (Alg. 1) for every vnode: pick a
// random key of the region its free memory falls in, find that key's
// trader, and hand it the signed offer; record it in OffersSent. A refresh
// keeps the key but looks the trader up again, so a trader that left is
// replaced by the next-closest peer.
func (n *Node) Publish(ctx context.Context) error {
	n.mu.Lock()
	vs := append([]*vnode(nil), n.vnodes...)
	n.mu.Unlock()
	var errs []error
	for _, v := range vs {
		if err := n.publishVnode(ctx, v, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// publishVnode publishes one offer. lookup false (an update after a claim
// or release) reuses the known trader while the region stays the same; the
// periodic refresh looks the trader up again.
func (n *Node) publishVnode(ctx context.Context, v *vnode, lookup bool) error {
	v.pub.Lock()
	defer v.pub.Unlock()
	n.mu.Lock()
	region := n.cfg.regions.For(v.available())
	oldTrader, oldRegion := v.trader, v.region
	lookup = lookup || region != oldRegion || oldTrader == ""
	if region != v.region {
		v.region = region
		if region >= 0 {
			v.key = n.cfg.regions.SelectID(region, n.rnd)
		}
	}
	key := v.key
	v.seq++
	o := &Offer{
		ID: v.id, Supplier: n.ID(), Addrs: n.tr.Addrs(),
		AvailableMB: v.available(), UsedMB: v.used, Region: region,
		Expiry: n.cfg.now().Add(n.cfg.offerTTL).UnixMilli(), Seq: v.seq,
	}
	n.mu.Unlock()
	if region < 0 {
		// Nothing left to offer: take the offer off the market.
		if oldRegion >= 0 && oldTrader != "" {
			n.withdrawAt(ctx, oldTrader, v)
		}
		return nil
	}
	trader := oldTrader
	if lookup {
		var err error
		if trader, _, err = n.tr.Trader(ctx, key); err != nil {
			return err
		}
	}
	// Stamped after the lookup, which can take seconds on a slow network,
	// so that the offer reaches its trader with its whole lifetime.
	o.Expiry = n.cfg.now().Add(n.cfg.offerTTL).UnixMilli()
	if err := o.Sign(n.key); err != nil {
		return err
	}
	if oldTrader != "" && oldTrader != trader {
		n.withdrawAt(ctx, oldTrader, v)
	}
	body, err := json.Marshal(offerMsg{Op: opPut, Key: key, Offer: o})
	if err != nil {
		return err
	}
	if err := n.send(ctx, trader, ProtoOffer, body, nil); err != nil {
		return fmt.Errorf("ring: publish %s at %s: %w", v.id, trader, err)
	}
	n.mu.Lock()
	v.trader = trader
	n.markSentLocked(trader, v.id, true)
	n.mu.Unlock()
	return nil
}

func (n *Node) markSentLocked(trader peer.ID, id string, on bool) {
	ids := n.offersSent[trader]
	if on {
		if ids == nil {
			ids = map[string]bool{}
			n.offersSent[trader] = ids
		}
		ids[id] = true
		return
	}
	delete(ids, id)
	if len(ids) == 0 {
		delete(n.offersSent, trader)
	}
}

func (n *Node) withdrawAt(ctx context.Context, trader peer.ID, v *vnode) {
	body, _ := json.Marshal(offerMsg{Op: opWithdraw, ID: v.id})
	// Best effort: if the trader is gone the offer dies with it.
	_ = n.send(ctx, trader, ProtoOffer, body, nil)
	n.mu.Lock()
	n.markSentLocked(trader, v.id, false)
	if v.trader == trader {
		v.trader = ""
	}
	n.mu.Unlock()
}

// Withdraw takes every offer of this node off its traders (OffersSent).
func (n *Node) Withdraw(ctx context.Context) error {
	n.mu.Lock()
	sent := map[peer.ID][]string{}
	for t, ids := range n.offersSent {
		for id := range ids {
			sent[t] = append(sent[t], id)
		}
	}
	n.offersSent = map[peer.ID]map[string]bool{}
	for _, v := range n.vnodes {
		v.trader, v.region = "", -1
	}
	n.mu.Unlock()
	var errs []error
	for t, ids := range sent {
		for _, id := range ids {
			body, _ := json.Marshal(offerMsg{Op: opWithdraw, ID: id})
			if err := n.send(ctx, t, ProtoOffer, body, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// PushBackup sends the offers with free memory to the known schedulers,
// which keep them as their backup list.
func (n *Node) PushBackup(ctx context.Context) error {
	now := n.cfg.now()
	var m offersMsg
	n.mu.Lock()
	schedulers := n.cfg.schedulers
	if len(schedulers) == 0 {
		n.mu.Unlock()
		return nil
	}
	for _, v := range n.vnodes {
		r := n.cfg.regions.For(v.available())
		if r < 0 {
			continue
		}
		m.Offers = append(m.Offers, &Offer{
			ID: v.id, Supplier: n.ID(), Addrs: n.tr.Addrs(),
			AvailableMB: v.available(), UsedMB: v.used, Region: r,
			Expiry: now.Add(n.cfg.offerTTL).UnixMilli(), Seq: v.seq,
		})
	}
	n.mu.Unlock()
	for _, o := range m.Offers {
		if err := o.Sign(n.key); err != nil {
			return err
		}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range schedulers {
		if s.ID == n.ID() {
			continue
		}
		if err := n.call(ctx, s, ProtoBackup, body, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// claimOp is a ProtoClaim request's operation.
type claimOp string

const (
	opClaim   claimOp = "claim"   // reserve MemoryMB of OfferID
	opRenew   claimOp = "renew"   // extend LeaseID
	opRelease claimOp = "release" // free LeaseID
	opPrepare claimOp = "prepare" // fetch and compile CID for LeaseID's runs
)

// claimMsg is the ProtoClaim request.
type claimMsg struct {
	Op       claimOp `json:"op"`
	OfferID  string  `json:"offerID,omitempty"`
	MemoryMB int     `json:"memory,omitempty"`
	CID      string  `json:"cid,omitempty"`
	LeaseID  string  `json:"leaseID,omitempty"`
}

type claimReply struct {
	LeaseID string `json:"leaseID"`
	Expiry  int64  `json:"expiry"`
}

// handleClaim is the supplier's side of a claim: it checks the vnode's and
// the machine's real free memory, grants a lease, and re-publishes the
// offer with what is left.
func (n *Node) handleClaim(_ context.Context, from peer.ID, m claimMsg) ([]byte, error) {
	now := n.cfg.now()
	n.mu.Lock()
	n.expireLeasesLocked(now)
	switch m.Op {
	case opClaim:
		var v *vnode
		for _, x := range n.vnodes {
			if x.id == m.OfferID {
				v = x
			}
		}
		switch {
		case v == nil:
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: %q", ErrUnknownOffer, m.OfferID)
		case m.MemoryMB < 1:
			n.mu.Unlock()
			return nil, malformed("claim of %d MB", m.MemoryMB)
		case v.available() < m.MemoryMB:
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: offer %s has %d MB, asked %d MB", ErrInsufficient, v.id, v.available(), m.MemoryMB)
		}
		if free := n.cfg.freeMemory(); free < m.MemoryMB {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: machine has %d MB free, asked %d MB", ErrInsufficient, free, m.MemoryMB)
		}
		l := &lease{id: rand.Text(), owner: from, vnode: v, mem: m.MemoryMB, expiry: now.Add(n.cfg.leaseTTL)}
		n.leases[l.id] = l
		v.used += m.MemoryMB
		rep := claimReply{LeaseID: l.id, Expiry: l.expiry.UnixMilli()}
		n.mu.Unlock()
		n.cfg.dispatch(func() { n.republish(v) })
		if m.CID != "" {
			if err := n.prepare(m.CID, from); err != nil {
				n.cfg.log.Debug("ring: not preparing the claim's code", "cid", m.CID, "err", err)
			}
		}
		return json.Marshal(rep)
	case opPrepare:
		l, ok := n.leases[m.LeaseID]
		if !ok || l.owner != from {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w %q for %s", ErrNoLease, m.LeaseID, from)
		}
		rep := claimReply{LeaseID: l.id, Expiry: l.expiry.UnixMilli()}
		n.mu.Unlock()
		if m.CID == "" {
			return nil, malformed("prepare without a CID")
		}
		if err := n.prepare(m.CID, from); err != nil {
			return nil, err
		}
		return json.Marshal(rep)
	case opRenew, opRelease:
		l, ok := n.leases[m.LeaseID]
		if !ok || l.owner != from {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w %q for %s", ErrNoLease, m.LeaseID, from)
		}
		if m.Op == opRenew {
			l.expiry = now.Add(n.cfg.leaseTTL)
			rep := claimReply{LeaseID: l.id, Expiry: l.expiry.UnixMilli()}
			n.mu.Unlock()
			return json.Marshal(rep)
		}
		n.dropLeaseLocked(l)
		n.mu.Unlock()
		n.cfg.dispatch(func() { n.republish(l.vnode) })
		return json.Marshal(claimReply{LeaseID: l.id})
	default:
		n.mu.Unlock()
		return nil, malformed("unknown claim op %q", m.Op)
	}
}

// maxPreparing bounds the prepares under way on a supplier; more are
// refused (the first run then fetches and compiles, as without them).
const maxPreparing = 16

// prepare has the executor fetch and compile cid in the background, if it
// can (Preparer) and not too many prepares are under way; the executor's
// own budget bounds the compiles.
func (n *Node) prepare(cid string, from peer.ID) error {
	p, ok := n.cfg.executor.(Preparer)
	if !ok {
		return errors.New("ring: this node prepares no code ahead of its runs")
	}
	n.mu.Lock()
	if n.preparing >= maxPreparing {
		n.mu.Unlock()
		return fmt.Errorf("ring: %d prepares already under way", maxPreparing)
	}
	n.preparing++
	n.mu.Unlock()
	n.cfg.dispatch(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.leaseTTL)
		defer cancel()
		defer func() {
			n.mu.Lock()
			n.preparing--
			n.mu.Unlock()
		}()
		if err := p.Prepare(ctx, cid, from); err != nil {
			n.cfg.log.Warn("ring: prepare code", "cid", cid, "err", err)
		}
	})
	return nil
}

func (n *Node) republish(v *vnode) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.refresh)
	defer cancel()
	if err := n.publishVnode(ctx, v, false); err != nil {
		n.cfg.log.Debug("ring: re-publish after claim", "offer", v.id, "err", err)
	}
}

func (n *Node) dropLeaseLocked(l *lease) {
	delete(n.leases, l.id)
	l.vnode.used -= l.mem
}

func (n *Node) expireLeasesLocked(now time.Time) {
	for _, l := range n.leases {
		if l.runs == 0 && !now.Before(l.expiry) {
			n.dropLeaseLocked(l)
		}
	}
}

// handleRun runs an activation under a lease the caller holds, if it fits
// what is left of the lease: its memory (runLimits) within the lease's, and
// its share of the lease (runShareKB) beside the runs already in flight.
// The reply always fits one frame (encodeRunReply).
func (n *Node) handleRun(ctx context.Context, from peer.ID, r RunRequest) ([]byte, error) {
	now := n.cfg.now()
	n.mu.Lock()
	l, ok := n.leases[r.LeaseID]
	if !ok || l.owner != from || !now.Before(l.expiry) {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w %q for %s (run %s)", ErrNoLease, r.LeaseID, from, r.Invocation.ID)
	}
	r.Action.Limits = runLimits(r.Action.Limits, l.mem)
	r.Invocation.MaxPayload = runPayload(r.Invocation.MaxPayload)
	share := runShareKB(r.Action.Limits)
	switch {
	case r.Action.Limits.Memory > int64(l.mem):
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: run %s: %d MB over the lease's %d MB", ErrInsufficient, r.Invocation.ID, r.Action.Limits.Memory, l.mem)
	case l.runKB+share > int64(l.mem)<<10:
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: run %s: lease %s of %d MB has %d runs taking %d KB, this one needs %d KB",
			ErrInsufficient, r.Invocation.ID, l.id, l.mem, l.runs, l.runKB, share)
	case n.cfg.executor == nil:
		n.mu.Unlock()
		return nil, ErrNoExecutor
	}
	l.runs++
	l.runKB += share
	l.expiry = now.Add(n.cfg.leaseTTL)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		l.runs--
		l.runKB -= share
		l.expiry = n.cfg.now().Add(n.cfg.leaseTTL)
		n.mu.Unlock()
	}()
	if d := r.Invocation.Deadline; !d.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	r.From = from
	resp, err := n.cfg.executor.Run(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("ring: run %s: %w", r.Invocation.ID, err)
	}
	return encodeRunReply(resp, MaxRunMessage-1)
}

// Free returns each offer's free memory in MB (its available amount), the
// figure the supplier would grant a claim against.
func (n *Node) Free() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]int, len(n.vnodes))
	for i, v := range n.vnodes {
		out[i] = v.available()
	}
	return out
}
