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
// Buffers come from a pool, so that a command module, which gets a fresh
// memory on every run, does not make the garbage collector clear and return
// megabytes per activation. A buffer goes back to the pool only through
// release, called once the guest can no longer run: wazero calls Free
// from another goroutine when a context ends, while the guest may still be
// executing until it notices.
type memoryLimit struct {
	max     uint64 // bytes
	buf     []byte
	refused atomic.Bool
	size    atomic.Int64 // capacity of buf, read by the pool's accounting
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
	buf := getBuffer(size, min(max(size, 2*uint64(cap(m.buf))), m.max))
	copy(buf, m.buf)
	clear(buf[old:])
	putBuffer(m.buf)
	m.buf = buf
	m.size.Store(int64(cap(buf)))
	return buf
}

// Free implements experimental.LinearMemory. The buffer is kept until
// release: see the type's documentation.
func (m *memoryLimit) Free() {}

// release returns the buffer to the pool; the instance must not run again.
func (m *memoryLimit) release() {
	putBuffer(m.buf)
	m.buf = nil
	m.size.Store(0)
}

// bufferPools hold spare linear memories by capacity class: pool i holds
// buffers of capacity 2^i bytes.
var bufferPools [40]sync.Pool

// getBuffer returns a buffer of length size whose capacity is at least
// want, taken from the pool when one fits. Its bytes are not cleared.
func getBuffer(size, want uint64) []byte {
	class := bits.Len64(want - 1) // capacity 2^class >= want
	if class < len(bufferPools) {
		if p, ok := bufferPools[class].Get().(*[]byte); ok {
			return (*p)[:size]
		}
		want = 1 << class // so that it can be pooled later
	}
	return make([]byte, size, want)
}

// putBuffer gives a buffer back to the pool of its capacity class, if its
// capacity is exactly a power of two.
func putBuffer(b []byte) {
	c := uint64(cap(b))
	if c == 0 || c&(c-1) != 0 {
		return
	}
	if class := bits.Len64(c - 1); class < len(bufferPools) {
		b = b[:0]
		bufferPools[class].Put(&b)
	}
}
