package abi

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func sampleFilterRequest() FilterRequest {
	return FilterRequest{
		Op: OpSpawnRequest, DOP: 29, From: "x@a.example", To: "y@b.example",
		Asker: Asker{Site: "site-a", Node: "x@a.example", Verified: VerifiedSite | VerifiedNode,
			Addr: netip.MustParseAddrPort("192.0.2.1:4000"), Labels: []Label{{Key: "via", Value: "link"}}},
		Module: "erpc", Function: "execute_call", Arity: 4,
		Call:  Call{Via: ViaErpc, Tag: "execute_call", Module: "os", Function: "cmd", Arity: 1},
		Flags: FlagTrace,
	}
}

func TestFilterRequestBytes(t *testing.T) {
	r := FilterRequest{Op: OpRegSend, Name: "rex", Call: Call{Via: ViaGenCall, Unknown: true}}
	want := []byte{Version, byte(TypeFilterRequest),
		tagFlOp, 1, 0, 0, 0, byte(OpRegSend),
		tagFlName, 3, 0, 0, 0, 'r', 'e', 'x',
		tagFlCall, 12, 0, 0, 0,
		tagCallVia, 1, 0, 0, 0, byte(ViaGenCall),
		tagCallUnknown, 1, 0, 0, 0, 1,
	}
	if got := r.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", got, want)
	}
}

func TestFilterRequestRoundTrip(t *testing.T) {
	r := sampleFilterRequest()
	got, err := ParseFilterRequest(r.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != r.Op || got.DOP != r.DOP || got.From != r.From || got.To != r.To || got.Module != r.Module ||
		got.Function != r.Function || got.Arity != r.Arity || got.Call != r.Call || got.Flags != r.Flags ||
		got.Asker.Site != "site-a" || got.Asker.Verified != r.Asker.Verified || got.Asker.Addr != r.Asker.Addr ||
		len(got.Asker.Labels) != 1 || got.MFA() != "erpc:execute_call/4" || got.Call.String() != "os:cmd/1" {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", got, r)
	}
	// A reader skips fields it does not know, at every level.
	b := appendStringField(r.Append(nil), 99, "later")
	if _, err := ParseFilterRequest(b); err != nil {
		t.Fatalf("an unknown field: %v", err)
	}
}

func TestParseFilterRequestTruncated(t *testing.T) {
	r := sampleFilterRequest()
	checkTruncated(t, r.Append(nil), func(b []byte) error { _, err := ParseFilterRequest(b); return err })
}

func TestVerdict(t *testing.T) {
	v := Verdict{Action: FilterClose, Reason: "no", Unfiltered: true, NoCache: true}
	got, err := ParseVerdict(v.Append(nil))
	if err != nil || got != v || got.Validate() != nil {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if d, err := ParseVerdict(appendHeader(nil, TypeVerdict)); err != nil || d.Action != FilterDeny {
		t.Fatalf("empty verdict = %+v, %v; want a denial", d, err)
	}
	bad := Verdict{Action: 3}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("action 3: %v", err)
	}
	if _, err := ParseVerdict(appendUint8Field(appendHeader(nil, TypeVerdict), tagVdNoCache, 2)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nocache=2: %v", err)
	}
	d := DenyMessage("not listed")
	checkTruncated(t, d.Append(nil), func(b []byte) error { _, err := ParseVerdict(b); return err })
	if AllowMessage().Action != FilterAllow || CloseConnection("x").Action != FilterClose {
		t.Fatal("constructors")
	}
}

func FuzzParseFilterRequest(f *testing.F) {
	r := sampleFilterRequest()
	f.Add(r.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFilterRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		r2, err := ParseFilterRequest(r.Append(nil))
		if err != nil || r2.Op != r.Op || r2.Name != r.Name || r2.Call != r.Call || r2.Module != r.Module {
			t.Fatalf("re-encoded: %+v, %v; want %+v", r2, err, r)
		}
	})
}

func FuzzParseVerdict(f *testing.F) {
	f.Add((&Verdict{Action: FilterAllow, Reason: "listed", NoCache: true}).Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVerdict(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		v2, err := ParseVerdict(v.Append(nil))
		if err != nil || v2 != v {
			t.Fatalf("re-encoded: %+v, %v; want %+v", v2, err, v)
		}
	})
}
