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
