package abi

import (
	"encoding/binary"
	"errors"
	"testing"
)

// boundaries returns the offsets in a message at which its top-level field
// list may end: a prefix cut anywhere else is truncated.
func boundaries(b []byte) map[int]bool {
	at := map[int]bool{headerLen: true}
	for i := headerLen; i+fieldHeaderLen <= len(b); {
		i += fieldHeaderLen + int(binary.LittleEndian.Uint32(b[i+1:]))
		at[i] = true
	}
	return at
}

// checkTruncated parses every proper prefix of a valid message b and wants
// ErrMalformed for each one that does not end at a field boundary.
func checkTruncated(t *testing.T, b []byte, parse func([]byte) error) {
	t.Helper()
	ok := boundaries(b)
	for i := 0; i < len(b); i++ {
		err := parse(b[:i])
		switch {
		case ok[i] && err != nil:
			t.Errorf("prefix of %d bytes (a field boundary): %v", i, err)
		case !ok[i] && !errors.Is(err, ErrMalformed):
			t.Errorf("prefix of %d bytes: err = %v, want ErrMalformed", i, err)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{Version}},
		{"version 2", []byte{2, byte(TypeRoute)}},
		{"wrong type", []byte{Version, byte(TypeDecision)}},
	} {
		if _, err := ParseRoute(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	d := Decision{Allow: true, Reason: "ok"}
	b := d.Append(nil)
	b = appendStringField(b, 200, "from a newer host")
	b = appendBytesField(b, 0, nil)
	got, err := ParseDecision(b)
	if err != nil || got != d {
		t.Fatalf("ParseDecision with unknown fields = %+v, %v; want %+v", got, err, d)
	}
}

func TestPackResult(t *testing.T) {
	ptr, n, code := UnpackResult(PackResult(0x7fff_0000, 1234))
	if ptr != 0x7fff_0000 || n != 1234 || code != CodeOK {
		t.Errorf("UnpackResult(PackResult) = %#x, %d, %v", ptr, n, code)
	}
	for _, c := range []Code{CodeMalformed, CodeUnsupported, CodeFailed, -77} {
		if ptr, n, code := UnpackResult(PackCode(c)); code != c || ptr != 0 || n != 0 {
			t.Errorf("UnpackResult(PackCode(%v)) = %d, %d, %v", c, ptr, n, code)
		}
	}
	if _, _, code := UnpackResult(1 << 63); code != CodeFailed {
		t.Errorf("UnpackResult(huge negative) code = %v, want %v", code, CodeFailed)
	}
}
