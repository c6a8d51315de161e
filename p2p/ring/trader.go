package ring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// offerOp is a ProtoOffer request's operation.
type offerOp string

const (
	opPut      offerOp = "put"      // create or refresh an offer
	opWithdraw offerOp = "withdraw" // withdraw one
)

// offerMsg is the ProtoOffer request: create or refresh (opPut) an offer
// at the trader of Key, or withdraw one (opWithdraw).
type offerMsg struct {
	Op    offerOp `json:"op"`
	Key   Key     `json:"key"`
	Offer *Offer  `json:"offer,omitempty"`
	ID    string  `json:"id,omitempty"`
}

// findMsg is the ProtoFind request: offers of at least MemoryMB, looked up
// in Region first.
type findMsg struct {
	Region   int `json:"region"`
	MemoryMB int `json:"memory"`
}

type offersMsg struct {
	Offers []*Offer `json:"offers"`
}

// decodeStrict rejects unknown fields and trailing data, so a malformed
// message is an error rather than a half-understood request.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("%w", err)
	}
	if dec.More() {
		return malformed("trailing data")
	}
	return nil
}

// decoded is h as a Handler: the request is decoded strictly into h's
// message type before h sees it.
func decoded[T any](h func(ctx context.Context, from peer.ID, m T) ([]byte, error)) Handler {
	return func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
		var m T
		if err := decodeStrict(req, &m); err != nil {
			return nil, err
		}
		return h(ctx, from, m)
	}
}

// offerKey is how a trader files an offer: offer IDs are chosen by their
// suppliers, so only the pair is unique, and a peer that publishes under
// another supplier's offer ID files a second offer instead of replacing it.
type offerKey struct {
	supplier peer.ID
	id       string
}

// handleOffer is the trader's side of PublishOffer.
func (n *Node) handleOffer(_ context.Context, from peer.ID, m offerMsg) ([]byte, error) {
	switch m.Op {
	case opPut:
		if m.Offer == nil {
			return nil, malformed("put without offer")
		}
		return nil, n.holdOffer(from, m.Key, m.Offer)
	case opWithdraw:
		// Keyed by the sender, so a peer can only withdraw its own offers.
		n.mu.Lock()
		n.offersRecv.remove(offerKey{from, m.ID})
		n.mu.Unlock()
		return nil, nil
	default:
		return nil, malformed("unknown offer op %q", m.Op)
	}
}

// holdOffer verifies an offer and records it in OffersRecv.
func (n *Node) holdOffer(from peer.ID, key Key, o *Offer) error {
	if o.Supplier != from {
		return fmt.Errorf("%w: %s offered by %s", ErrBadSignature, o.Supplier, from)
	}
	if err := o.Verify(n.cfg.regions, n.cfg.now(), n.cfg.maxOfferLifetime()); err != nil {
		n.cfg.log.Warn("ring: offer refused", "from", from, "err", err)
		return err
	}
	if r := n.cfg.regions.OfKey(key); r != o.Region {
		return fmt.Errorf("ring: offer %s for region %d published under a key of region %d", o.ID, o.Region, r)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	k := offerKey{o.Supplier, o.ID}
	held := n.offersRecv.held(o.Supplier)
	if old := n.offersRecv.get(k); old != nil {
		if old.Seq > o.Seq {
			return nil // a reordered older refresh
		}
		held-- // replaced, not added
	}
	if held >= maxOffersPerSupplier {
		return fmt.Errorf("ring: %s already holds %d offers here", from, held)
	}
	n.offersRecv.put(o)
	return nil
}

// handleFind is the trader's side of ResourceDiscovery: the live offers
// that fit, from the asked region first, then from larger ones it holds.
func (n *Node) handleFind(_ context.Context, _ peer.ID, m findMsg) ([]byte, error) {
	if m.Region < 0 || m.Region >= n.cfg.regions.Len() || m.MemoryMB < 1 {
		return nil, fmt.Errorf("ring: find region %d memory %d out of range", m.Region, m.MemoryMB)
	}
	return json.Marshal(offersMsg{Offers: n.localFind(m.Region, m.MemoryMB)})
}

func (n *Node) localFind(region, memoryMB int) []*Offer {
	now := n.cfg.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Offer
	for r := region; r < n.cfg.regions.Len() && len(out) == 0; r++ {
		// Smallest first, ties by offer ID: which offers make the cut must
		// not depend on map order (the simulator replays runs from a seed).
		out = n.offersRecv.fitting(r, memoryMB, maxFindOffers, now)
	}
	return out
}

// HeldOffers counts the offers this node holds as a trader (OffersRecv).
func (n *Node) HeldOffers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.offersRecv.len()
}
