package executor

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the WebAssembly page.
const pageSize = 65536

// memoryLimit backs one instance's linear memory and refuses to grow it past
// limits.memory. It remembers a refusal, because a guest that fails after
// one ran out of memory: that is the stock "exhausted its memory" error, as
// an OOM-killed container is.
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

// Reallocate implements experimental.LinearMemory. Growing doubles the
// capacity (up to the limit) so a guest that grows page by page is not
// copied on every page; the bytes past the old length are still zero
// because memory never shrinks.
func (m *memoryLimit) Reallocate(size uint64) []byte {
	if size > m.max {
		m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	c := min(max(size, 2*uint64(cap(m.buf))), m.max)
	buf := make([]byte, size, c)
	copy(buf, m.buf)
	m.buf = buf
	m.size.Store(int64(c))
	return buf
}

// Free implements experimental.LinearMemory.
func (m *memoryLimit) Free() {
	m.buf = nil
	m.size.Store(0)
}
