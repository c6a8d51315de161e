// Package emulator is the Kafka side of OpenWhisk's stock classic controller,
// ported from its Scala source for tests: InvokerSupervision's state
// machine (Actor, Pool), ShardingContainerPoolBalancer's invoker selection
// (Balancer, Schedule, NestedSemaphore) and a Controller that creates the
// topics and the health test action, supervises invokers from their pings,
// publishes ActivationMessages and consumes acks and user events.
//
// The balancer and the supervision here repeat standalone/controller's
// (sharding.go, supervision.go) on purpose, and `duplicates` lists the
// pair: both are ports of the same Scala, kept apart so that the emulator
// stays an independent reference the invoker and the standalone are tested
// against, and a bug ported into one does not reach the other.
package emulator

import (
	"math"
	"math/rand/v2"
	"sync"
)

// InvokerState is the controller's view of an invoker (InvokerState in
// common/Message.scala); String is what GET /invokers reports.
type InvokerState int

const (
	Offline InvokerState = iota
	Healthy
	Unhealthy
	Unresponsive
)

func (s InvokerState) String() string {
	switch s {
	case Healthy:
		return "up"
	case Unhealthy:
		return "unhealthy"
	case Unresponsive:
		return "unresponsive"
	}
	return "down"
}

// Usable is true only for Healthy: the only state the balancer schedules to.
func (s InvokerState) Usable() bool { return s == Healthy }

// InvokerHealth is one entry of the status list, indexed by instance id.
type InvokerHealth struct {
	ID           int
	UserMemoryMB int64
	Status       InvokerState
}

// JavaHashCode is Java's String.hashCode: h = 31*h + c over UTF-16 code
// units, wrapping at 32 bits.
func JavaHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// GenerateHash is ShardingContainerPoolBalancer.generateHash:
// abs(hash(namespace) XOR hash(fqn)). As in Scala, the absolute value of
// Int.MinValue stays negative.
func GenerateHash(namespace, fqn string) int32 {
	h := JavaHashCode(namespace) ^ JavaHashCode(fqn)
	if h < 0 && h != math.MinInt32 {
		h = -h
	}
	return h
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// PairwiseCoprimeNumbersUntil scans 1..x and keeps each number coprime with
// x and with every number kept before it: the step sizes.
func PairwiseCoprimeNumbersUntil(x int) []int {
	primes := []int{}
	for cur := 1; cur <= x; cur++ {
		if gcd(cur, x) != 1 {
			continue
		}
		ok := true
		for _, p := range primes {
			if gcd(p, cur) != 1 {
				ok = false
				break
			}
		}
		if ok {
			primes = append(primes, cur)
		}
	}
	return primes
}

// NestedSemaphore is OpenWhisk's NestedSemaphore over a ForcibleSemaphore:
// memory permits, plus per-action concurrency slots for actions with
// maxConcurrent > 1 (one container's memory serves maxConcurrent
// activations).
type NestedSemaphore struct {
	mu      sync.Mutex
	permits int
	actions map[string]*resizable
}

// resizable is ResizableSemaphore(0, maxConcurrent) with its operation count.
type resizable struct {
	permits   int
	reduction int
	ops       int
}

// release is ResizableSemaphore.release: it reports whether a container's
// worth of slots came back (memory to release) and whether the action has
// no operation left (key to drop).
func (r *resizable) release(n int, opComplete bool) (memory, drop bool) {
	if opComplete {
		r.ops--
		drop = r.ops == 0
	} else {
		r.ops++
		drop = r.ops == 0
	}
	next := r.permits + n
	if next%r.reduction == 0 {
		r.permits = next - r.reduction
		return true, drop
	}
	r.permits = next
	return false, drop
}

func (r *resizable) tryAcquire() bool {
	if r.permits-1 < 0 {
		return false
	}
	r.permits--
	r.ops++
	return true
}

// NewNestedSemaphore has memoryPermits MB.
func NewNestedSemaphore(memoryPermits int) *NestedSemaphore {
	return &NestedSemaphore{permits: memoryPermits, actions: map[string]*resizable{}}
}

// AvailablePermits is the free memory (negative after forced acquires).
func (s *NestedSemaphore) AvailablePermits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.permits
}

// TryAcquire takes n memory permits if they are all free.
func (s *NestedSemaphore) TryAcquire(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tryAcquire(n)
}

