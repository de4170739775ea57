package linkwire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestHeaderBytes(t *testing.T) {
	h := Header{Kind: KindRelay, Target: "y@b", Caller: "x@a", Liveness: 3 * time.Second, Tick: 500 * time.Millisecond}
	want := []byte{
		1, 1, 0, 26, // version, relay, 26 bytes of fields
		1, 0, 3, 'y', '@', 'b',
		2, 0, 3, 'x', '@', 'a',
		3, 0, 4, 0, 0, 0x0b, 0xb8, // 3000 ms
		4, 0, 4, 0, 0, 0x01, 0xf4, // 500 ms
	}
	b := h.Append(nil)
	if !bytes.Equal(b, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", b, want)
	}
	got, n, err := ParseHeader(append(b, "rest"...))
	if err != nil || n != len(want) || got != h {
		t.Fatalf("ParseHeader = %+v, %d, %v", got, n, err)
	}
	got, err = ReadHeader(bytes.NewReader(b))
	if err != nil || got != h {
		t.Fatalf("ReadHeader = %+v, %v", got, err)
	}
	// A verified caller adds an empty field, after the others.
	h.CallerVerified = true
	b = h.Append(nil)
	if !bytes.Equal(b[4:], append(want[4:], 6, 0, 0)) || b[3] != want[3]+3 {
		t.Fatalf("Append of a verified caller =\n% x", b)
	}
	if got, _, err := ParseHeader(b); err != nil || got != h {
		t.Fatalf("ParseHeader of a verified caller = %+v, %v", got, err)
	}
	// A forwarded stream carries its hop count and the caller's site,
	// after the others.
	h.Hops, h.Origin = 3, "a"
	b = h.Append(nil)
	if !bytes.Equal(b[4:], append(want[4:], 6, 0, 0, 7, 0, 1, 3, 8, 0, 1, 'a')) || b[3] != want[3]+3+4+4 {
		t.Fatalf("Append of a forwarded stream =\n% x", b)
	}
	if got, _, err := ParseHeader(b); err != nil || got != h {
		t.Fatalf("ParseHeader of a forwarded stream = %+v, %v", got, err)
	}
	// An EPMD header is the prelude alone.
	if b := (Header{Kind: KindEPMD}).Append(nil); !bytes.Equal(b, []byte{1, 3, 0, 0}) {
		t.Fatalf("epmd header % x", b)
	}
}

// TestHeaderTruncated: every proper prefix of a header is incomplete, for
// ParseHeader and for ReadHeader alike.
func TestHeaderTruncated(t *testing.T) {
	b := Header{Kind: KindRelay, Target: "y@b", Caller: "x@a", Tick: time.Second}.Append(nil)
	for i := range b {
		if _, _, err := ParseHeader(b[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParseHeader of %d bytes: %v", i, err)
		}
		if _, err := ReadHeader(bytes.NewReader(b[:i])); err == nil {
			t.Errorf("ReadHeader of %d bytes succeeded", i)
		}
	}
}

func TestHeaderMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"version", []byte{2, 1, 0, 0}},
		{"too long", []byte{1, 1, 0x10, 0x01}},
		{"field header cut", []byte{1, 1, 0, 2, 1, 0}},
		{"field value cut", []byte{1, 1, 0, 4, 1, 0, 5, 'y'}},
		{"liveness of 2 bytes", []byte{1, 3, 0, 5, 3, 0, 2, 0, 1}},
		{"relay without target", []byte{1, 1, 0, 6, 2, 0, 3, 'x', '@', 'a'}},
		{"caller verified with a value", []byte{1, 1, 0, 10, 1, 0, 3, 'y', '@', 'b', 6, 0, 1, 1}},
		{"hops of 2 bytes", []byte{1, 1, 0, 11, 1, 0, 3, 'y', '@', 'b', 7, 0, 2, 0, 1}},
	} {
		if _, _, err := ParseHeader(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseHeader: %v, want ErrMalformed", tc.name, err)
		}
		if _, err := ReadHeader(bytes.NewReader(tc.b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ReadHeader: %v, want ErrMalformed", tc.name, err)
		}
	}
}

