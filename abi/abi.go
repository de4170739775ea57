package abi

import "strconv"

// Version is the ABI version this package speaks. A guest declares the
// version it was written for by exporting a function named
// ExportVersionPrefix + the version ("distgate_abi_v1"); every message
// starts with the version byte. Fields are added without a version bump
// (readers skip unknown fields); the version changes only when an existing
// field, export or import changes meaning.
const Version = 1

// Revision counts the compatible additions made to Version (README.md,
// "Revisions"): a host of a revision understands every field and value of
// the revisions before it, and a guest that uses a field of a later
// revision than its host's finds it absent, its old meaning.
const Revision = 4

// Guest exports (see README.md for signatures and semantics).
const (
	ExportMemory        = "memory"          // the guest's linear memory (required)
	ExportVersionPrefix = "distgate_abi_v"  // + decimal version: func() (required marker, never called)
	ExportVersion       = "distgate_abi_v1" // the marker of this Version
	ExportAlloc         = "distgate_alloc"  // func(size i32) -> ptr i32 (required)
	ExportInit          = "distgate_init"   // func() -> i64 result (optional)
	ExportLookup        = "distgate_lookup" // func(ptr i32, len i32) -> i64 result
	ExportAuthorize     = "distgate_authorize"
	ExportFilter        = "distgate_filter" // func(ptr i32, len i32) -> i64 result (revision 4)
	ExportInitialize    = "_initialize"     // WASI reactor initializer, called first when present
	ExportStart         = "_start"          // WASI command entry: refused, a policy is a reactor
)

// Host imports, all in module HostModule.
const (
	HostModule       = "distgate"
	ImportLog        = "log"         // func(level i32, ptr i32, len i32)
	ImportNow        = "now"         // func() -> i64: Unix time in nanoseconds
	ImportConfigSize = "config_size" // func() -> i32: bytes of the configuration blob
	ImportConfigRead = "config_read" // func(ptr i32, len i32) -> i32: bytes copied
)

// WASIModule is the only other import module a guest may use: the WASI
// preview 1 functions a language runtime needs (clocks, random, stdout and
// stderr into the log). No file system, environment, arguments or sockets
// are provided.
const WASIModule = "wasi_snapshot_preview1"

// LogLevel is the level argument of the log import. The values are those
// of log/slog.
type LogLevel int32

// Log levels.
const (
	LevelDebug LogLevel = -4
	LevelInfo  LogLevel = 0
	LevelWarn  LogLevel = 4
	LevelError LogLevel = 8
)

// Code is an error a guest returns instead of a message: a negative result.
type Code int32

// Error codes. The host fails closed on every one of them.
const (
	CodeOK          Code = 0
	CodeMalformed   Code = -1 // the guest could not parse the request
	CodeUnsupported Code = -2 // the guest does not implement this decision
	CodeFailed      Code = -3 // the guest failed (a panic, a bug, a bad config)
)

// String returns a readable name.
func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeMalformed:
		return "malformed request"
	case CodeUnsupported:
		return "unsupported"
	case CodeFailed:
		return "policy failed"
	}
	return "code " + strconv.Itoa(int(c))
}

// PackResult packs a message at ptr of n bytes in guest memory into the i64
// a decision export returns: ptr in the high 32 bits, n in the low 32 bits.
// ptr must be below 2^31 so that the result is not negative.
func PackResult(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// PackCode returns the i64 result of an error code.
func PackCode(c Code) uint64 { return uint64(int64(c)) }

// UnpackResult splits a decision export's result. A negative result is an
// error code (CodeOK is never returned that way): code is then non-zero and
// ptr and n are zero.
func UnpackResult(r uint64) (ptr, n uint32, code Code) {
	if int64(r) < 0 {
		if int64(r) < -1<<31 {
			return 0, 0, CodeFailed
		}
		return 0, 0, Code(int64(r))
	}
	return uint32(r >> 32), uint32(r), CodeOK
}
