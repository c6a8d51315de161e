package emulator

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Vectors from OpenWhisk's ShardingContainerPoolBalancerTests and
// NestedSemaphoreTests (tests/src/test/scala/org/apache/openwhisk/...).

func healthy(i int) InvokerHealth { return InvokerHealth{ID: i, UserMemoryMB: 1024, Status: Healthy} }
func unhealthy(i int) InvokerHealth {
	return InvokerHealth{ID: i, UserMemoryMB: 1024, Status: Unhealthy}
}
func offline(i int) InvokerHealth { return InvokerHealth{ID: i, UserMemoryMB: 1024, Status: Offline} }

func semaphores(n, permits int) []*NestedSemaphore {
	s := make([]*NestedSemaphore, n)
	for i := range s {
		s[i] = NewNestedSemaphore(permits)
	}
	return s
}

func TestPairwiseCoprimeNumbersUntil(t *testing.T) {
	for _, tc := range []struct {
		x    int
		want []int
	}{
		{-1, []int{}}, {0, []int{}}, {1, []int{1}}, {2, []int{1}}, {3, []int{1, 2}}, {4, []int{1, 3}},
		{5, []int{1, 2, 3}}, {9, []int{1, 2, 5, 7}}, {10, []int{1, 3, 7}},
	} {
		if got := PairwiseCoprimeNumbersUntil(tc.x); !slices.Equal(got, tc.want) {
			t.Errorf("PairwiseCoprimeNumbersUntil(%d) = %v, want %v", tc.x, got, tc.want)
		}
	}
}

