package controller

import (
	"math"
	"slices"
	"testing"

	"github.com/faasedge/faasedge/whisk"
)

// Vectors in this file are OpenWhisk's own, from
// tests/.../loadBalancer/test/ShardingContainerPoolBalancerTests.scala.

func TestPairwiseCoprimeNumbersUntil(t *testing.T) {
	cases := []struct {
		x    int
		want []int
	}{
		{-1, nil}, {0, nil}, {1, []int{1}}, {2, []int{1}}, {3, []int{1, 2}}, {4, []int{1, 3}},
		{5, []int{1, 2, 3}}, {9, []int{1, 2, 5, 7}}, {10, []int{1, 3, 7}},
	}
	for _, c := range cases {
		if got := pairwiseCoprimeNumbersUntil(c.x); !slices.Equal(got, c.want) {
			t.Errorf("pairwiseCoprimeNumbersUntil(%d) = %v, want %v", c.x, got, c.want)
		}
	}
}

// TestJavaHash checks against values printed by Java's String.hashCode.
func TestJavaHash(t *testing.T) {
	cases := []struct {
		s    string
		want int32
	}{
		{"", 0}, {"a", 97}, {"hello", 99162322}, {"guest", 98708952},
		{"guest/hello", 86723035}, {"polygenelubricants", math.MinInt32},
		{"\U0001F600", 1772899}, // a surrogate pair: two UTF-16 code units
	}
	for _, c := range cases {
		if got := javaHash(c.s); got != c.want {
			t.Errorf("javaHash(%q) = %d, want %d", c.s, got, c.want)
		}
	}
	if h := generateHash("polygenelubricants", ""); h != math.MinInt32 {
		t.Errorf("abs(MinInt32) must stay negative as in Scala, got %d", h)
	}
}

func healthy(i int) InvokerHealth {
	return InvokerHealth{ID: whisk.NewInvokerInstanceID(i, 1024*whisk.MB, "", "", nil), Status: Healthy}
}

func withStatus(i int, s InvokerState) InvokerHealth {
	h := healthy(i)
	h.Status = s
	return h
}

func semaphores(n, permits int) []*nestedSemaphore {
	out := make([]*nestedSemaphore, n)
	for i := range out {
		out[i] = newNestedSemaphore(permits)
	}
	return out
}

func instances(t *testing.T, n int, pick func() (whisk.InvokerInstanceID, bool, error)) ([]int, []bool) {
	t.Helper()
	var ids []int
	var forced []bool
	for range n {
		id, f, err := pick()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.Instance)
		forced = append(forced, f)
	}
	return ids, forced
}

