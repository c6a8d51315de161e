package controller

import (
	"errors"
	"math"
	"sync"

	"github.com/faasedge/faasedge/whisk"
)

// This file ports the stock controller's ShardingContainerPoolBalancer
// selection (openwhisk-wire.md 3.2) literally: the same hash, home
// invoker, coprime step sizes, probing order, overload fallback and
// NestedSemaphore accounting, so that the standalone places activations
// where a stock controller would.
//
// tests/emulator/balancer.go ports the same Scala again, and `duplicates`
// lists the pair on purpose: the emulator is the independent
// reimplementation of stock's sharding that this one (and the invoker) is
// checked against, so neither may import the other, or a bug ported into
// one would pass the tests of both.

// ErrNoInvokers is the balancer's "No invokers available" (HTTP 503).
//
//lint:ignore ST1005 the stock balancer's text, word for word
var ErrNoInvokers = errors.New("No invokers available")

// javaHash is Java's String.hashCode: 31*h + UTF-16 code unit, wrapping.
func javaHash(s string) int32 {
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

// generateHash is abs(hash(namespace) XOR hash(action FQN without version)).
// Like Scala's Int.abs, the absolute value of MinInt32 stays negative.
func generateHash(namespace, fqn string) int32 {
	h := javaHash(namespace) ^ javaHash(fqn)
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

// pairwiseCoprimeNumbersUntil keeps each cur in 1..x coprime with x and
// with every number already kept.
func pairwiseCoprimeNumbersUntil(x int) []int {
	var out []int
	for cur := 1; cur <= x; cur++ {
		if gcd(cur, x) != 1 {
			continue
		}
		ok := true
		for _, p := range out {
			if gcd(p, cur) != 1 {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, cur)
		}
	}
	return out
}

// resizableSemaphore is ResizableSemaphore: permits that shrink by
// reductionSize whenever a release reaches a multiple of it.
type resizableSemaphore struct {
	permits, reductionSize, ops int
}

func (s *resizableSemaphore) tryAcquire(n int) bool {
	if s.permits-n < 0 {
		return false
	}
	s.permits -= n
	s.ops++
	return true
}

// release returns (memory to release, action entry to drop).
func (s *resizableSemaphore) release(n int, opComplete bool) (bool, bool) {
	if opComplete {
		s.ops--
	} else {
		s.ops++
	}
	dropAction := s.ops == 0
	next := s.permits + n
	reduced := next%s.reductionSize == 0
	if reduced {
		next -= s.reductionSize
	}
	s.permits = next
	return reduced, dropAction
}

// nestedSemaphore is NestedSemaphore: memory permits in MB, plus per-action
// concurrency slots for actions with limits.concurrency > 1. The balancer's
// lock guards it.
type nestedSemaphore struct {
	memory  int // may go negative when forced
	actions map[string]*resizableSemaphore
}

func newNestedSemaphore(memoryMB int) *nestedSemaphore {
	return &nestedSemaphore{memory: memoryMB, actions: map[string]*resizableSemaphore{}}
}

func (s *nestedSemaphore) tryAcquireMemory(n int) bool {
	if s.memory-n < 0 {
		return false
	}
	s.memory -= n
	return true
}

func (s *nestedSemaphore) tryAcquireConcurrent(action string, maxConcurrent, memoryMB int) bool {
	if maxConcurrent == 1 {
		return s.tryAcquireMemory(memoryMB)
	}
	return s.tryOrForceAcquireConcurrent(action, maxConcurrent, memoryMB, false)
}

func (s *nestedSemaphore) tryOrForceAcquireConcurrent(action string, maxConcurrent, memoryMB int, force bool) bool {
	slots, ok := s.actions[action]
	if !ok {
		slots = &resizableSemaphore{reductionSize: maxConcurrent}
		s.actions[action] = slots
	}
	switch {
	case slots.tryAcquire(1):
		return true
	case force:
		s.memory -= memoryMB
	case !s.tryAcquireMemory(memoryMB):
		return false
	}
	slots.release(maxConcurrent-1, false)
	return true
}

func (s *nestedSemaphore) forceAcquireConcurrent(action string, maxConcurrent, memoryMB int) {
	if maxConcurrent == 1 {
		s.memory -= memoryMB
		return
	}
	s.tryOrForceAcquireConcurrent(action, maxConcurrent, memoryMB, true)
}

func (s *nestedSemaphore) releaseConcurrent(action string, maxConcurrent, memoryMB int) {
	if maxConcurrent == 1 {
		s.memory += memoryMB
		return
	}
	slots, ok := s.actions[action]
	if !ok {
		return
	}
	memRelease, actionRelease := slots.release(1, true)
	if memRelease {
		s.memory += memoryMB
	}
	if actionRelease {
		delete(s.actions, action)
	}
}

// InvokerState is an invoker's health as the controller sees it.
type InvokerState int

const (
	Offline InvokerState = iota
	Healthy
	Unhealthy
	Unresponsive
)

// String is the state's asString, what GET /invokers reports.
func (s InvokerState) String() string {
	return [...]string{"down", "up", "unhealthy", "unresponsive"}[s]
}

// InvokerHealth is one entry of the status list.
type InvokerHealth struct {
	ID     whisk.InvokerInstanceID
	Status InvokerState
}

// Request is what selection needs to know about one activation.
type Request struct {
	Namespace     string // the invoking user's namespace name
	Action        string // resolved FQN without version: "ns/action" or "ns/pkg/action"
	ActionVersion string // FQN with version, the concurrency key: "ns/action@0.0.1"
	MemoryMB      int
	MaxConcurrent int
	Blackbox      bool // exec.pull: a blackbox image not whitelisted in the manifest
}

// Sharding is ShardingContainerPoolBalancerState plus publish's choice.
// It is safe for concurrent use.
type Sharding struct {
	mu                sync.Mutex
	managedFraction   float64
	blackboxFraction  float64
	invokers          []InvokerHealth
	managed, blackbox []InvokerHealth
	managedSteps      []int
	blackboxSteps     []int
	slots             []*nestedSemaphore
	clusterSize       int
	randIntn          func(int) int
}

// NewSharding makes the state with the stock fractions (reference.conf:
// managed 90%, blackbox 10%); randIntn picks among healthy invokers when
// all are full.
func NewSharding(managedFraction, blackboxFraction float64, randIntn func(int) int) *Sharding {
	mf := math.Max(0, math.Min(1, managedFraction))
	return &Sharding{
		managedFraction:  mf,
		blackboxFraction: math.Max(1-mf, math.Min(1, blackboxFraction)),
		clusterSize:      1,
		randIntn:         randIntn,
	}
}

func (s *Sharding) invokerSlotMB(userMemory whisk.ByteSize) int {
	shard := int(userMemory.MB()) / s.clusterSize
	return max(shard, whisk.MinMemoryMB)
}

// UpdateInvokers installs a new status list (updateInvokers): subsets are
// recomputed; step sizes and slots only when the list grows.
func (s *Sharding) UpdateInvokers(list []InvokerHealth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldSize, n := len(s.invokers), len(list)
	managed := max(1, int(math.Ceil(float64(n)*s.managedFraction)))
	blackboxes := max(1, int(math.Floor(float64(n)*s.blackboxFraction)))
	s.invokers = append([]InvokerHealth(nil), list...)
	s.managed = s.invokers[:min(managed, n)]
	s.blackbox = s.invokers[max(0, n-blackboxes):]
	if oldSize != n {
		s.managedSteps = pairwiseCoprimeNumbersUntil(managed)
		s.blackboxSteps = pairwiseCoprimeNumbersUntil(blackboxes)
		for _, inv := range s.invokers[min(len(s.slots), n):] {
			s.slots = append(s.slots, newNestedSemaphore(s.invokerSlotMB(inv.ID.UserMemory)))
		}
	}
}

// Publish chooses an invoker for r and takes its permits (publish +
// schedule). forced reports the overload case.
func (s *Sharding) Publish(r Request) (id whisk.InvokerInstanceID, forced bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, steps := s.managed, s.managedSteps
	if r.Blackbox {
		set, steps = s.blackbox, s.blackboxSteps
	}
	if len(set) == 0 {
		return id, false, ErrNoInvokers
	}
	hash := generateHash(r.Namespace, r.Action)
	if hash < 0 {
		// Scala throws here (index out of bounds on a negative index).
		return id, false, errors.New("hash of MinInt32 has no home invoker")
	}
	home := int(hash) % len(set)
	step := steps[int(hash)%len(steps)]
	return schedule(r.MaxConcurrent, r.ActionVersion, set, s.slots, r.MemoryMB, home, step, s.randIntn)
}

// schedule is ShardingContainerPoolBalancer.schedule: probe from index in
// step strides; after size+1 failed steps, force onto a random healthy
// invoker. slots is indexed by instance id.
func schedule(maxConcurrent int, fqn string, invokers []InvokerHealth, slots []*nestedSemaphore, memoryMB, index, step int, randIntn func(int) int) (whisk.InvokerInstanceID, bool, error) {
	n := len(invokers)
	if n == 0 {
		return whisk.InvokerInstanceID{}, false, ErrNoInvokers
	}
	for stepsDone := 0; ; stepsDone++ {
		inv := invokers[index]
		if inv.Status == Healthy && slots[inv.ID.Instance].tryAcquireConcurrent(fqn, maxConcurrent, memoryMB) {
			return inv.ID, false, nil
		}
		if stepsDone == n+1 {
			var healthy []InvokerHealth
			for _, h := range invokers {
				if h.Status == Healthy {
					healthy = append(healthy, h)
				}
			}
			if len(healthy) == 0 {
				return whisk.InvokerInstanceID{}, false, ErrNoInvokers
			}
			pick := healthy[randIntn(len(healthy))].ID
			slots[pick.Instance].forceAcquireConcurrent(fqn, maxConcurrent, memoryMB)
			return pick, true, nil
		}
		index = (index + step) % n
	}
}

// Release returns the permits an activation took on invoker instance.
func (s *Sharding) Release(instance int, r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if instance >= 0 && instance < len(s.slots) {
		s.slots[instance].releaseConcurrent(r.ActionVersion, r.MaxConcurrent, r.MemoryMB)
	}
}

// FreeMemoryMB reports an invoker's remaining permits, for tests and logs.
func (s *Sharding) FreeMemoryMB(instance int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots[instance].memory
}
