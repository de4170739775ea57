// Package epmd implements the Erlang Port Mapper Daemon protocol, byte for
// byte as OTP 25's epmd speaks it, plus distgate's multi-transport extension.
//
// The package is split by concern:
//
//   - the wire codec (alive2.go, port2.go, names.go, ext_*.go) is pure
//     functions over byte slices: parse a request, append a reply;
//   - the Registry (registry.go) is the pure state of registered nodes,
//     their creations and the recently unregistered names; it takes the
//     clock as an argument and never touches a socket;
//   - the Server (server.go) owns the sockets: it reads one framed request,
//     asks the registry, writes the reply in one write and closes, except
//     for registrations, whose connection carries the registration's life;
//   - the Client (client.go) speaks both protocols from Go.
//
// server.go is longer than the other files (over 800 lines): the accept
// loop, the answer on the accepting goroutine, the request handlers and the
// packet timeout share one connection's state. It is to be cut along those
// lines once the work now changing them (-packet_timeout conformance, the
// lookup path) has landed, rather than moved under it.
//
// # Classic protocol
//
// A request is a 2-byte big-endian length followed by that many bytes, the
// first of which is the command. Replies carry no length. epmd answers one
// request per connection and closes, except after ALIVE2, which keeps the
// connection open for as long as the node lives. Malformed requests are met
// with a silent close, never with an error message, because that is what
// OTP's clients expect.
//
// # Extension
//
// distgate adds commands on bytes that OTP's epmd does not use ('R', 'T',
// 'L', 'N'). OTP's epmd closes the connection on them without a reply,
// which is how a client learns that it should fall back to the classic
// protocol. The extension is specified byte by byte in PROTOCOL.md.
package epmd
