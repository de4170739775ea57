package linkwire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestPingBytes(t *testing.T) {
	for _, tc := range []struct {
		p    Ping
		want []byte
	}{
		{Ping{Seq: 1}, []byte{'p', 0, 0, 0, 0, 0, 0, 0, 1}},
		{Ping{Pong: true, Seq: 0x0102030405060708}, []byte{'P', 1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		b := tc.p.Append(nil)
		if !bytes.Equal(b, tc.want) {
			t.Fatalf("%+v: % x, want % x", tc.p, b, tc.want)
		}
		if got, err := ParsePing(append(b, 'x')); err != nil || got != tc.p {
			t.Fatalf("ParsePing(% x) = %+v, %v", b, got, err)
		}
		if got, err := ReadPing(bytes.NewReader(b)); err != nil || got != tc.p {
			t.Fatalf("ReadPing(% x) = %+v, %v", b, got, err)
		}
	}
	if _, err := ParsePing([]byte{'x', 0, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown type: %v", err)
	}
}

// TestPingTruncated: every proper prefix is incomplete.
func TestPingTruncated(t *testing.T) {
	b := Ping{Seq: 42}.Append(nil)
	for i := range b {
		if _, err := ParsePing(b[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParsePing of %d bytes: %v", i, err)
		}
		if _, err := ReadPing(bytes.NewReader(b[:i])); err == nil {
			t.Errorf("ReadPing of %d bytes succeeded", i)
		}
	}
}

func FuzzPing(f *testing.F) {
	f.Add([]byte("p\x00\x00\x00\x00\x00\x00\x00\x07"))
	f.Add([]byte("P\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("q"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePing(b)
		if err != nil {
			return
		}
		if out := p.Append(nil); !bytes.Equal(out, b[:PingLen]) {
			t.Fatalf("round trip of % x gave % x", b[:PingLen], out)
		}
	})
}
