package epmd

import (
	"math"
	"time"
)

// How OTP's epmd times out a request that does not arrive (erts/epmd/src,
// OTP 25):
//
//   - epmd is one select() loop (epmd_srv.c, run()). Its timeout is 1 s when
//     packet_timeout < IDLE_TIMEOUT (5, epmd_int.h), else 5 s; any event on
//     any socket ends the wait early, and each pass starts a new one.
//   - Each connection notes the time() of its accept (conn_open) and of
//     every read that gave bytes (do_read) in mod_time: whole seconds.
//   - After each select(), a connection with nothing to read that is not a
//     registration is closed, with a plain close(), when
//     mod_time + packet_timeout < now. A connection with bytes to read is
//     read instead, however late they came.
//
// So when epmd serves that connection alone, it wakes 1 s (or 5 s) after
// the last byte, then every 1 s (5 s), and closes at the first wake past
// the timeout: since those wakes fall a whole number of seconds after the
// byte, where the second ticks over does not matter. A pause shorter than
// packet_timeout + 1 s (for 1..4 s) is always tolerated; from 5 s up, a
// pause shorter than the next multiple of 5 s above packet_timeout. A busy
// epmd, woken by other sockets, checks more often and may close as soon
// as the second count passes mod_time + packet_timeout, anywhere from
// packet_timeout to packet_timeout + 1 s after the last byte. distgate
// serves every connection on its own, so it keeps the first rule, the one
// a lone client of epmd sees, every time.

// idleWake is epmd's IDLE_TIMEOUT: select() wakes this often when the
// packet timeout is at least this long, else every second.
const idleWake = 5 * time.Second

// idleDeadline returns when OTP's epmd, serving this connection alone,
// closes a connection that has sent nothing since last (its accept or
// its last byte), for a packet timeout of timeout: at the first select()
// wake-up after last that is more than timeout after it. The zero time
// means never (a timeout beyond what a time.Duration counts).
func idleDeadline(last time.Time, timeout time.Duration) time.Time {
	wake := time.Second
	if timeout >= idleWake {
		wake = idleWake
	}
	n := timeout/wake + 1 // wake-ups until one is past the timeout
	if n > math.MaxInt64/wake {
		return time.Time{}
	}
	return last.Add(n * wake)
}

// firstBytesGrace is the least time a connection gets for its first bytes
// after its accept, whatever its idle deadline says: a connection held back
// by TCP_DEFER_ACCEPT is counted from its connect (deferredSilence earlier)
// when it looks silent, and the kernel may hand over a connection a moment
// before its first segment is readable.
const firstBytesGrace = 100 * time.Millisecond
