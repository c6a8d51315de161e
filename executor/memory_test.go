package executor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// checkPool fails unless p's accounting matches what it holds and stays
// within its budget.
func checkPool(t *testing.T, p *bufferPool) (idle, limit int64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var held int64
	for class, s := range p.free {
		for _, b := range s {
			if cap(b.buf) != 1<<class {
				t.Errorf("class %d holds a buffer of capacity %d", class, cap(b.buf))
			}
			held += int64(cap(b.buf))
		}
	}
	if held != p.idle {
		t.Errorf("pool counts %d bytes, holds %d", p.idle, held)
	}
	if p.idle > p.limit {
		t.Errorf("pool holds %d bytes, over its budget of %d", p.idle, p.limit)
	}
	return p.idle, p.limit
}

func TestBufferPool(t *testing.T) {
	const mib = 1 << 20
	var p bufferPool
	// Three executors in one process share one budget: the largest's
	// share, not the sum.
	p.join(1024 * mib)
	p.join(512 * mib)
	p.join(512 * mib)
	if _, limit := checkPool(t, &p); limit != 1024*mib/poolShare {
		t.Fatalf("limit = %d, want %d", limit, 1024*mib/poolShare)
	}
	largest := uint64(1024 * mib / poolShare / largestShare) // 16 MiB

	// A buffer that could be pooled has a power-of-two capacity; one above
	// the largest worth keeping is exactly what was asked and is not kept.
	if b := p.get(3*mib, 3*mib); len(b) != 3*mib || cap(b) != 4*mib {
		t.Errorf("get(3 MiB) = len %d cap %d, want cap 4 MiB", len(b), cap(b))
	}
	big := p.get(20*mib, 24*mib)
	if len(big) != 20*mib || cap(big) != 24*mib {
		t.Errorf("get(24 MiB) = len %d cap %d", len(big), cap(big))
	}
	p.put(big)
	p.put(make([]byte, 0, 2*largest))
	p.put(make([]byte, 0, 3*mib)) // not a power of two
	if idle, _ := checkPool(t, &p); idle != 0 {
		t.Errorf("pool keeps %d bytes of unpoolable buffers", idle)
	}

	// Returned beyond the budget, the least recently returned go.
	var bufs [][]byte
	for range 5 {
		bufs = append(bufs, make([]byte, 0, largest))
	}
	small := make([]byte, 0, mib)
	p.put(small)
	for _, b := range bufs {
		p.put(b)
		checkPool(t, &p)
	}
	if idle, _ := checkPool(t, &p); idle != 4*int64(largest) {
		t.Errorf("pool holds %d bytes, want 4 x %d", idle, largest)
	}
	if b := p.get(mib, mib); &b[:1][0] == &small[:1][0] {
		t.Error("the least recently returned buffer was kept")
	}
	if b := p.get(largest, largest); &b[:1][0] != &bufs[4][:1][0] {
		t.Error("get did not return the most recently returned buffer")
	}

	// The pool shrinks with its executors.
	p.leave(1024 * mib)
	if idle, limit := checkPool(t, &p); limit != 512*mib/poolShare || idle > limit {
		t.Errorf("after the largest left: idle %d, limit %d", idle, limit)
	}
	p.leave(512 * mib)
	p.leave(512 * mib)
	if idle, limit := checkPool(t, &p); idle != 0 || limit != 0 {
		t.Errorf("after all left: idle %d, limit %d", idle, limit)
	}
	if b := p.get(mib, mib); cap(b) != mib {
		t.Errorf("get with no budget: cap %d", cap(b))
	}
}

// TestBufferPoolBoundsGrows runs many guests that grow their memory to the
// action's limit, some within the pool's largest class and some far above,
// concurrently, and checks that the pool never holds more than its budget
// and that the heap after a collection is within it (a pool that kept the
// large memories, as a sync.Pool does until the second collection, would
// hold hundreds of MB here).
func TestBufferPoolBoundsGrows(t *testing.T) {
	const mib = 1 << 20
	e := newExecutor(t, WithMemoryBudget(256*mib))
	_, limit := checkPool(t, &buffers)
	if limit != 256*mib/poolShare {
		t.Fatalf("pool budget %d, want %d: is another executor open?", limit, 256*mib/poolShare)
	}
	grow := func(memoryMB int64) activation.Result {
		a := &activation.Action{Name: activation.FQN{Path: "guest", Name: fmt.Sprint("grow", memoryMB)}, Version: "0.0.1",
			Code: activation.Code{Inline: watGrow.bytes(t), Digest: "grow"}, Limits: limits(60000, memoryMB, 10, 1)}
		return e.Run(context.Background(), a, activation.Invocation{})
	}
	goroutines := runtime.NumGoroutine()
	checkResult(t, grow(128), whisk.StatusDeveloperError, errorText(whisk.MsgMemoryExhausted)) // compiled
	settle(goroutines)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 6 {
				res := grow([]int64{128, 2, 4, 96, 1, 8}[(w+i)%6])
				if res.Response.StatusCode != whisk.StatusDeveloperError {
					t.Errorf("status %v: %s", res.Response.StatusCode, res.Response.Result)
				}
			}
		})
	}
	wg.Wait()
	idle, _ := checkPool(t, &buffers)
	if idle == 0 {
		t.Error("the pool kept none of the small memories")
	}
	settle(goroutines)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	const slack = 16 * mib // the runs' other garbage-free leftovers: logs, records, wazero's bookkeeping
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > limit+slack {
		t.Errorf("heap in use grew by %d MiB after a collection, over the pool's %d MiB budget + %d MiB",
			grown/mib, limit/mib, slack/mib)
	}
	t.Logf("pool holds %d of %d MiB; heap in use %d -> %d MiB", idle/mib, limit/mib, before.HeapInuse/mib, after.HeapInuse/mib)
}

// settle yields until at most n goroutines are left (for a bounded number
// of turns): wazero's goroutine that closes a module when its context ends
// references the module's memory until it notices that the run is over.
func settle(n int) {
	for i := 0; i < 100000 && runtime.NumGoroutine() > n; i++ {
		runtime.Gosched()
	}
}
