// Package abi is the contract between the distgate gateway (the host) and a
// routing or access policy compiled to WebAssembly (the guest).
//
// It holds the messages that cross the boundary — LookupRequest and Route
// for lookups, AuthorizeRequest and Decision for access checks — their
// binary codec, and the names, signatures and codes of ABI version 1. The
// package imports only the standard library and builds for
// GOOS=wasip1 GOARCH=wasm, so the host and Go guests share one codec.
// README.md beside this file is the long form, for guests written in any
// language.
//
// Each message has a Parse function and an Append method:
//
//	b := req.Append(buf[:0])          // host: encode a request
//	req, err := abi.ParseLookupRequest(b) // guest: decode it
//	out := route.Append(out[:0])      // guest: encode the answer
//	route, err := abi.ParseRoute(out) // host: decode it, then route.Validate()
//
// Parse functions check structure only (framing, header, field sizes) and
// skip fields they do not know, so that a field added later does not break
// an older reader; Validate checks the meaning of a guest's answer.
//
// Go guests use the SDK in package guest (abi/guest): a policy is a
// constructor registered with guest.Register and built with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
package abi
