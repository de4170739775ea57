//go:build wasip1

package guest

import (
	"time"
	"unsafe"

	"github.com/distgate/distgate/abi"
)

//go:wasmexport distgate_abi_v1
func abiV1() {}

//go:wasmexport distgate_alloc
func distgateAlloc(n uint32) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(module.alloc(n)))
}

//go:wasmexport distgate_init
func distgateInit() uint64 {
	msg := module.init(readConfig())
	if len(msg) == 0 {
		return 0
	}
	return pack(msg, abi.CodeOK)
}

//go:wasmexport distgate_lookup
func distgateLookup(ptr unsafe.Pointer, n uint32) uint64 {
	if !module.owns(ptr) {
		return abi.PackCode(abi.CodeMalformed)
	}
	return pack(module.lookup(n))
}

//go:wasmexport distgate_authorize
func distgateAuthorize(ptr unsafe.Pointer, n uint32) uint64 {
	if !module.owns(ptr) {
		return abi.PackCode(abi.CodeMalformed)
	}
	return pack(module.authorize(n))
}

//go:wasmexport distgate_filter
func distgateFilter(ptr unsafe.Pointer, n uint32) uint64 {
	if !module.owns(ptr) {
		return abi.PackCode(abi.CodeMalformed)
	}
	return pack(module.filter(n))
}

// owns reports whether ptr is the input buffer distgate_alloc handed out.
func (r *dispatcher) owns(ptr unsafe.Pointer) bool {
	return cap(r.in) > 0 && ptr == unsafe.Pointer(unsafe.SliceData(r.in))
}

func pack(out []byte, code abi.Code) uint64 {
	if code != abi.CodeOK {
		return abi.PackCode(code)
	}
	return abi.PackResult(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(out)))), uint32(len(out)))
}

//go:wasmimport distgate log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport distgate now
func hostNow() int64

//go:wasmimport distgate config_size
func hostConfigSize() uint32

//go:wasmimport distgate config_read
func hostConfigRead(ptr unsafe.Pointer, n uint32) uint32

func readConfig() []byte {
	n := hostConfigSize()
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	return b[:hostConfigRead(unsafe.Pointer(&b[0]), n)]
}

// Log logs msg at level into the gateway's log, tagged with the policy's
// name.
func Log(level abi.LogLevel, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

// Now returns the gateway's clock.
func Now() time.Time { return time.Unix(0, hostNow()) }
