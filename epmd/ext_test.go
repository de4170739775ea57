package epmd

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestProtocolExamples checks the example bytes printed in PROTOCOL.md.
func TestProtocolExamples(t *testing.T) {
	// The examples rely on defaults, so they are written field by field.
	var b []byte
	b = append(b, cmdRegisterX, 1)
	b = appendStringField(b, tagRegName, "a")
	for _, tr := range []struct {
		proto string
		port  uint16
	}{{"inet_tcp", 5000}, {"inet_tls", 5001}} {
		var start int
		b, start = beginField(b, tagRegTransport)
		b = appendStringField(b, tagTrProto, tr.proto)
		b = appendUint16Field(b, tagTrPort, tr.port)
		b = endField(b, start)
	}
	want := mustHex("002c 5201 01000161 030010 010008696e65745f746370 020002 1388 030010 010008696e65745f746c73 020002 1389")
	if got := AppendFrame(nil, b); !bytes.Equal(got, want) {
		t.Fatalf("register example = %x\nwant              %x", got, want)
	}
	reg, err := parseRegister(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Transports) != 2 || reg.Transports[1].Port != 5001 || reg.Transports[1].Family != FamilyInet || reg.Transports[1].HighVsn != 6 {
		t.Fatalf("parsed example = %+v", reg)
	}
	if got := appendCreationReply(nil, respRegisterX, StatusOK, 0xCCCCCCCC, ""); !bytes.Equal(got, mustHex("72 01 00 00000007 010004 cccccccc")) {
		t.Fatalf("register reply example = %x", got)
	}
	lookup := AppendFrame(nil, LookupRequest{Node: "a@localhost", Accept: []string{"inet_tls"}}.Append(nil))
	if want := append(append(mustHex("001b 4c01 01000b"), "a@localhost"...), append(mustHex("020008"), "inet_tls"...)...); !bytes.Equal(lookup, want) {
		t.Fatalf("lookup example = %x\nwant            %x", lookup, want)
	}
}

func TestRegisterRoundTrip(t *testing.T) {
	reg := Registration{Name: "app", Host: "db1.example", NodeType: NodeTypeHidden, Transports: []Transport{
		{Proto: "inet_tcp", Port: 5000, Family: FamilyInet, HighVsn: 6, LowVsn: 5, Extra: []byte{1, 2}, Protocol: 0},
		{Proto: "inet6_tls", Port: 5001, Family: FamilyInet6, Addr: netip.MustParseAddr("::1"), HighVsn: 6, LowVsn: 6},
		{Proto: "uds", Path: "/run/app.sock", Family: FamilyLocal, HighVsn: 6, LowVsn: 6},
	}}
	got, err := parseRegister(reg.AppendRegister(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reg) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, reg)
	}
	ts, err := parseAddTransports(AppendAddTransports(nil, reg.Transports[:1]))
	if err != nil || !reflect.DeepEqual(ts, reg.Transports[:1]) {
		t.Fatalf("add transports round trip: %+v, %v", ts, err)
	}
}

func TestRegisterRejects(t *testing.T) {
	ok := Transport{Proto: "inet_tcp", Port: 1, Family: FamilyInet}
	for _, tc := range []struct {
		name string
		reg  Registration
		msg  string
	}{
		{"no name", Registration{Transports: []Transport{ok}}, "name"},
		{"name with host", Registration{Name: "a@b", Transports: []Transport{ok}}, "name"},
		{"no transports", Registration{Name: "a"}, "transports"},
		{"bad proto", Registration{Name: "a", Transports: []Transport{{Proto: "Inet TCP", Port: 1, Family: FamilyInet}}}, "protocol name"},
		{"no path", Registration{Name: "a", Transports: []Transport{{Proto: "uds", Family: FamilyLocal}}}, "socket path"},
		{"family mismatch", Registration{Name: "a", Transports: []Transport{{Proto: "x", Port: 1, Family: FamilyInet, Addr: netip.MustParseAddr("::1")}}}, "not of family"},
		{"long name", Registration{Name: strings.Repeat("a", 256), Transports: []Transport{ok}}, "code points"},
		{"too many", Registration{Name: "a", Transports: make([]Transport, MaxTransports+1)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRegister(tc.reg.AppendRegister(nil))
			if err == nil || !ErrMalformed(err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want malformed mentioning %q", err, tc.msg)
			}
		})
	}
	// A transport without a port is refused.
	var b []byte
	b = append(b, cmdRegisterX, 1)
	b = appendStringField(b, tagRegName, "a")
	var start int
	b, start = beginField(b, tagRegTransport)
	b = appendStringField(b, tagTrProto, "inet_tcp")
	b = endField(b, start)
	if _, err := parseRegister(b); err == nil || !strings.Contains(err.Error(), "no port") {
		t.Fatalf("portless transport: %v", err)
	}
}

