package ring

import (
	"math/rand/v2"
	"testing"
)

func TestRegions(t *testing.T) {
	rs, err := NewRegions(DefaultRegions)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mem, region int
	}{
		{64, -1}, {127, -1}, {128, 0}, {255, 0}, {256, 1}, {1000, 2}, {1024, 3}, {8191, 5}, {8192, 6}, {10240, 6},
	}
	for _, tc := range tests {
		if got := rs.For(tc.mem); got != tc.region {
			t.Errorf("For(%d) = %d, want %d", tc.mem, got, tc.region)
		}
	}
	// Every key of a region lies in that region's range, and the regions
	// for small amounts own more of the key space.
	rnd := rand.New(rand.NewPCG(1, 1))
	for r := range rs.Len() {
		for range 20 {
			if k := rs.SelectID(r, rnd); rs.OfKey(k) != r {
				t.Fatalf("SelectID(%d) gave key %s of region %d", r, k, rs.OfKey(k))
			}
		}
		if r > 0 && rs.Spec(r).Keys > rs.Spec(r-1).Keys {
			t.Errorf("region %d has more keys than the smaller region %d", r, r-1)
		}
	}
	var zero, ones Key
	for i := range ones {
		ones[i] = 0xff
	}
	if rs.OfKey(zero) != 0 || rs.OfKey(ones) != rs.Len()-1 {
		t.Fatalf("key space ends map to regions %d and %d", rs.OfKey(zero), rs.OfKey(ones))
	}
}

func TestBadRegionTables(t *testing.T) {
	tests := []struct {
		name  string
		specs []RegionSpec
	}{
		{"empty", nil},
		{"no keys", []RegionSpec{{MinMB: 128, Keys: 0}}},
		{"descending", []RegionSpec{{MinMB: 256, Keys: 1}, {MinMB: 128, Keys: 1}}},
		{"duplicate", []RegionSpec{{MinMB: 128, Keys: 1}, {MinMB: 128, Keys: 1}}},
		{"over the largest offer", []RegionSpec{{MinMB: 128, Keys: 1}, {MinMB: 20000, Keys: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRegions(tc.specs); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
