// Package distfilter decodes the Erlang distribution stream of one relayed
// connection as it passes, in the direction toward the local node, and
// passes, drops or replaces each message as a Decider says. It is pure:
// Conn.In takes the bytes read from the remote side and returns the bytes
// to write to the local node, and packets to send back; Conn.Out follows
// the bytes the local node sends, so that a reply goes between two of its
// packets (Conn.Boundary). Package relay's Filtered puts it on a socket.
//
// What it reads (OTP 25's erl_dist_protocol; the receiving node's
// dist.c and external.c are the reference for what is refused):
//
//   - the handshake of both sides (handshake.go), for the node names and
//     flags, with the 2-byte framing of TCP distribution or the 4-byte one
//     of TLS distribution; then 4-byte framed packets, empty ones being
//     ticks;
//   - each packet's header (header.go): normal ('D'), first fragment ('E')
//     and further fragments ('F'), with the atom cache references and the
//     definitions of new entries, which it keeps as the receiving node
//     does; or the pass-through byte of nodes without headers;
//   - each message's control message (control.go): its operation, with
//     the registered name of REG_SEND and of monitors by name, the MFA of
//     spawn requests, in the external term format with atom cache
//     references (etf.go, which reads terms without allocating);
//   - for spawn requests and messages to rex, the call they carry
//     (call.go): erpc's execute_call and execute_cast, erlang:apply, and
//     {call | block_call | cast, M, F, A, ...} requests, read from the
//     payload within Limits.MaxCallBytes of the first fragment.
//
// Payloads otherwise pass untouched, and unread: a packet is decided on
// its first bytes, and the rest is copied (or skipped). A message that
// passes is the bytes that came in.
//
// A denied message is dropped. Its header may define atom cache entries
// that later messages use: it is then replaced by a message that defines
// the same entries and that the node discards (encode.go), so that the
// receiver's cache stays what the sender believes it is. A denied spawn
// request is answered, toward the remote side, with a spawn reply that
// fails it (SpawnDenied), so that the caller does not wait. The later
// fragments of a dropped message are dropped with it.
//
// A stream the receiving node would refuse (a malformed header or control
// message, a reference to an undefined cache entry, a fragment of an
// unknown sequence, a compressed term), and one beyond Limits, ends the
// filter with an error: the relay closes the connection, as the node
// would have.
package distfilter