func (s *NestedSemaphore) tryAcquire(n int) bool {
	if s.permits-n < 0 {
		return false
	}
	s.permits -= n
	return true
}

// TryAcquireConcurrent is tryAcquireConcurrent.
func (s *NestedSemaphore) TryAcquireConcurrent(action string, maxConcurrent, memory int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxConcurrent == 1 {
		return s.tryAcquire(memory)
	}
	return s.concurrent(action, maxConcurrent, memory, false)
}

// ForceAcquireConcurrent is forceAcquireConcurrent: permits may go negative.
func (s *NestedSemaphore) ForceAcquireConcurrent(action string, maxConcurrent, memory int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxConcurrent == 1 {
		s.permits -= memory
		return
	}
	s.concurrent(action, maxConcurrent, memory, true)
}

func (s *NestedSemaphore) concurrent(action string, maxConcurrent, memory int, force bool) bool {
	slots := s.actions[action]
	if slots == nil {
		slots = &resizable{reduction: maxConcurrent}
		s.actions[action] = slots
	}
	if slots.tryAcquire() {
		return true
	}
	switch {
	case force:
		s.permits -= memory
	case !s.tryAcquire(memory):
		return false
	}
	slots.release(maxConcurrent-1, false)
	return true
}

// ReleaseConcurrent is releaseConcurrent.
func (s *NestedSemaphore) ReleaseConcurrent(action string, maxConcurrent, memory int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxConcurrent == 1 {
		s.permits += memory
		return
	}
	slots := s.actions[action]
	if slots == nil {
		return
	}
	mem, drop := slots.release(1, true)
	if mem {
		s.permits += memory
	}
	if drop {
		delete(s.actions, action)
	}
}

// ConcurrentSlots is the free concurrency slots held for action (tests).
func (s *NestedSemaphore) ConcurrentSlots(action string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.actions[action]
	if !ok {
		return 0, false
	}
	return r.permits, true
}

// Schedule is ShardingContainerPoolBalancer.schedule: probe from index in
// step strides for a usable invoker with free permits; after size+1 steps
// pick a random usable invoker and force its permits. It returns the
// chosen instance id and whether the choice was forced; ok is false when
// no invoker is usable.
func Schedule(maxConcurrent int, fqn string, invokers []InvokerHealth, dispatched []*NestedSemaphore,
	slots, index, step int, rnd *rand.Rand) (id int, forced, ok bool) {
	n := len(invokers)
	if n == 0 {
		return 0, false, false
	}
	for stepsDone := 0; ; stepsDone++ {
		inv := invokers[index]
		if inv.Status.Usable() && dispatched[inv.ID].TryAcquireConcurrent(fqn, maxConcurrent, slots) {
			return inv.ID, false, true
		}
		if stepsDone == n+1 {
			var healthy []InvokerHealth
			for _, i := range invokers {
				if i.Status.Usable() {
					healthy = append(healthy, i)
				}
			}
			if len(healthy) == 0 {
				return 0, false, false
			}
			r := healthy[rnd.IntN(len(healthy))].ID
			dispatched[r].ForceAcquireConcurrent(fqn, maxConcurrent, slots)
			return r, true, true
		}
		index = (index + step) % n
	}
}

// MinMemoryMB is whisk.memory.min.
const MinMemoryMB = 128

// Balancer is ShardingContainerPoolBalancerState plus publish's choice of
// invoker: the managed/blackbox split, step sizes and per-invoker slots.
type Balancer struct {
	mu               sync.Mutex
	managedFraction  float64
	blackboxFraction float64
	invokers         []InvokerHealth
	managed          []InvokerHealth
	blackbox         []InvokerHealth
	managedSteps     []int
	blackboxSteps    []int
	slots            []*NestedSemaphore
	clusterSize      int
	rnd              *rand.Rand
}

