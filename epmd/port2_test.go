package epmd

import (
	"bytes"
	"strings"
	"testing"
)

func TestParsePortPlease2(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  string
		want string
		ok   bool
	}{
		{"plain", "zfoo", "foo", true},
		{"trailing NUL stripped", "zfoo\x00", "foo", true},
		{"only one NUL stripped", "zfoo\x00\x00", "", false},
		{"empty", "z", "", false},
		{"empty with NUL", "z\x00", "", false},
		{"NUL inside", "zf\x00o", "", false},
		{"not UTF-8", "zf\xffo", "", false},
		{"truncated UTF-8 at end", "zf\xc3", "", false},
		{"254 code points", "z" + strings.Repeat("é", 254), strings.Repeat("é", 254), true},
		// OTP counts the NUL it writes after the name: 255 is too many.
		{"255 code points", "z" + strings.Repeat("a", 255), "", false},
		{"name with @ is just bytes", "za@b", "a@b", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePortPlease2([]byte(tc.req))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("parsePortPlease2(%q) = %q, %v; want %q ok=%v", tc.req, got, err, tc.want, tc.ok)
			}
			if err != nil && !ErrMalformed(err) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
		})
	}
}

func TestPort2Reply(t *testing.T) {
	p := &PortInfo{Port: 40000, NodeType: 'M', Protocol: 0, HighVsn: 6, LowVsn: 5, Name: "foo", Extra: []byte{0xab}}
	got := appendPort2Reply(nil, p)
	want := mustHex("77 00 9c40 4d 00 0006 0005 0003 666f6f 0001 ab")
	if !bytes.Equal(got, want) {
		t.Fatalf("reply = %x, want %x", got, want)
	}
	back, err := ParsePort2Reply(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Port != p.Port || back.Name != p.Name || back.LowVsn != 5 || !bytes.Equal(back.Extra, p.Extra) {
		t.Fatalf("round trip = %+v, want %+v", back, p)
	}
	if got := appendPort2Reply(nil, nil); !bytes.Equal(got, []byte{'w', 1}) {
		t.Fatalf("not found reply = %x", got)
	}
	if p, err := ParsePort2Reply([]byte{'w', 1}); p != nil || err != nil {
		t.Fatalf("ParsePort2Reply(not found) = %v, %v", p, err)
	}
	for i := 0; i < len(want); i++ {
		if i == 2 {
			continue // 'w' 0 alone is a truncated found reply; checked below
		}
		if _, err := ParsePort2Reply(want[:i]); err == nil && i != 0 {
			t.Fatalf("prefix %d parsed without error", i)
		}
	}
	if _, err := ParsePort2Reply(want[:2]); err == nil {
		t.Fatal("'w' 0 without a body parsed")
	}
}
