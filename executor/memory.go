package executor

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the WebAssembly page.
const pageSize = 65536

// memoryLimit backs one instance's linear memory and refuses to grow it past
// limits.memory. It remembers a refusal, because a guest that fails after
// one ran out of memory: that is the stock "exhausted its memory" error, as
// an OOM-killed container is.
//
// Buffers come from the process's buffer pool (buffers), so that a command
// module, which gets a fresh memory on every run, does not make the garbage
// collector clear and return megabytes per activation. A buffer goes back
// only through release, called once the guest can no longer run: wazero
// calls Free from another goroutine when a context ends, while the guest
// may still be executing until it notices.
type memoryLimit struct {
	max     uint64 // bytes
	buf     []byte
	refused atomic.Bool
	size    atomic.Int64 // capacity of buf, read by the executor's accounting
}

func newMemoryLimit(maxBytes uint64) *memoryLimit { return &memoryLimit{max: maxBytes} }

// Allocate implements experimental.MemoryAllocator; each instance gets its
// own memoryLimit, so it is called once.
func (m *memoryLimit) Allocate(_, _ uint64) experimental.LinearMemory { return m }

// Reallocate implements experimental.LinearMemory. Growing at least doubles
// the capacity (up to the limit), so a guest that grows a page at a time is
// not copied on every page.
func (m *memoryLimit) Reallocate(size uint64) []byte {
	if size > m.max {
		m.refused.Store(true)
		return nil
	}
	old := len(m.buf)
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		clear(m.buf[old:])
		return m.buf
	}
	buf := buffers.get(size, min(max(size, 2*uint64(cap(m.buf))), m.max))
	copy(buf, m.buf)
	clear(buf[old:])
	buffers.put(m.buf)
	m.buf = buf
	m.size.Store(int64(cap(buf)))
	return buf
}

// Free implements experimental.LinearMemory. The buffer is kept until
// release: see the type's documentation.
func (m *memoryLimit) Free() {}

// release returns the buffer to the pool; the instance must not run again.
func (m *memoryLimit) release() {
	buffers.put(m.buf)
	m.buf = nil
	m.size.Store(0)
}

const (
	// poolShare is the share of an executor's memory budget
	// (WithMemoryBudget) that spare linear memories may hold:
	// 1/poolShare, 64 MiB of the default 1 GiB.
	poolShare = 16
	// largestShare bounds the buffers worth keeping: one above
	// 1/largestShare of the pool's budget (16 MiB of 64 MiB) is left to the
	// garbage collector, so that a guest growing to its limit now and then
	// does not pin its memory, and the pool keeps room for several.
	largestShare = 4
	// bufferClasses bounds the capacity classes (2^39 bytes).
	bufferClasses = 40
)

// bufferPool holds spare linear memories by capacity class, within a budget
// of bytes. Every executor of the process shares the one pool (buffers),
// whose budget is 1/poolShare of the largest memory budget of the open
// executors: several executors in one process (an invoker and edge nodes
// in the standalone) serve from the same memory, so their spares are not
// summed. Beyond the budget the least recently returned buffers go to the
// garbage collector.
type bufferPool struct {
	mu      sync.Mutex
	budgets map[int64]int          // memory budgets of open executors, counted
	limit   int64                  // bytes the pool may hold
	idle    int64                  // bytes it holds
	seq     uint64                 // counts puts, to find the least recently returned
	free    [bufferClasses][]spare // free[i] holds capacity 2^i, oldest first
}

type spare struct {
	buf []byte
	seq uint64
}

var buffers bufferPool

// join counts an executor's memory budget in the pool's budget, until
// leave.
func (p *bufferPool) join(budget int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budgets == nil {
		p.budgets = map[int64]int{}
	}
	p.budgets[budget]++
	p.resize()
}

func (p *bufferPool) leave(budget int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budgets[budget]--; p.budgets[budget] <= 0 {
		delete(p.budgets, budget)
	}
	p.resize()
}

// resize sets the limit from the open executors' budgets and drops what no
// longer fits it.
func (p *bufferPool) resize() {
	var top int64
	for b := range p.budgets {
		top = max(top, b)
	}
	p.limit = top / poolShare
	for class := range p.free {
		if !p.poolable(1 << class) {
			for _, s := range p.free[class] {
				p.idle -= int64(cap(s.buf))
			}
			p.free[class] = nil
		}
	}
	for p.idle > p.limit {
		p.evictOldest()
	}
}

// poolable reports whether a buffer of capacity c is worth keeping.
func (p *bufferPool) poolable(c uint64) bool {
	return c > 0 && c&(c-1) == 0 && c <= uint64(p.limit/largestShare)
}

// get returns a buffer of length size whose capacity is at least want,
// taken from the pool when one fits. Its bytes are not cleared. A buffer
// that could be pooled gets a capacity of a power of two, so that it can be
// reused by any memory of its class.
func (p *bufferPool) get(size, want uint64) []byte {
	class := bits.Len64(want - 1) // capacity 2^class >= want
	p.mu.Lock()
	if class >= bufferClasses || !p.poolable(1<<class) {
		p.mu.Unlock()
		return make([]byte, size, want)
	}
	if s := p.free[class]; len(s) > 0 {
		b := s[len(s)-1].buf
		s[len(s)-1] = spare{}
		p.free[class] = s[:len(s)-1]
		p.idle -= int64(cap(b))
		p.mu.Unlock()
		return b[:size]
	}
	p.mu.Unlock()
	return make([]byte, size, 1<<class)
}

// put gives a buffer back to the pool when it is worth keeping, making
// room by dropping the least recently returned ones.
func (p *bufferPool) put(b []byte) {
	c := uint64(cap(b))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.poolable(c) {
		return
	}
	for p.idle+int64(c) > p.limit {
		p.evictOldest()
	}
	class := bits.Len64(c - 1)
	p.seq++
	p.free[class] = append(p.free[class], spare{b[:0], p.seq})
	p.idle += int64(c)
}

// evictOldest drops the least recently returned buffer; the pool must not
// be empty.
func (p *bufferPool) evictOldest() {
	oldest := -1
	for class, s := range p.free {
		if len(s) > 0 && (oldest < 0 || s[0].seq < p.free[oldest][0].seq) {
			oldest = class
		}
	}
	s := p.free[oldest]
	p.idle -= int64(cap(s[0].buf))
	s[0] = spare{}
	p.free[oldest] = s[1:]
}
