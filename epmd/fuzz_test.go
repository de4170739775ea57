package epmd

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

// seedRequests are valid and borderline payloads of every command; `go
// test` runs them as the seed corpus, `make fuzz` explores from them.
func seedRequests() [][]byte {
	reg := Registration{Name: "app", Host: "h", Transports: []Transport{
		{Proto: "inet_tcp", Port: 5000, Family: FamilyInet, HighVsn: 6, LowVsn: 6},
		{Proto: "inet6_tls", Port: 5001, Family: FamilyInet6, Addr: netip.IPv6Loopback(), HighVsn: 6, LowVsn: 6, Extra: []byte{9}},
		{Proto: "uds", Path: "/s", Family: FamilyLocal, HighVsn: 6, LowVsn: 6},
	}}
	return [][]byte{
		otpAlive2,
		Alive2{Port: 1, NodeType: 'H', HighVsn: 5, LowVsn: 5, Name: "é", Extra: []byte{1}}.Append(nil),
		[]byte("zfoo"), []byte("zfoo\x00"), []byte("z"), []byte("n"), []byte("d"), []byte("k"), []byte("sfoo"),
		reg.AppendRegister(nil),
		AppendAddTransports(nil, reg.Transports),
		LookupRequest{Node: "app@h", Accept: []string{"inet_tls", "inet_tcp"}, Asker: "x@y"}.Append(nil),
		AppendNamesX(nil),
		{cmdRegisterX, 1, 3, 0, 5, 1, 0, 1},
	}
}

// FuzzRequest feeds arbitrary payloads to every request parser: none may
// panic, and whatever parses must survive an encode/parse round trip.
func FuzzRequest(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// An empty name parses only with trailing bytes (OTP registers it
		// all the same), so it has no round trip.
		if a, err := parseAlive2(b); err == nil && a.Name != "" {
			back, err := parseAlive2(a.Append(nil))
			if err != nil || back.Name != a.Name || back.Port != a.Port || !bytes.Equal(back.Extra, a.Extra) {
				t.Fatalf("alive2 round trip: %+v -> %+v, %v", a, back, err)
			}
			_ = a.validate()
		}
		if name, err := parsePortPlease2(b); err == nil {
			back, err := parsePortPlease2(AppendPortPlease2(nil, name))
			if err != nil || back != name {
				t.Fatalf("port_please2 round trip: %q -> %q, %v", name, back, err)
			}
		}
		if len(b) >= 2 {
			if reg, err := parseRegister(b); err == nil {
				back, err := parseRegister(reg.AppendRegister(nil))
				if err != nil || !reflect.DeepEqual(back, reg) {
					t.Fatalf("register round trip: %+v -> %+v, %v", reg, back, err)
				}
			}
			if ts, err := parseAddTransports(b); err == nil {
				back, err := parseAddTransports(AppendAddTransports(nil, ts))
				if err != nil || !reflect.DeepEqual(back, ts) {
					t.Fatalf("add transports round trip: %+v -> %+v, %v", ts, back, err)
				}
			}
			if q, err := parseLookup(b); err == nil {
				back, err := parseLookup(q.Append(nil))
				if err != nil || !reflect.DeepEqual(back, q) {
					t.Fatalf("lookup round trip: %+v -> %+v, %v", q, back, err)
				}
			}
		}
	})
}

// FuzzReply feeds arbitrary bytes to every reply parser the client uses.
func FuzzReply(f *testing.F) {
	f.Add([]byte{'w', 1})
	f.Add(appendPort2Reply(nil, &PortInfo{Port: 1, Name: "a", Extra: []byte{2}}))
	f.Add(appendAlive2Reply(nil, 6, true, 77))
	f.Add(append(appendPortHeader(nil, 4369), "name a at port 1\n"...))
	f.Add(appendLookupReply(nil, StatusOK, []Endpoint{{Transport: Transport{Proto: "inet_tcp", Port: 1, Family: FamilyInet}}}, "")[extReplyHeaderLen:])
	f.Add(appendNamesXReply(nil, []NodeInfo{{Name: "a", Transports: []Transport{{Proto: "quic", Port: 1, Family: FamilyInet}}}})[extReplyHeaderLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		ParsePort2Reply(b)
		ParseAlive2Reply(b)
		ParseNames(b)
		if eps, err := parseLookupReplyBody(b); err == nil {
			back, err := parseLookupReplyBody(appendLookupReply(nil, StatusOK, eps, "")[extReplyHeaderLen:])
			if err != nil || !reflect.DeepEqual(back, eps) {
				t.Fatalf("lookup reply round trip: %+v -> %+v, %v", eps, back, err)
			}
		}
		if nodes, err := parseNamesXReplyBody(b); err == nil {
			back, err := parseNamesXReplyBody(appendNamesXReply(nil, nodes)[extReplyHeaderLen:])
			if err != nil || !reflect.DeepEqual(back, nodes) {
				t.Fatalf("names reply round trip: %+v -> %+v, %v", nodes, back, err)
			}
		}
	})
}