// TestUnknownFieldsSkipped is the extension's compatibility rule: fields a
// reader does not know are skipped, wherever they are.
func TestUnknownFieldsSkipped(t *testing.T) {
	var b []byte
	b = append(b, cmdRegisterX, 2) // a newer version
	b = appendStringField(b, 200, "from the future")
	b = appendStringField(b, tagRegName, "a")
	var start int
	b, start = beginField(b, tagRegTransport)
	b = appendField(b, 99, []byte{1, 2, 3})
	b = appendStringField(b, tagTrProto, "quic")
	b = appendUint16Field(b, tagTrPort, 9)
	b = endField(b, start)
	reg, err := parseRegister(b)
	if err != nil || reg.Name != "a" || len(reg.Transports) != 1 || reg.Transports[0].Proto != "quic" {
		t.Fatalf("parseRegister = %+v, %v", reg, err)
	}
}

func TestExtensionTruncated(t *testing.T) {
	reg := Registration{Name: "app", Transports: []Transport{{Proto: "inet_tcp", Port: 5000, Family: FamilyInet}}}
	full := reg.AppendRegister(nil)
	for i := 2; i < len(full); i++ {
		if _, err := parseRegister(full[:i]); err == nil {
			t.Fatalf("prefix of %d bytes parsed", i)
		}
	}
	q := LookupRequest{Node: "a@b", Accept: []string{"inet_tls"}}.Append(nil)
	nodeEnd := 2 + 3 + len("a@b") // ACCEPT is optional: a request may end there
	for i := 2; i < len(q); i++ {
		if _, err := parseLookup(q[:i]); err == nil && i != nodeEnd {
			t.Fatalf("lookup prefix of %d bytes parsed", i)
		}
	}
}

func TestLookupParse(t *testing.T) {
	for _, tc := range []struct {
		node string
		ok   bool
	}{
		{"a@b", true}, {"a", true}, {"@b", false}, {"a@b@c", false}, {"", false}, {"a\x00@b", false},
		{strings.Repeat("a", 256) + "@b", false}, {"a@\xff", false},
	} {
		_, err := parseLookup(LookupRequest{Node: tc.node}.Append(nil))
		if (err == nil) != tc.ok {
			t.Errorf("parseLookup(%q) err = %v, want ok=%v", tc.node, err, tc.ok)
		}
	}
	q := LookupRequest{Node: "a@b", Accept: []string{"inet_tls", "inet_tcp"}, Asker: "me@here"}
	got, err := parseLookup(q.Append(nil))
	if err != nil || !reflect.DeepEqual(got, q) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestLookupReplyRoundTrip(t *testing.T) {
	eps := []Endpoint{
		{Transport: Transport{Proto: "inet_tls", Port: 5001, Family: FamilyInet, Addr: netip.MustParseAddr("127.0.0.1"), HighVsn: 6, LowVsn: 6}, NodeType: 'M'},
		{Transport: Transport{Proto: "uds", Path: "/s", Family: FamilyLocal, HighVsn: 6, LowVsn: 6, Extra: []byte("x")}, NodeType: 'H'},
	}
	b := appendLookupReply(nil, StatusOK, eps, "")
	if b[0] != respLookupX || b[1] != ExtVersion || Status(b[2]) != StatusOK {
		t.Fatalf("header %x", b[:3])
	}
	got, err := parseLookupReplyBody(b[extReplyHeaderLen:])
	if err != nil || !reflect.DeepEqual(got, eps) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n%v", got, eps, err)
	}
	b = appendLookupReply(nil, StatusNotFound, nil, "no node a")
	rep := extReply{code: b[0], status: Status(b[2]), body: b[extReplyHeaderLen:]}
	if rep.message() != "no node a" {
		t.Fatalf("message %q", rep.message())
	}
}

func TestNamesXRoundTrip(t *testing.T) {
	nodes := []NodeInfo{
		{Name: "b", NodeType: 'M', Creation: 7, Transports: []Transport{{Proto: "inet_tcp", Port: 1, Family: FamilyInet, HighVsn: 6, LowVsn: 6}}},
		{Name: "a", Host: "h", NodeType: 'H', Creation: 9, Transports: []Transport{{Proto: "quic", Port: 2, Family: FamilyInet6, HighVsn: 6, LowVsn: 6}}},
	}
	b := appendNamesXReply(nil, nodes)
	got, err := parseNamesXReplyBody(b[extReplyHeaderLen:])
	if err != nil || !reflect.DeepEqual(got, nodes) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n%v", got, nodes, err)
	}
}

func TestStatusError(t *testing.T) {
	err := error(&StatusError{Op: "lookup a@b", Status: StatusNotFound, Message: "no node a"})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusNotFound || err.Error() != "epmd: lookup a@b: not found: no node a" {
		t.Fatalf("StatusError = %v", err)
	}
	if Status(42).String() != "status 42" {
		t.Fatal(Status(42).String())
	}
}
