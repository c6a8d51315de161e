package ring

import (
	"time"

	"github.com/google/btree"
	"github.com/libp2p/go-libp2p/core/peer"
)

// offerTable is a trader's OffersRecv. A region has only a handful of keys
// however large the ring, so a trader of a busy region holds tens of
// thousands of offers at 100,000 nodes: every operation here is O(log n)
// (a find walks only the offers it returns), where scanning and sorting the
// whole table per find or per put made the ring quadratic in its size.
// Callers hold the node's lock.
type offerTable struct {
	byKey map[offerKey]*Offer
	// bySupplier counts each supplier's offers, for the per-supplier cap.
	bySupplier map[peer.ID]int
	// byFree orders each region's offers as a find returns them: free
	// memory ascending, then offer ID, then supplier.
	byFree map[int]*btree.BTreeG[*Offer]
}

func newOfferTable() offerTable {
	return offerTable{byKey: map[offerKey]*Offer{}, bySupplier: map[peer.ID]int{}, byFree: map[int]*btree.BTreeG[*Offer]{}}
}

func lessFree(a, b *Offer) bool {
	if a.AvailableMB != b.AvailableMB {
		return a.AvailableMB < b.AvailableMB
	}
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	return a.Supplier < b.Supplier
}

func (t *offerTable) len() int { return len(t.byKey) }

func (t *offerTable) get(k offerKey) *Offer { return t.byKey[k] }

// held is how many offers supplier has here.
func (t *offerTable) held(supplier peer.ID) int { return t.bySupplier[supplier] }

// put files o, replacing the offer filed under the same key.
func (t *offerTable) put(o *Offer) {
	k := offerKey{o.Supplier, o.ID}
	t.remove(k)
	t.byKey[k] = o
	t.bySupplier[o.Supplier]++
	tr := t.byFree[o.Region]
	if tr == nil {
		tr = btree.NewG(32, lessFree)
		t.byFree[o.Region] = tr
	}
	tr.ReplaceOrInsert(o)
}

func (t *offerTable) remove(k offerKey) {
	o, ok := t.byKey[k]
	if !ok {
		return
	}
	delete(t.byKey, k)
	if c := t.bySupplier[k.supplier] - 1; c > 0 {
		t.bySupplier[k.supplier] = c
	} else {
		delete(t.bySupplier, k.supplier)
	}
	t.byFree[o.Region].Delete(o)
}

// expire drops the offers past their expiry.
func (t *offerTable) expire(now time.Time) {
	for k, o := range t.byKey {
		if o.expired(now) {
			t.remove(k)
		}
	}
}

// fitting returns up to max live offers of region r with at least
// memoryMB free, smallest first.
func (t *offerTable) fitting(r, memoryMB, max int, now time.Time) []*Offer {
	tr := t.byFree[r]
	if tr == nil {
		return nil
	}
	var out []*Offer
	tr.AscendGreaterOrEqual(&Offer{AvailableMB: memoryMB}, func(o *Offer) bool {
		if !o.expired(now) {
			out = append(out, o)
		}
		return len(out) < max
	})
	return out
}
