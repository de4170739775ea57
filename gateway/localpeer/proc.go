package localpeer

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// procUID finds the socket s in a /proc/net/tcp or /proc/net/tcp6 table
// (v6) and returns its uid; found is false when no established socket has
// its four-tuple. Each line is
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// with addresses as the kernel's 32-bit words in hex, each in the host's
// byte order, and ports in hex.
func procUID(r io.Reader, s sock, v6 bool) (uid uint32, found bool, err error) {
	local, remote := procAddr(s.local, v6), procAddr(s.remote, v6)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || !strings.EqualFold(f[1], local) || !strings.EqualFold(f[2], remote) {
			continue
		}
		if st, err := strconv.ParseUint(f[3], 16, 8); err != nil || st != tcpEstablished {
			continue
		}
		u, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			return 0, false, fmt.Errorf("proc: uid %q: %w", f[7], err)
		}
		return uint32(u), true, nil
	}
	return 0, false, sc.Err()
}

// procAddr formats an address and port as /proc/net/tcp{,6} shows them.
func procAddr(ap netip.AddrPort, v6 bool) string {
	var raw []byte
	if v6 {
		a := ap.Addr().As16()
		raw = a[:]
	} else {
		raw = ap.Addr().AsSlice()
	}
	var b strings.Builder
	for i := 0; i+4 <= len(raw); i += 4 {
		var w [4]byte
		binary.BigEndian.PutUint32(w[:], binary.NativeEndian.Uint32(raw[i:]))
		b.WriteString(strings.ToUpper(hex.EncodeToString(w[:])))
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}
