package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestOfferTableMatchesScan drives a trader's table with random puts,
// replacements, withdrawals and expiries and checks every find against the
// scan-and-sort it replaces: all live fitting offers of the region, smallest
// first, ties by offer ID, cut at the find limit. The per-supplier counts
// must equal a count of what is held.
func TestOfferTableMatchesScan(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	tbl := newOfferTable()
	ref := map[offerKey]*Offer{}
	now := time.Unix(1_700_000_000, 0)
	suppliers := []peer.ID{"alice", "bob", "carol", "dave"}
	scan := func(region, memoryMB int) []*Offer {
		var out []*Offer
		for _, o := range ref {
			if o.Region == region && o.AvailableMB >= memoryMB && !o.expired(now) {
				out = append(out, o)
			}
		}
		sort.Slice(out, func(i, j int) bool { return lessFree(out[i], out[j]) })
		return out[:min(len(out), maxFindOffers)]
	}
	for step := range 5000 {
		k := offerKey{suppliers[rnd.IntN(len(suppliers))], fmt.Sprintf("o%d", rnd.IntN(40))}
		switch op := rnd.IntN(10); {
		case op < 6:
			o := &Offer{
				ID: k.id, Supplier: k.supplier, Region: rnd.IntN(3),
				// Few sizes, so ties on free memory are common.
				AvailableMB: 128 * (1 + rnd.IntN(6)),
				Expiry:      now.Add(time.Duration(rnd.IntN(30)) * time.Second).UnixMilli(),
			}
			tbl.put(o)
			ref[k] = o
		case op < 8:
			tbl.remove(k)
			delete(ref, k)
		case op < 9:
			now = now.Add(time.Duration(rnd.IntN(5)) * time.Second)
		default:
			tbl.expire(now)
			for k, o := range ref {
				if o.expired(now) {
					delete(ref, k)
				}
			}
		}
		for r := range 3 {
			for _, mem := range []int{1, 300, 700} {
				if got, want := tbl.fitting(r, mem, maxFindOffers, now), scan(r, mem); !slices.Equal(got, want) {
					t.Fatalf("step %d: region %d, %d MB: index found %d offers, scan %d", step, r, mem, len(got), len(want))
				}
			}
		}
		if tbl.len() != len(ref) {
			t.Fatalf("step %d: table holds %d, reference %d", step, tbl.len(), len(ref))
		}
		for _, s := range suppliers {
			c := 0
			for k := range ref {
				if k.supplier == s {
					c++
				}
			}
			if tbl.held(s) != c {
				t.Fatalf("step %d: %s holds %d, counted %d", step, s, tbl.held(s), c)
			}
		}
	}
}