// NewBalancer uses the fractions of whisk.loadbalancer (0.9 and 0.1 by
// default); seed fixes the overload case's random choice.
func NewBalancer(managedFraction, blackboxFraction float64, seed uint64) *Balancer {
	mf := math.Max(0, math.Min(1, managedFraction))
	return &Balancer{
		managedFraction:  mf,
		blackboxFraction: math.Max(1-mf, math.Min(1, blackboxFraction)),
		managedSteps:     PairwiseCoprimeNumbersUntil(0),
		blackboxSteps:    PairwiseCoprimeNumbersUntil(0),
		clusterSize:      1,
		rnd:              rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// NewDefaultBalancer has the stock fractions.
func NewDefaultBalancer() *Balancer { return NewBalancer(0.9, 0.1, 1) }

func (b *Balancer) slotMB(userMemoryMB int64) int {
	shard := userMemoryMB / int64(b.clusterSize)
	if shard < MinMemoryMB {
		return MinMemoryMB
	}
	return int(shard)
}

// UpdateInvokers is updateInvokers: recompute the subsets, the step sizes
// when the count changes, and add slots for new invokers, keeping old ones.
func (b *Balancer) UpdateInvokers(invokers []InvokerHealth) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.updateInvokers(invokers)
}

func (b *Balancer) updateInvokers(invokers []InvokerHealth) {
	oldSize, newSize := len(b.invokers), len(invokers)
	managed := max(1, int(math.Ceil(float64(newSize)*b.managedFraction)))
	blackboxes := max(1, int(math.Floor(float64(newSize)*b.blackboxFraction)))
	b.invokers = append([]InvokerHealth(nil), invokers...)
	b.managed = b.invokers[:min(managed, newSize)]
	b.blackbox = b.invokers[max(0, newSize-blackboxes):]
	if oldSize != newSize {
		b.managedSteps = PairwiseCoprimeNumbersUntil(managed)
		b.blackboxSteps = PairwiseCoprimeNumbersUntil(blackboxes)
		for _, inv := range b.invokers[min(len(b.slots), newSize):] {
			b.slots = append(b.slots, NewNestedSemaphore(b.slotMB(inv.UserMemoryMB)))
		}
	}
}

// UpdateCluster is updateCluster: a new controller count rebuilds every
// slot, dropping its state.
func (b *Balancer) UpdateCluster(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = max(n, 1)
	if n == b.clusterSize {
		return
	}
	b.clusterSize = n
	b.slots = b.slots[:0]
	for _, inv := range b.invokers {
		b.slots = append(b.slots, NewNestedSemaphore(b.slotMB(inv.UserMemoryMB)))
	}
}

// Managed and Blackbox are the two subsets; StepSizes their step sizes.
func (b *Balancer) Managed() []InvokerHealth  { b.mu.Lock(); defer b.mu.Unlock(); return b.managed }
func (b *Balancer) Blackbox() []InvokerHealth { b.mu.Lock(); defer b.mu.Unlock(); return b.blackbox }
func (b *Balancer) StepSizes() (managed, blackbox []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.managedSteps, b.blackboxSteps
}

// Slots is invoker id's semaphore.
func (b *Balancer) Slots(id int) *NestedSemaphore {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slots[id]
}

// Publish picks the invoker for an activation as publish does. fqn is the
// action's path/name without version (the hash input); the concurrency
// slots are keyed by fqn@version, as in Scala by the versioned name.
func (b *Balancer) Publish(namespace, fqn, version string, memoryMB, maxConcurrent int, blackbox bool) (id int, forced, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	set, steps := b.managed, b.managedSteps
	if blackbox {
		set, steps = b.blackbox, b.blackboxSteps
	}
	if len(set) == 0 {
		return 0, false, false
	}
	hash := int(GenerateHash(namespace, fqn))
	if hash < 0 {
		// Scala throws on abs(Int.MinValue) % n; the request fails.
		return 0, false, false
	}
	home := hash % len(set)
	step := steps[hash%len(steps)]
	return Schedule(maxConcurrent, fqn+"@"+version, set, b.slots, memoryMB, home, step, b.rnd)
}

// Select is UpdateInvokers(states) followed by Publish with version
// 0.0.1: the invoker the stock controller would send this activation to,
// given the current status list. Slots persist across calls, as in the
// controller, until the activation is released with Release.
func (b *Balancer) Select(states []InvokerHealth, namespace, fqn string, memoryMB, maxConcurrent int, blackbox bool) (int, bool) {
	b.mu.Lock()
	b.updateInvokers(states)
	b.mu.Unlock()
	id, _, ok := b.Publish(namespace, fqn, "0.0.1", memoryMB, maxConcurrent, blackbox)
	return id, ok
}

// Release returns an activation's permits, as processCompletion does.
func (b *Balancer) Release(id int, fqn, version string, memoryMB, maxConcurrent int) {
	b.mu.Lock()
	s := b.slots[id]
	b.mu.Unlock()
	s.ReleaseConcurrent(fqn+"@"+version, maxConcurrent, memoryMB)
}
