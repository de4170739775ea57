package abi

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func sampleLookup() LookupRequest {
	return LookupRequest{
		Name: "db", Host: "h1.example", Accept: []string{"inet_tls", "inet_tcp"},
		Asker: Asker{
			Node: "web@h2", Site: "eu-west", Identity: "spiffe://example/web",
			Addr:   netip.MustParseAddrPort("10.1.2.3:4369"),
			Labels: []Label{{"region", "eu"}, {"tier", "front"}},
		},
		LocalHost: true, Registered: true,
		Local: []Endpoint{
			{Proto: "inet_tcp", Port: 40001, Family: FamilyInet, HighVsn: 6, LowVsn: 5, NodeType: 'M'},
			{Proto: "uds", Path: "/run/db.sock", Family: FamilyLocal, Extra: []byte{1, 2}},
		},
	}
}

func TestLookupRequestBytes(t *testing.T) {
	r := LookupRequest{
		Name: "a", Host: "h", Accept: []string{"quic"}, LocalHost: true, Classic: true,
		Local: []Endpoint{{Proto: "x", Port: 0x0102}},
		Asker: Asker{Site: "s"},
	}
	want := []byte{
		Version, byte(TypeLookupRequest),
		tagLkName, 1, 0, 0, 0, 'a',
		tagLkHost, 1, 0, 0, 0, 'h',
		tagLkAccept, 4, 0, 0, 0, 'q', 'u', 'i', 'c',
		tagLkFlags, 4, 0, 0, 0, FlagLocalHost | FlagClassic, 0, 0, 0,
		tagLkLocal, 13, 0, 0, 0,
		/**/ tagEpProto, 1, 0, 0, 0, 'x',
		/**/ tagEpPort, 2, 0, 0, 0, 0x02, 0x01,
		tagLkAsker, 6, 0, 0, 0,
		/**/ tagAskSite, 1, 0, 0, 0, 's',
	}
	got := r.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Append =\n% x\nwant\n% x", got, want)
	}
	back, err := ParseLookupRequest(got)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("ParseLookupRequest = %+v, %v; want %+v", back, err, r)
	}
	if r.Node() != "a@h" {
		t.Errorf("Node() = %q", r.Node())
	}
}

func TestLookupRequestRoundTrip(t *testing.T) {
	r := sampleLookup()
	got, err := ParseLookupRequest(r.Append([]byte("prefix")[6:]))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, r)
	}
	if v, ok := got.Asker.Label("tier"); !ok || v != "front" {
		t.Errorf("Label(tier) = %q, %v", v, ok)
	}
}

func TestParseLookupRequestTruncated(t *testing.T) {
	r := sampleLookup()
	checkTruncated(t, r.Append(nil), func(b []byte) error { _, err := ParseLookupRequest(b); return err })
}

func TestParseLookupRequestBadFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"flags of 2 bytes", appendBytesField(appendHeader(nil, TypeLookupRequest), tagLkFlags, []byte{1, 0})},
		{"endpoint address of 3 bytes", appendBytesField(appendHeader(nil, TypeLookupRequest), tagLkLocal,
			appendBytesField(nil, tagEpAddr, []byte{1, 2, 3}))},
		{"asker address of 5 bytes", appendBytesField(appendHeader(nil, TypeLookupRequest), tagLkAsker,
			appendBytesField(nil, tagAskAddr, []byte{1, 2, 3, 4, 5}))},
		{"nested field truncated", appendBytesField(appendHeader(nil, TypeLookupRequest), tagLkAsker, []byte{tagAskNode, 9, 0, 0, 0})},
	} {
		if _, err := ParseLookupRequest(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
		}
	}
}

func FuzzParseLookupRequest(f *testing.F) {
	r := sampleLookup()
	f.Add(r.Append(nil))
	f.Add((&LookupRequest{Name: "x"}).Append(nil))
	f.Add([]byte{Version, byte(TypeLookupRequest), tagLkAccept, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseLookupRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		r2, err := ParseLookupRequest(r.Append(nil))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded: %+v, %v; want %+v", r2, err, r)
		}
	})
}
