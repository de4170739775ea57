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
	f.Add((&AuthorizeRequest{Action: ActionReach, Node: "n@h", Asker: Asker{Identity: "i", Verified: VerifiedIdentity, Roots: []string{RootRemote}}}).Append(nil))
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

// TestAskerVerified: the VERIFIED and ROOT fields of revision 2 come after
// the others, so that an asker without them is encoded as before; a
// reader of revision 1 skips them and sees the rest unchanged.
func TestAskerVerified(t *testing.T) {
	old := AuthorizeRequest{Action: ActionReach, Node: "db@h", Asker: Asker{Node: "x@a", Identity: "ops"}}
	r := old
	r.Asker.Verified = VerifiedNode | VerifiedIdentity
	r.Asker.Roots = []string{RootPublic, RootRemote}
	b := r.Append(nil)
	asker := old.Asker.append(nil)
	asker = append(asker, tagAskVerified, 4, 0, 0, 0, 5, 0, 0, 0)
	asker = append(asker, tagAskRoot, 6, 0, 0, 0, 'p', 'u', 'b', 'l', 'i', 'c')
	asker = append(asker, tagAskRoot, 6, 0, 0, 0, 'r', 'e', 'm', 'o', 't', 'e')
	want := appendHeader(nil, TypeAuthorizeRequest)
	want = appendUint8Field(want, tagAzAction, byte(ActionReach))
	want = appendStringField(want, tagAzNode, "db@h")
	want = appendBytesField(want, tagAzAsker, asker)
	if !bytes.Equal(b, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", b, want)
	}
	back, err := ParseAuthorizeRequest(b)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("ParseAuthorizeRequest = %+v, %v; want %+v", back, err, r)
	}
	if !back.Asker.HasRoot(RootRemote) || !back.Asker.HasRoot(RootPublic) || back.Asker.HasRoot("other") {
		t.Fatalf("HasRoot of %+v", back.Asker)
	}
	// Roots without VerifiedIdentity verify nothing.
	unverified := Asker{Identity: "ops", Roots: []string{RootRemote}}
	if unverified.HasRoot(RootRemote) {
		t.Fatal("HasRoot without VerifiedIdentity")
	}
	// A revision-1 reader of the asker: every field but the new ones.
	f := fields{s: string(asker)}
	var rev1 []byte
	for tag, v, ok := f.next(); ok; tag, v, ok = f.next() {
		if tag != tagAskVerified && tag != tagAskRoot {
			rev1 = appendBytesField(rev1, tag, []byte(v))
		}
	}
	if seen, err := parseAsker(string(rev1)); err != nil || !reflect.DeepEqual(seen, old.Asker) {
		t.Fatalf("a revision-1 reader sees %+v, %v; want %+v", seen, err, old.Asker)
	}
	if _, err := parseAsker(string([]byte{tagAskVerified, 2, 0, 0, 0, 1, 0})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("VERIFIED of 2 bytes: %v, want ErrMalformed", err)
	}
}
