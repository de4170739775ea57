package abi

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestAuthorizeRequestBytes(t *testing.T) {
	r := AuthorizeRequest{Action: ActionReach, Node: "n@h", Asker: Asker{Addr: netip.MustParseAddrPort("127.0.0.1:258")}}
	want := []byte{
		Version, byte(TypeAuthorizeRequest),
		tagAzAction, 1, 0, 0, 0, byte(ActionReach),
		tagAzNode, 3, 0, 0, 0, 'n', '@', 'h',
		tagAzAsker, 11, 0, 0, 0,
		/**/ tagAskAddr, 6, 0, 0, 0, 127, 0, 0, 1, 0x02, 0x01,
	}
	got := r.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", got, want)
	}
	back, err := ParseAuthorizeRequest(got)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("ParseAuthorizeRequest = %+v, %v; want %+v", back, err, r)
	}
}

func TestParseAuthorizeRequestTruncated(t *testing.T) {
	r := AuthorizeRequest{Action: ActionList, Node: "db", Asker: Asker{Identity: "CN=x", Labels: []Label{{"a", "b"}}}}
	checkTruncated(t, r.Append(nil), func(b []byte) error { _, err := ParseAuthorizeRequest(b); return err })
}

func FuzzParseAuthorizeRequest(f *testing.F) {
	f.Add((&AuthorizeRequest{Action: ActionRegister, Node: "x", Asker: Asker{Node: "y@z", Addr: netip.MustParseAddrPort("[::1]:1")}}).Append(nil))
	f.Add([]byte{Version, byte(TypeAuthorizeRequest), tagAzAsker, 5, 0, 0, 0, tagAskLabel, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseAuthorizeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		r2, err := ParseAuthorizeRequest(r.Append(nil))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded: %+v, %v; want %+v", r2, err, r)
		}
	})
}

// TestAuthorizeRequestLookup: the LOOKUP field of revision 1 is one field
// after the others, so that a request without it is encoded as before,
// and a reader of revision 0, which skips the tag, reads a lookup as the
// listing of one name it always saw.
func TestAuthorizeRequestLookup(t *testing.T) {
	old := AuthorizeRequest{Action: ActionList, Node: "db@h", Asker: Asker{Identity: "ops"}}
	lookup := old
	lookup.Lookup = true
	b := lookup.Append(nil)
	want := append(old.Append(nil), tagAzLookup, 1, 0, 0, 0, 1)
	if !bytes.Equal(b, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", b, want)
	}
	back, err := ParseAuthorizeRequest(b)
	if err != nil || !reflect.DeepEqual(back, lookup) {
		t.Fatalf("ParseAuthorizeRequest = %+v, %v; want %+v", back, err, lookup)
	}
	// A revision-0 reader: every field but LOOKUP.
	f := fields{s: string(b[headerLen:])}
	var rev0 []byte
	rev0 = appendHeader(rev0, TypeAuthorizeRequest)
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag != tagAzLookup {
			rev0 = appendBytesField(rev0, tag, []byte(v))
		}
	}
	if seen, err := ParseAuthorizeRequest(rev0); err != nil || !reflect.DeepEqual(seen, old) {
		t.Fatalf("a revision-0 reader sees %+v, %v; want %+v", seen, err, old)
	}
	if _, err := ParseAuthorizeRequest(append(old.Append(nil), tagAzLookup, 1, 0, 0, 0, 2)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("LOOKUP 2: %v, want ErrMalformed", err)
	}
}
