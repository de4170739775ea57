package wasm

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapMemory is a linear memory in an anonymous mapping of its maximum
// size: it never moves or copies, and untouched pages cost nothing.
type mmapMemory struct {
	mapped []byte
}

func newLinearMemory(capacity, max uint64) experimental.LinearMemory {
	if max == 0 || max > 4<<30 {
		return &sliceMemory{max: max}
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return &sliceMemory{max: max}
	}
	return &mmapMemory{mapped: b}
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mapped)) {
		return nil
	}
	return m.mapped[:size]
}

func (m *mmapMemory) Free() {
	if m.mapped != nil {
		syscall.Munmap(m.mapped)
		m.mapped = nil
	}
}
