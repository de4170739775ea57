package epmd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// otpAlive2 is what an OTP 25 node named "foo" listening on port 40000
// sends: type 'M', protocol 0, versions 6..6, no extra.
var otpAlive2 = mustHex("78 9c40 4d 00 0006 0006 0003 666f6f 0000")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseAlive2(t *testing.T) {
	a, err := parseAlive2(otpAlive2)
	if err != nil {
		t.Fatal(err)
	}
	want := Alive2{Port: 40000, NodeType: 'M', Protocol: 0, HighVsn: 6, LowVsn: 6, Name: "foo", Extra: []byte{}}
	if a.Port != want.Port || a.NodeType != want.NodeType || a.HighVsn != 6 || a.LowVsn != 6 || a.Name != "foo" || len(a.Extra) != 0 {
		t.Fatalf("parseAlive2 = %+v, want %+v", a, want)
	}
	if got := a.Append(nil); !bytes.Equal(got, otpAlive2) {
		t.Fatalf("Append = %x, want %x", got, otpAlive2)
	}
}

func TestParseAlive2Cases(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  []byte
		ok   bool
	}{
		{"exactly 13 bytes closes", mustHex("78 9c40 4d 00 0006 0006 0000 0000"), false},
		{"name length beyond request", mustHex("78 9c40 4d 00 0006 0006 0009 666f6f 0000"), false},
		{"extra length beyond request", mustHex("78 9c40 4d 00 0006 0006 0003 666f6f 0005 01"), false},
		{"NUL in name", mustHex("78 9c40 4d 00 0006 0006 0003 66006f 0000"), false},
		{"trailing bytes tolerated", append(bytes.Clone(otpAlive2), 1, 2, 3), true},
		{"extra kept", mustHex("78 9c40 4d 00 0006 0006 0003 666f6f 0002 abcd"), true},
		// OTP checks the extra length against the payload only after the
		// name length: a 1-byte name with elen missing is caught there.
		{"no room for elen", mustHex("78 9c40 4d 00 0006 0006 0003 666f6f 00"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseAlive2(tc.req)
			if (err == nil) != tc.ok {
				t.Fatalf("parseAlive2(%x) err = %v, want ok=%v", tc.req, err, tc.ok)
			}
			if err != nil && !ErrMalformed(err) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
		})
	}
}

// TestParseAlive2Truncated parses every prefix of a valid request: all but
// the whole must fail as malformed, and none may panic.
func TestParseAlive2Truncated(t *testing.T) {
	full := mustHex("78 9c40 4d 00 0006 0006 0003 666f6f 0002 abcd")
	for i := 0; i < len(full); i++ {
		if _, err := parseAlive2(full[:i]); err == nil || !ErrMalformed(err) {
			t.Fatalf("prefix of %d bytes: err = %v, want malformed", i, err)
		}
	}
}

func TestAlive2Validate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  string
		extra int
		ok    bool
	}{
		{"plain", "foo", 0, true},
		{"255 code points", strings.Repeat("é", 255), 0, true},
		{"256 code points", strings.Repeat("a", 256), 0, false},
		{"1021 bytes", strings.Repeat("a", 1021), 0, false},
		{"not UTF-8", "a\xffb", 0, false},
		{"surrogate", "a\xed\xa0\x80", 0, false},
		{"overlong", "\xc0\xaf", 0, false},
		{"extra 1020", "foo", 1020, true},
		{"extra 1021", "foo", 1021, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Alive2{Name: tc.node, Extra: make([]byte, tc.extra)}.validate()
			if (err == nil) != tc.ok {
				t.Fatalf("validate err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v does not wrap ErrBadName", err)
			}
		})
	}
}

func TestAlive2Reply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		high    uint16
		ok      bool
		counter uint32
		want    string
	}{
		{"v6 ok", 6, true, 1795556903, "76 00 6b060627"},
		{"v6 error", 6, false, 1795556903, "76 01 00000063"},
		{"v5 ok mod 3", 5, true, 1795556905, "79 00 0002"},
		{"v5 ok mod 3 wraps", 5, true, 1795556906, "79 00 0003"},
		{"v5 error", 5, false, 1, "79 01 0063"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := appendAlive2Reply(nil, tc.high, tc.ok, tc.counter)
			if want := mustHex(tc.want); !bytes.Equal(got, want) {
				t.Fatalf("reply = %x, want %x", got, want)
			}
			rep, err := ParseAlive2Reply(got)
			if err != nil {
				t.Fatal(err)
			}
			if (rep.Result == 0) != tc.ok {
				t.Fatalf("parsed result %d, want ok=%v", rep.Result, tc.ok)
			}
		})
	}
}
