package localpeer

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// reply builds a sock_diag reply for the socket id with state and uid.
func reply(s sock, v6 bool, seq uint32, state uint8, uid uint32) []byte {
	body := []byte{s.family(v6), state, 0, 0}
	body = appendSockID(body, s, v6)
	body = binary.NativeEndian.AppendUint32(body, 0) // expires
	body = binary.NativeEndian.AppendUint32(body, 0) // rqueue
	body = binary.NativeEndian.AppendUint32(body, 0) // wqueue
	body = binary.NativeEndian.AppendUint32(body, uid)
	body = binary.NativeEndian.AppendUint32(body, 42) // inode
	b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(body)))
	b = binary.NativeEndian.AppendUint16(b, sockDiagByFamily)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	return append(b, body...)
}

func TestParseReply(t *testing.T) {
	s := sock{local: netip.MustParseAddrPort("127.0.0.1:40000"), remote: netip.MustParseAddrPort("127.0.0.1:4369")}
	listener := sock{local: netip.MustParseAddrPort("127.0.0.1:40000")}
	if req := appendRequest(nil, s, false, 1); len(req) != nlmsgHdrLen+reqLen {
		t.Fatalf("request of %d bytes", len(req))
	}
	errMsg := func(errno int32) []byte {
		b := binary.NativeEndian.AppendUint32(nil, nlmsgHdrLen+4+16)
		b = binary.NativeEndian.AppendUint16(b, nlmsgError)
		b = append(b, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)
		b = binary.NativeEndian.AppendUint32(b, uint32(errno))
		return append(b, make([]byte, 16)...)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		uid  uint32
		err  error
	}{
		{"established", reply(s, false, 1, tcpEstablished, 1000), 1000, nil},
		{"time-wait", reply(s, false, 1, 6, 0), 0, ErrNotFound},
		{"a listener", reply(listener, false, 1, 10, 0), 0, ErrNotFound},
		{"another family", reply(s, true, 1, tcpEstablished, 0), 0, ErrNotFound},
		{"another request", reply(s, false, 2, tcpEstablished, 1000), 0, ErrNotFound},
		{"no such socket", errMsg(-int32(syscall.ENOENT)), 0, syscall.ENOENT},
		{"not permitted", errMsg(-int32(syscall.EPERM)), 0, syscall.EPERM},
	} {
		uid, err := parseReply(tc.b, s, false, 1)
		switch {
		case tc.err == nil:
			if err != nil || uid != tc.uid {
				t.Errorf("%s: %d, %v; want %d", tc.name, uid, err, tc.uid)
			}
		case !errors.Is(err, tc.err):
			t.Errorf("%s: %d, %v; want %v", tc.name, uid, err, tc.err)
		}
	}
}

func TestParseReplyTruncated(t *testing.T) {
	s := sock{local: netip.MustParseAddrPort("127.0.0.1:40000"), remote: netip.MustParseAddrPort("127.0.0.1:4369")}
	b := reply(s, false, 1, tcpEstablished, 1000)
	for n := range len(b) {
		if uid, err := parseReply(b[:n], s, false, 1); err == nil {
			t.Fatalf("%d of %d bytes: uid %d, no error", n, len(b), uid)
		}
	}
}

func TestProcUID(t *testing.T) {
	s := sock{local: netip.MustParseAddrPort("127.0.0.1:40000"), remote: netip.MustParseAddrPort("127.0.0.1:4369")}
	l, r := procAddr(s.local, false), procAddr(s.remote, false)
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && (l != "0100007F:9C40" || r != "0100007F:1111") {
		t.Fatalf("procAddr: %s %s", l, r)
	}
	table := strings.Join([]string{
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"   0: " + l + " " + r + " 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000000000000000",
		"   1: " + l + " 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000",
		"   2: " + l + " " + r + " 01 00000000:00000000 00:00000000 00000000  1001        0 2 1 0000000000000000",
	}, "\n")
	uid, found, err := procUID(strings.NewReader(table), s, false)
	if err != nil || !found || uid != 1001 {
		t.Fatalf("procUID = %d, %v, %v; want 1001 (the established line)", uid, found, err)
	}
	other := sock{local: netip.MustParseAddrPort("127.0.0.1:40001"), remote: s.remote}
	if _, found, _ := procUID(strings.NewReader(table), other, false); found {
		t.Fatal("found a socket that is not in the table")
	}
}
