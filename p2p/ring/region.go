package ring

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"sync"
)

// Key is a point of the ring's 256-bit key space. The trader for a key is
// the DHT peer closest to it (kad-dht hashes lookup keys with SHA-256, so
// traders are spread evenly whatever the key layout).
type Key [32]byte

func (k Key) String() string { return hex.EncodeToString(k[:8]) }

// RegionSpec is one row of a region table: offers whose free memory is at
// least MinMB (and below the next row's MinMB) belong to the region, and the
// region owns a share of the key space proportional to Keys, split into Keys
// evenly spread keys.
type RegionSpec struct {
	MinMB int `json:"minMB"`
	Keys  int `json:"keys"`
}

// DefaultRegions is the proposal's region table for edge memory, 128 MB to
// 10,240 MB. Small amounts get more keys (a wider key range): most
// volunteers offer little memory, and spreading their many offers over more
// traders keeps any one trader's table small. Large amounts are rare, so
// their few offers sit on few traders and a scheduler finds them in one
// lookup. Override it with WithRegions.
var DefaultRegions = []RegionSpec{
	{MinMB: 128, Keys: 8},
	{MinMB: 256, Keys: 8},
	{MinMB: 512, Keys: 6},
	{MinMB: 1024, Keys: 4},
	{MinMB: 2048, Keys: 3},
	{MinMB: 4096, Keys: 2},
	{MinMB: 8192, Keys: 1},
}

// defaultRegions is DefaultRegions laid out once: a region table is read
// only after NewRegions, so the nodes built on the defaults share one (1.5
// KB a node, which a simulator running 100,000 nodes in one process feels).
var defaultRegions = sync.OnceValues(func() (*Regions, error) { return NewRegions(DefaultRegions) })

// MaxOfferMB is the largest amount one offer may carry.
const MaxOfferMB = 10240

// Regions is a validated region table with its keys laid out.
type Regions struct {
	specs []RegionSpec
	keys  [][]Key // keys[r] evenly spread over region r's key range
	lo    []Key   // lo[r] first key of region r's range
}

// NewRegions checks a table (ascending MinMB, at least one key each) and lays
// out each region's contiguous key range and its keys.
func NewRegions(specs []RegionSpec) (*Regions, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("ring: empty region table")
	}
	total := 0
	for i, s := range specs {
		if s.Keys < 1 {
			return nil, fmt.Errorf("ring: region %d: keys %d < 1", i, s.Keys)
		}
		if s.MinMB < 1 || s.MinMB > MaxOfferMB || (i > 0 && s.MinMB <= specs[i-1].MinMB) {
			return nil, fmt.Errorf("ring: region %d: minMB %d out of order or range", i, s.MinMB)
		}
		total += s.Keys
	}
	space := new(big.Int).Lsh(big.NewInt(1), 256)
	unit := new(big.Int).Div(space, big.NewInt(int64(total))) // key-space width of one key
	half := new(big.Int).Rsh(unit, 1)
	rs := &Regions{specs: append([]RegionSpec(nil), specs...)}
	pos := 0
	for _, s := range specs {
		rs.lo = append(rs.lo, toKey(new(big.Int).Mul(unit, big.NewInt(int64(pos)))))
		ks := make([]Key, s.Keys)
		for i := range ks {
			// The middle of each key's slot: evenly spread, never on a border.
			v := new(big.Int).Mul(unit, big.NewInt(int64(pos+i)))
			ks[i] = toKey(v.Add(v, half))
		}
		rs.keys = append(rs.keys, ks)
		pos += s.Keys
	}
	return rs, nil
}

func toKey(v *big.Int) Key {
	var k Key
	v.FillBytes(k[:])
	return k
}

// Len is the number of regions.
func (rs *Regions) Len() int { return len(rs.specs) }

// Spec returns region r's row.
func (rs *Regions) Spec(r int) RegionSpec { return rs.specs[r] }

// For returns the region an amount of memory belongs to, or -1 when it is
// below the smallest region.
func (rs *Regions) For(memoryMB int) int {
	return sort.Search(len(rs.specs), func(i int) bool { return rs.specs[i].MinMB > memoryMB }) - 1
}

// OfKey returns the region whose key range holds k.
func (rs *Regions) OfKey(k Key) int {
	return sort.Search(len(rs.lo), func(i int) bool { return string(rs.lo[i][:]) > string(k[:]) }) - 1
}

// SelectID picks a random key from region r's evenly spread key set
// (the proposal's SelectID).
func (rs *Regions) SelectID(r int, rnd *rand.Rand) Key {
	ks := rs.keys[r]
	return ks[rnd.IntN(len(ks))]
}
