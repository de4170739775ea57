package wasm

import "github.com/tetratelabs/wazero/experimental"

// linearMemory allocates guest memories. It holds no state. wazero's default grows a memory
// by appending to a Go slice, which copies it each time and costs
// milliseconds for a Go guest growing its heap; on Linux the engine
// reserves the whole cap of address space once per instance instead
// (memory_linux.go), and the kernel backs only the pages the guest
// touches.
var linearMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(newLinearMemory)

// sliceMemory is a linear memory on the Go heap, the portable fallback.
type sliceMemory struct {
	buf []byte
	max uint64
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	switch {
	case size > m.max:
		return nil
	case size <= uint64(cap(m.buf)):
		m.buf = m.buf[:size]
	default:
		b := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
		copy(b, m.buf)
		m.buf = b
	}
	return m.buf
}

func (m *sliceMemory) Free() { m.buf = nil }