func TestSchedule(t *testing.T) {
	first := func(int) int { return 0 }
	t.Run("empty list", func(t *testing.T) {
		if _, _, err := schedule(1, "ns/a", nil, nil, 128, 0, 2, first); err != ErrNoInvokers {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("none healthy", func(t *testing.T) {
		inv := []InvokerHealth{withStatus(0, Unhealthy), withStatus(1, Unhealthy), withStatus(2, Unhealthy)}
		if _, _, err := schedule(1, "ns/a", inv, semaphores(3, 3), 128, 0, 2, first); err != ErrNoInvokers {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("step strides then random", func(t *testing.T) {
		inv := []InvokerHealth{healthy(3), healthy(4), healthy(5)}
		slots := semaphores(6, 3)
		ids, forced := instances(t, 9, func() (whisk.InvokerInstanceID, bool, error) {
			return schedule(1, "ns/a", inv, slots, 1, 0, 2, first)
		})
		if want := []int{3, 3, 3, 5, 5, 5, 4, 4, 4}; !slices.Equal(ids, want) || slices.Contains(forced, true) {
			t.Fatalf("got %v %v, want %v", ids, forced, want)
		}
		seen := map[int]bool{}
		for i := range 30 {
			id, f, err := schedule(1, "ns/a", inv, slots, 1, 0, 2, func(n int) int { return i % n })
			if err != nil || !f {
				t.Fatalf("overload: %v %v", f, err)
			}
			seen[id.Instance] = true
		}
		if len(seen) != 3 {
			t.Fatalf("random fallback used %v", seen)
		}
	})
	t.Run("ignores unhealthy and offline", func(t *testing.T) {
		inv := []InvokerHealth{healthy(0), withStatus(1, Unhealthy), withStatus(2, Offline), healthy(3)}
		slots := semaphores(4, 3)
		ids, _ := instances(t, 6, func() (whisk.InvokerInstanceID, bool, error) {
			return schedule(1, "ns/a", inv, slots, 1, 0, 1, first)
		})
		if want := []int{0, 0, 0, 3, 3, 3}; !slices.Equal(ids, want) {
			t.Fatalf("got %v, want %v", ids, want)
		}
		for i := range 20 {
			id, _, _ := schedule(1, "ns/a", inv, slots, 1, 0, 1, func(n int) int { return i % n })
			if id.Instance == 1 || id.Instance == 2 {
				t.Fatalf("overload picked non-healthy invoker %d", id.Instance)
			}
		}
	})
	t.Run("enough free slots", func(t *testing.T) {
		inv := []InvokerHealth{healthy(0), healthy(1), healthy(2)}
		slots := semaphores(3, 4)
		for _, c := range []struct{ mem, want int }{{3, 0}, {2, 1}, {1, 0}, {4, 2}, {2, 1}} {
			id, _, err := schedule(1, "ns/a", inv, slots, c.mem, 0, 1, first)
			if err != nil || id.Instance != c.want {
				t.Fatalf("mem %d: got %d %v, want %d", c.mem, id.Instance, err, c.want)
			}
		}
		for i, s := range slots {
			if s.memory != 0 {
				t.Fatalf("invoker %d has %d permits left", i, s.memory)
			}
		}
	})
	t.Run("concurrent actions share a container's memory", func(t *testing.T) {
		inv := []InvokerHealth{healthy(0), healthy(1), healthy(2)}
		slots := semaphores(3, 2)
		const concurrency = 3
		for i := range 3 {
			for range 2 {
				for c := 1; c <= concurrency; c++ {
					id, _, err := schedule(concurrency, "ns/a", inv, slots, 1, 0, 1, first)
					if err != nil || id.Instance != i {
						t.Fatalf("got %d %v, want %d", id.Instance, err, i)
					}
					if got := slots[i].actions["ns/a"].permits; got != concurrency-c {
						t.Fatalf("concurrency permits %d, want %d", got, concurrency-c)
					}
				}
			}
		}
		// Releasing every activation gives all memory back and drops the action.
		for i := range 3 {
			for range 2 * concurrency {
				slots[i].releaseConcurrent("ns/a", concurrency, 1)
			}
			if slots[i].memory != 2 || len(slots[i].actions) != 0 {
				t.Fatalf("invoker %d after release: memory %d, actions %v", i, slots[i].memory, slots[i].actions)
			}
		}
	})
}

// TestManagedBlackboxOverlap is "allow managed partition to overlap with
// blackbox for small N".
func TestManagedBlackboxOverlap(t *testing.T) {
	for _, bf := range []float64{0.1, 0.2, 0.3, 0.4, 0.5} {
		s := NewSharding(1-bf, bf, nil)
		var list []InvokerHealth
		for i := 1; i <= 100; i++ {
			list = append(list, healthy(i-1))
			s.UpdateInvokers(list)
			m, b := len(s.managed), len(s.blackbox)
			if b != max(1, int(bf*float64(i))) {
				t.Fatalf("bf %v n %d: blackbox %d", bf, i, b)
			}
			overlap := (bf == 0.1 && i < 10) || (bf == 0.2 && i < 5) || (bf == 0.3 && i < 4) || (bf == 0.4 && i < 3) || (bf == 0.5 && i < 2)
			want := i
			if overlap {
				want = i + 1
			}
			if m+b != want {
				t.Fatalf("bf %v n %d: managed %d + blackbox %d, want %d", bf, i, m, b, want)
			}
		}
	}
}

// TestPublishAndRelease runs the whole publish path: home invoker from the
// hash, permits taken, and given back on completion.
func TestPublishAndRelease(t *testing.T) {
	s := NewSharding(0.9, 0.1, func(int) int { return 0 })
	list := []InvokerHealth{healthy(0), healthy(1), healthy(2)}
	s.UpdateInvokers(list)
	r := Request{Namespace: "guest", Action: "guest/hello", ActionVersion: "guest/hello@0.0.1", MemoryMB: 256, MaxConcurrent: 1}
	h := generateHash("guest", "guest/hello")
	managed := len(s.managed)
	wantHome := int(h) % managed
	id, forced, err := s.Publish(r)
	if err != nil || forced || id.Instance != wantHome {
		t.Fatalf("publish: %v %v %v, want home %d", id.Instance, forced, err, wantHome)
	}
	if got := s.FreeMemoryMB(wantHome); got != 1024-256 {
		t.Fatalf("free memory %d", got)
	}
	s.Release(id.Instance, r)
	if got := s.FreeMemoryMB(wantHome); got != 1024 {
		t.Fatalf("free memory after release %d", got)
	}
}

func TestNewDefaultsFractions(t *testing.T) {
	c, err := New(Config{KafkaBrokers: []string{"127.0.0.1:1"}, CouchURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.ManagedFraction != 0.9 || c.cfg.BlackboxFraction != 0.1 {
		t.Fatalf("fractions %v/%v, want the stock 0.9/0.1", c.cfg.ManagedFraction, c.cfg.BlackboxFraction)
	}
}
