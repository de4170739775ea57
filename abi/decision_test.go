package abi

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecisionBytes(t *testing.T) {
	d := Refuse("no")
	want := []byte{Version, byte(TypeDecision), tagDcAllow, 1, 0, 0, 0, 0, tagDcReason, 2, 0, 0, 0, 'n', 'o'}
	if got := d.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("Append = % x, want % x", got, want)
	}
	a := Allow()
	if got, err := ParseDecision(a.Append(nil)); err != nil || !got.Allow {
		t.Fatalf("ParseDecision(Allow) = %+v, %v", got, err)
	}
}

func TestParseDecisionBad(t *testing.T) {
	b := appendUint8Field(appendHeader(nil, TypeDecision), tagDcAllow, 2)
	if _, err := ParseDecision(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("allow=2: err = %v, want ErrMalformed", err)
	}
	if d, err := ParseDecision(appendHeader(nil, TypeDecision)); err != nil || d.Allow {
		t.Errorf("empty decision = %+v, %v; want a refusal", d, err)
	}
}

func TestParseDecisionTruncated(t *testing.T) {
	d := Refuse("not on the list")
	checkTruncated(t, d.Append(nil), func(b []byte) error { _, err := ParseDecision(b); return err })
}

func FuzzParseDecision(f *testing.F) {
	f.Add((&Decision{Allow: true, Reason: "listed"}).Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDecision(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		d2, err := ParseDecision(d.Append(nil))
		if err != nil || d2 != d {
			t.Fatalf("re-encoded: %+v, %v; want %+v", d2, err, d)
		}
	})
}