func TestJavaHashCode(t *testing.T) {
	// Values of java.lang.String.hashCode.
	for _, tc := range []struct {
		s    string
		want int32
	}{
		{"", 0}, {"a", 97}, {"guest", 98708952}, {"hello world", 1794106052},
		{"\U0001F600", 1772899}, // one supplementary character: two UTF-16 units
	} {
		if got := JavaHashCode(tc.s); got != tc.want {
			t.Errorf("JavaHashCode(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	if got := GenerateHash("guest", "hello world"); got != 98708952^1794106052 {
		t.Errorf("GenerateHash = %d", got)
	}
}

func TestScheduleEmptyAndUnhealthy(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	if _, _, ok := Schedule(1, "testspace/testname", nil, nil, MinMemoryMB, 0, 2, rnd); ok {
		t.Error("scheduled on an empty invoker list")
	}
	invokers := []InvokerHealth{unhealthy(0), unhealthy(1), unhealthy(2)}
	if _, _, ok := Schedule(1, "testspace/testname", invokers, semaphores(3, 3), MinMemoryMB, 0, 2, rnd); ok {
		t.Error("scheduled with no healthy invoker")
	}
}

func TestScheduleStepsThenRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	slots := semaphores(6, 3) // offset by 3, as the Scala test
	invokers := []InvokerHealth{healthy(3), healthy(4), healthy(5)}
	want := []int{3, 3, 3, 5, 5, 5, 4, 4, 4}
	for i, w := range want {
		id, forced, ok := Schedule(1, "testspace/testname", invokers, slots, 1, 0, 2, rnd)
		if !ok || forced || id != w {
			t.Fatalf("schedule %d = %d forced=%v ok=%v, want %d", i, id, forced, ok, w)
		}
	}
	seen := map[int]bool{}
	for range 101 {
		id, forced, ok := Schedule(1, "testspace/testname", invokers, slots, 1, 0, 2, rnd)
		if !ok || !forced {
			t.Fatalf("overloaded schedule: forced=%v ok=%v", forced, ok)
		}
		seen[id] = true
	}
	if !seen[3] || !seen[4] || !seen[5] {
		t.Errorf("random fallback chose %v, want all of 3, 4, 5", seen)
	}
}

func TestScheduleIgnoresUnusable(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	invokers := []InvokerHealth{healthy(0), unhealthy(1), offline(2), healthy(3)}
	slots := semaphores(4, 3)
	for i, w := range []int{0, 0, 0, 3, 3, 3} {
		if id, _, _ := Schedule(1, "testspace/testname", invokers, slots, 1, 0, 1, rnd); id != w {
			t.Fatalf("schedule %d = %d, want %d", i, id, w)
		}
	}
	for range 101 {
		id, forced, _ := Schedule(1, "testspace/testname", invokers, slots, 1, 0, 1, rnd)
		if id == 1 || id == 2 || !forced {
			t.Fatalf("overloaded schedule chose %d (forced %v)", id, forced)
		}
	}
}

func TestScheduleFreeSlots(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	invokers := []InvokerHealth{healthy(0), healthy(1), healthy(2)}
	slots := semaphores(3, 4)
	for i, tc := range []struct{ slots, want int }{{3, 0}, {2, 1}, {1, 0}, {4, 2}, {2, 1}} {
		if id, _, _ := Schedule(1, "testspace/testname", invokers, slots, tc.slots, 0, 1, rnd); id != tc.want {
			t.Fatalf("schedule %d (%d slots) = %d, want %d", i, tc.slots, id, tc.want)
		}
	}
	for i, s := range slots {
		if p := s.AvailablePermits(); p != 0 {
			t.Errorf("invoker %d has %d permits left", i, p)
		}
	}
}

func TestScheduleConcurrentActions(t *testing.T) {
	// 3 invokers with 2 slots each, action concurrency 3: 6 containers of 3
	// activations fill them in order without touching memory more than
	// once per container.
	rnd := rand.New(rand.NewPCG(1, 2))
	invokers := []InvokerHealth{healthy(0), healthy(1), healthy(2)}
	slots := semaphores(3, 2)
	for i := range 3 {
		for range 2 {
			for range 3 {
				if id, _, _ := Schedule(3, "testspace/testname", invokers, slots, 1, 0, 1, rnd); id != i {
					t.Fatalf("concurrent schedule went to %d, want %d", id, i)
				}
			}
		}
	}
	// Releasing all 3 activations of one container returns its memory.
	s := slots[0]
	for range 3 {
		s.ReleaseConcurrent("testspace/testname", 3, 1)
	}
	if p := s.AvailablePermits(); p != 1 {
		t.Errorf("after releasing a container: %d permits, want 1", p)
	}
	for range 3 {
		s.ReleaseConcurrent("testspace/testname", 3, 1)
	}
	if _, ok := s.ConcurrentSlots("testspace/testname"); ok || s.AvailablePermits() != 2 {
		t.Errorf("after releasing everything: permits %d, action kept %v", s.AvailablePermits(), ok)
	}
}

func TestBalancerStateUpdates(t *testing.T) {
	b := NewBalancer(0.5, 0.5, 1)
	mem := int64(MinMemoryMB * 10)
	b.UpdateInvokers([]InvokerHealth{{ID: 0, UserMemoryMB: mem, Status: Healthy}})
	if len(b.Managed()) != 1 || len(b.Blackbox()) != 1 {
		t.Fatal("one invoker must be both managed and blackbox")
	}
	if p := b.Slots(0).AvailablePermits(); p != int(mem) {
		t.Fatalf("slots %d, want %d", p, mem)
	}
	b.Slots(0).TryAcquire(MinMemoryMB)
	b.UpdateInvokers([]InvokerHealth{{ID: 0, UserMemoryMB: mem, Status: Healthy}, {ID: 1, UserMemoryMB: 2 * mem, Status: Healthy}})
	if m, bb := b.Managed(), b.Blackbox(); len(m) != 1 || m[0].ID != 0 || len(bb) != 1 || bb[0].ID != 1 {
		t.Fatalf("managed %v blackbox %v", m, bb)
	}
	if p := b.Slots(0).AvailablePermits(); p != int(mem)-MinMemoryMB {
		t.Errorf("old slot state lost: %d", p)
	}
	if p := b.Slots(1).AvailablePermits(); p != int(2*mem) {
		t.Errorf("new slot %d", p)
	}
	b.UpdateCluster(2)
	if p := b.Slots(0).AvailablePermits(); p != int(mem)/2 {
		t.Errorf("cluster of 2: %d permits, want %d", p, mem/2)
	}
	for _, n := range []int{0, -1} {
		b.UpdateCluster(n)
		if p := b.Slots(0).AvailablePermits(); p != int(mem) {
			t.Errorf("cluster %d: %d permits, want %d", n, p, mem)
		}
	}
	b.UpdateCluster(20)
	if p := b.Slots(0).AvailablePermits(); p != MinMemoryMB {
		t.Errorf("cluster of 20: %d permits, want the %d floor", p, MinMemoryMB)
	}
}

func TestBalancerOverlapForSmallN(t *testing.T) {
	for _, bf := range []float64{0.1, 0.2, 0.3, 0.4, 0.5} {
		b := NewBalancer(1-bf, bf, 1)
		limit := map[float64]int{0.1: 10, 0.2: 5, 0.3: 4, 0.4: 3, 0.5: 2}[bf]
		for i := 1; i <= 100; i++ {
			inv := make([]InvokerHealth, i)
			for j := range inv {
				inv[j] = InvokerHealth{ID: 1, UserMemoryMB: 256, Status: Healthy}
			}
			b.UpdateInvokers(inv)
			m, bb := len(b.Managed()), len(b.Blackbox())
			if bb != max(1, int(bf*float64(i))) {
				t.Fatalf("bf %v n %d: %d blackbox", bf, i, bb)
			}
			want := i
			if i < limit {
				want = i + 1
			}
			if m+bb != want {
				t.Fatalf("bf %v n %d: managed %d + blackbox %d, want %d", bf, i, m, bb, want)
			}
		}
	}
	b := NewBalancer(1, 1, 1)
	inv := make([]InvokerHealth, 100)
	b.UpdateInvokers(inv)
	if len(b.Managed()) != 100 || len(b.Blackbox()) != 100 {
		t.Error("fractions 1/1 must overlap completely")
	}
}

func TestSelectSpreadsByHash(t *testing.T) {
	// The home invoker is hash % n and the step is a coprime of n, so one
	// action's activations stay on its home until it is full.
	b := NewDefaultBalancer()
	states := []InvokerHealth{healthy(0), healthy(1), healthy(2), healthy(3)}
	hash := int(GenerateHash("guest", "guest/hello"))
	managed := max(1, 4*9/10+1) // ceil(4 * 0.9)
	home := hash % managed
	for range 1024 / 256 {
		id, ok := b.Select(states, "guest", "guest/hello", 256, 1, false)
		if !ok || id != home {
			t.Fatalf("Select = %d, %v; want home %d", id, ok, home)
		}
	}
	steps, _ := b.StepSizes()
	next := (home + steps[hash%len(steps)]) % managed
	if id, _ := b.Select(states, "guest", "guest/hello", 256, 1, false); id != next {
		t.Errorf("full home: Select = %d, want the next step %d", id, next)
	}
	// Blackbox actions go to the highest ids.
	if id, _ := b.Select(states, "guest", "guest/bb", 256, 1, true); id != 3 {
		t.Errorf("blackbox Select = %d, want 3", id)
	}
}