// TestHeaderUnknownFields: fields a reader does not know are skipped,
// among them the site field (tag 5) older gateways send.
func TestHeaderUnknownFields(t *testing.T) {
	b := []byte{1, 1, 0, 14, 5, 0, 4, 's', 'i', 't', 'e', 1, 0, 3, 'y', '@', 'b', 99, 0, 0}
	b[3] = byte(len(b) - 4)
	h, _, err := ParseHeader(b)
	if err != nil || h.Target != "y@b" {
		t.Fatalf("%+v, %v", h, err)
	}
}

func TestReply(t *testing.T) {
	b := AppendReply(nil, StatusDenied, "no")
	if !bytes.Equal(b, []byte{1, 0, 2, 'n', 'o'}) {
		t.Fatalf("AppendReply % x", b)
	}
	r, n, err := ParseReply(append(b, 'x'))
	if err != nil || n != 5 || r != (Reply{StatusDenied, "no"}) {
		t.Fatalf("ParseReply = %+v, %d, %v", r, n, err)
	}
	var le *Error
	if err := ReadReply(bytes.NewReader(b)); !errors.As(err, &le) || le.Status != StatusDenied || !strings.Contains(err.Error(), "denied: no") {
		t.Fatalf("ReadReply = %v", err)
	}
	if err := ReadReply(bytes.NewReader(AppendReply(nil, StatusOK, ""))); err != nil {
		t.Fatalf("ReadReply(ok) = %v", err)
	}
	for i := range b {
		if _, _, err := ParseReply(b[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParseReply of %d bytes: %v", i, err)
		}
	}
	if long := AppendReply(nil, StatusBadRequest, strings.Repeat("x", MaxHeaderLen+10)); len(long) != 3+MaxHeaderLen {
		t.Fatalf("a long message is not cut: %d bytes", len(long))
	}
	if s := Status(9).String(); s != "status 9" {
		t.Fatalf("unknown status: %q", s)
	}
}

// FuzzHeader: whatever parses appends back to bytes that parse to the same
// header, and ParseHeader and ReadHeader agree.
func FuzzHeader(f *testing.F) {
	f.Add(Header{Kind: KindRelay, Target: "y@b", Caller: "x@a", Liveness: time.Second, Tick: time.Millisecond}.Append(nil))
	f.Add(Header{Kind: KindRelay, Target: "y@b", Caller: "x@a", CallerVerified: true}.Append(nil))
	f.Add(Header{Kind: KindRelay, Target: "y@c", Caller: "x@a", Hops: 2, Origin: "a"}.Append(nil))
	f.Add(Header{Kind: KindEPMD}.Append(nil))
	f.Add([]byte{1, 1, 0, 3, 9, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		rh, rerr := ReadHeader(bytes.NewReader(b))
		if (err == nil) != (rerr == nil) || (err == nil && rh != h) {
			t.Fatalf("ParseHeader %+v, %v; ReadHeader %+v, %v", h, err, rh, rerr)
		}
		if err != nil {
			return
		}
		if n > len(b) || n > preludeLen+MaxHeaderLen {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		back, m, err := ParseHeader(h.Append(nil))
		if err != nil || back != h || m != len(h.Append(nil)) {
			t.Fatalf("round trip %+v -> %+v, %v", h, back, err)
		}
	})
}

// FuzzReply: a parsed reply appends back to the bytes it came from.
func FuzzReply(f *testing.F) {
	f.Add(AppendReply(nil, StatusNotFound, "nobody"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := ParseReply(b)
		if err != nil {
			return
		}
		if back := AppendReply(nil, r.Status, r.Message); !bytes.Equal(back, b[:n]) {
			t.Fatalf("% x -> %+v -> % x", b[:n], r, back)
		}
	})
}
