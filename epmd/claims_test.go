package epmd

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClaims refuses the names in taken and records the rest.
type fakeClaims struct {
	mu       sync.Mutex
	taken    map[string]bool
	claimed  []string
	updated  []int // transports of each update
	released []string
}

func (f *fakeClaims) Claim(n NodeInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taken[n.Name] {
		return errors.New("held by another host")
	}
	f.claimed = append(f.claimed, n.Name)
	return nil
}

func (f *fakeClaims) Update(n NodeInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updated = append(f.updated, len(n.Transports))
}

func (f *fakeClaims) Release(name string, _ uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, name)
}

func (f *fakeClaims) snapshot() (claimed, released []string, updated []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.claimed...), append([]string(nil), f.released...), append([]int(nil), f.updated...)
}

// TestServerClaims: a registration another host of the site holds is
// refused as a duplicate is, and leaves nothing registered; the others are
// claimed, updated and released.
func TestServerClaims(t *testing.T) {
	claims := &fakeClaims{taken: map[string]bool{"dup": true}}
	_, c := startServer(t, Config{Claims: claims})
	ctx := context.Background()
	if _, err := c.Register(ctx, Alive2{Name: "dup", Port: 5000, NodeType: NodeTypeNormal, Protocol: 0, HighVsn: 6, LowVsn: 5}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("ALIVE2 of a name held elsewhere: %v, want ErrNameInUse", err)
	}
	var se *StatusError
	if _, err := c.RegisterX(ctx, Registration{Name: "dup", Transports: []Transport{{Proto: "inet_tcp", Port: 5001, Family: FamilyInet}}}); !errors.As(err, &se) || se.Status != StatusNameInUse {
		t.Fatalf("REGISTER_X of a name held elsewhere: %v, want name in use", err)
	}
	if p, err := c.PortPlease(ctx, "dup"); err != nil || p != nil {
		t.Fatalf("a refused claim left a registration: %+v, %v", p, err)
	}
	r, err := c.RegisterX(ctx, Registration{Name: "ok", Transports: []Transport{{Proto: "inet_tcp", Port: 5002, Family: FamilyInet}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddTransports(ctx, []Transport{{Proto: "inet_tls", Port: 5003, Family: FamilyInet}}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		claimed, released, updated := claims.snapshot()
		if len(released) == 1 {
			if len(claimed) != 1 || claimed[0] != "ok" || released[0] != "ok" || len(updated) != 1 || updated[0] != 2 {
				t.Fatalf("claimed %v, updated %v, released %v", claimed, updated, released)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no release after the registration closed: claimed %v released %v", claimed, released)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
