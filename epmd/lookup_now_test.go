package epmd

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// quickResolver answers the names that start with "q" at once, and the
// others through Resolve, and records which answered what.
type quickResolver struct {
	mu          sync.Mutex
	quick, slow []Query
}

func (r *quickResolver) ResolveQuick(q Query) (Answer, bool) {
	if !strings.HasPrefix(q.Name, "q") {
		return Answer{}, false
	}
	r.mu.Lock()
	r.quick = append(r.quick, q)
	r.mu.Unlock()
	return Answer{Status: StatusOK, Endpoints: []Endpoint{{Transport: Transport{Proto: "inet_tcp", Port: 7, Family: FamilyInet, HighVsn: 6, LowVsn: 6}, NodeType: NodeTypeNormal}}}, true
}

func (r *quickResolver) Resolve(_ context.Context, q Query) Answer {
	r.mu.Lock()
	r.slow = append(r.slow, q)
	r.mu.Unlock()
	return Answer{Status: StatusDenied, Message: "slow " + q.Name}
}

func (r *quickResolver) counts() (quick, slow int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.quick), len(r.slow)
}

// TestLookupAnsweredNow: a LOOKUP_X a QuickResolver can answer is answered
// by ResolveQuick with the query Resolve would get; one it declines, a
// request that arrives in pieces, and a malformed one go to the
// connection goroutine.
func TestLookupAnsweredNow(t *testing.T) {
	r := &quickResolver{}
	_, c := startServer(t, Config{Resolver: r})
	reg, err := c.RegisterX(context.Background(), Registration{Name: "qa", Transports: []Transport{{Proto: "inet_tcp", Port: 9, Family: FamilyInet, HighVsn: 6, LowVsn: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	eps, err := c.Lookup(context.Background(), LookupRequest{Node: "qa@localhost", Accept: []string{"inet_tcp"}, Asker: "me@h"})
	if err != nil || len(eps) != 1 || eps[0].Port != 7 || eps[0].Addr.String() != "127.0.0.1" {
		t.Fatalf("quick lookup = %+v, %v", eps, err)
	}
	if quick, slow := r.counts(); quick != 1 || slow != 0 {
		t.Fatalf("%d quick, %d slow answers, want 1, 0", quick, slow)
	}
	q := r.quick[0]
	if q.Name != "qa" || q.Host != "localhost" || !q.LocalHost || !q.Registered || len(q.Local) != 1 || q.Asker != "me@h" || !q.LocalPeer {
		t.Errorf("quick query = %+v", q)
	}

	_, err = c.Lookup(context.Background(), LookupRequest{Node: "sb@h"})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != StatusDenied || se.Message != "slow sb" {
		t.Fatalf("declined lookup: %v, want Resolve's denial", err)
	}

	// The frame in two pieces: the accepting goroutine sees only the first.
	frame := AppendFrame(nil, LookupRequest{Node: "qc@localhost"}.Append(nil))
	conn, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(frame[:3])
	time.Sleep(100 * time.Millisecond)
	conn.Write(frame[3:])
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rep, err := readExtReply(conn)
	if err != nil || rep.status != StatusDenied {
		t.Fatalf("a lookup in pieces: %+v, %v; want Resolve's denial", rep, err)
	}
	if quick, slow := r.counts(); quick != 1 || slow != 2 {
		t.Fatalf("%d quick, %d slow answers, want 1, 2", quick, slow)
	}

	// No version byte: the connection goroutine says so.
	reply, _ := exchange(t, c.Addr, AppendFrame(nil, []byte{cmdLookupX}))
	if len(reply) < 3 || Status(reply[2]) != StatusBadRequest {
		t.Errorf("malformed LOOKUP_X: reply % x, want a bad request", reply)
	}
}
