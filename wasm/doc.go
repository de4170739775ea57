// Package wasm runs distgate's policies: WebAssembly modules, speaking the
// ABI of package abi, that decide where a node name leads (Lookup) and who
// may list, reach or register what (Authorize). It is built on wazero and
// imports no other distgate package than abi.
//
// # Using it from the gateway
//
// One Engine serves every named policy of a gateway:
//
//	eng, err := wasm.New(ctx, wasm.Config{DataDir: dir, Logger: log})
//	defer eng.Close(ctx)
//
// New reloads every stored policy's active version (compiled code comes
// from the cache under DataDir, so a restart is fast). The admin API maps
// onto Install, Activate, Rollback, Remove, Policies and Policy:
//
//	v, err := eng.Install(ctx, "routes", module, config) // validate, start, store, swap
//	v, err = eng.Rollback(ctx, "routes")                 // the previous kept version
//	v, err = eng.Activate(ctx, "routes", 3)              // any kept version
//	infos := eng.Policies()                              // versions, stats, load errors
//
// An upload that is not a valid policy yields an error wrapping
// ErrInvalidModule whose text says what is wrong (a missing export, an
// ABI version, a memory over the cap, a configuration its distgate_init
// refused, ...); it changes nothing.
//
// The EPMD resolver and the link code ask for decisions:
//
//	route, err := eng.Lookup(ctx, "routes", &abi.LookupRequest{...})
//	dec, err := eng.Authorize(ctx, "access", &abi.AuthorizeRequest{...})
//
// Both always return an answer to act on. When the policy fails — it is
// missing, traps, runs past its deadline, returns garbage or an error
// code, or is backing off — Lookup returns Config.FailRoute (a denial by
// default) and Authorize a refusal, together with the error. The engine
// has already logged the failure (at most once a second per policy) and
// counted it in the policy's Stats; the caller need not do either. A
// policy that does not implement a decision answers it with an error
// wrapping errors.ErrUnsupported, so a gateway can use one policy for
// routing and another for access.
//
// A route of kind abi.RouteLocal with no endpoints means "the registry's
// endpoints", the request's Local field.
//
// # What the engine guarantees
//
//   - Validation at load: exports and imports against the ABI, memory and
//     module size within their caps; then one instance is started with the
//     configuration, so a policy that cannot start is refused at upload.
//   - Modules are compiled once (and cached on disk); calls run on a
//     bounded pool of instances per version (Config.Instances), each used
//     by one goroutine at a time, with its request buffer reused.
//   - Limits per call: a wall-clock deadline (Config.CallTimeout), enforced
//     by instrumenting the module's loops, calling functions, host calls
//     and bulk instructions (see instrument.go), and in the host functions;
//     fuel, which ends a call even when the deadline's timer cannot run
//     (the Go runtime stopping the world for a collection); a memory cap
//     (Config.MaxMemoryBytes) and a cap on table elements for the life of
//     an instance; trap isolation. An instance that trapped or timed out
//     is discarded and replaced. After CrashesBeforeBackoff crashes in a
//     row, calls fail fast for Config.Backoff, doubling up to
//     Config.MaxBackoff.
//   - Guests never hold every thread: guest code, which Go cannot
//     preempt, runs on at most GOMAXPROCS-1 goroutines at a time (see
//     exec.go), so the rest of the process keeps running, and every wait
//     for an instance or a thread is bounded (ErrBusy). Close interrupts
//     the calls in flight and returns within seconds.
//   - A route the policy says depends on nothing but its request
//     (abi.Route.CacheMS) answers the same request again without a call,
//     from the version that gave it (see cache.go); CachedLookup answers
//     only so, without waiting, for the EPMD's fast path.
//   - Host functions: log, clock, and the policy's configuration, read
//     only; WASI without files, environment or sockets. Nothing else.
//   - Hot swap: a new version is loaded and validated beside the active
//     one, then swapped in atomically. Calls in flight finish on the old
//     version, which is closed after the last one; no call is dropped.
//   - Persistence: versions live under DataDir/policies/<name>/ as
//     <sha256>.wasm plus an index.json (written through a temporary file,
//     fsync and rename) with the active version and, per version, its
//     configuration. The last Config.KeepVersions are kept for rollback.
//
// MeasureDecisions times lookups end to end in process, for the
// bench-policy command. Package wasmtest builds Go and WAT policies for
// tests.
package wasm
