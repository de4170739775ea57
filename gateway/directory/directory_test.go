package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/internal/freeport"
)

// These tests run the directory against a real etcd, embedded in the
// test process (the version go.mod pins; the site tests of e2e run a
// cluster of separate processes).

// freeURL returns a loopback URL whose port is free now, from below the
// ephemeral range (see internal/freeport): etcd binds it later.
func freeURL(t *testing.T) url.URL {
	t.Helper()
	port, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
}

// startEtcd runs a one-member etcd and returns its client URL and a
// client of it.
func startEtcd(t *testing.T) (string, *clientv3.Client) {
	t.Helper()
	ep, cli, _ := startEtcdRestartable(t)
	return ep, cli
}

// startEtcdRestartable is startEtcd, and a function that stops etcd and
// returns one that starts it again on its data.
func startEtcdRestartable(t *testing.T) (string, *clientv3.Client, func() (restart func())) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cu, pu := freeURL(t), freeURL(t)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	var e *embed.Etcd
	start := func() {
		var err error
		if e, err = embed.StartEtcd(cfg); err != nil {
			t.Fatal(err)
		}
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			t.Fatal("etcd did not start")
		}
	}
	start()
	t.Cleanup(func() { e.Close() })
	stop := func() func() {
		e.Close()
		return start
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{cu.String()}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cu.String(), cli, stop
}

func newDir(t *testing.T, endpoint string, self Member) *Directory {
	t.Helper()
	d, err := New(Config{Endpoints: []string{endpoint}, Prefix: "/distgate/", Site: "s", TTL: 3 * time.Second, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func agent(id string, addr string) Member {
	return Member{ID: id, Role: RoleAgent, Host: id + ".example", Addrs: []netip.Addr{netip.MustParseAddr(addr)}, Identity: "dg1:" + id}
}

// TestDirectoryClaims: a name is claimed once in the site; the edge's
// cache follows claims, releases and a clean stop (the lease revoked).
func TestDirectoryClaims(t *testing.T) {
	ep, _ := startEtcd(t)
	a1 := newDir(t, ep, agent("a1", "198.18.0.11"))
	a2 := newDir(t, ep, agent("a2", "198.18.0.12"))
	edge := newDir(t, ep, Member{ID: "e1", Role: RoleEdge, Identity: "dg1:site"})
	ts := []epmd.Transport{{Proto: "inet_tcp", Port: 4000, Family: epmd.FamilyInet}}
	waitFor(t, "both agents' leases", func() bool { return !a1.Status().Stale && !a2.Status().Stale })
	ctx := context.Background()
	if err := a1.Claim(ctx, NodeOf("x", "a1.example", 'M', 1, ts)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "x at the edge", func() bool { _, ok := edge.Lookup("x", "a1.example"); return ok })
	n, _ := edge.Lookup("x", "a1.example")
	if eps := n.Endpoints(nil); len(eps) != 1 || eps[0].Addr != netip.MustParseAddr("198.18.0.11") {
		t.Fatalf("x's endpoints at the edge: %+v", eps)
	}
	if err := a2.Claim(ctx, NodeOf("x", "a2.example", 'M', 1, ts)); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("a second claim of x: %v", err)
	}
	a1.Release("x", 1)
	waitFor(t, "x released", func() bool { _, ok := edge.Node("x"); return !ok })
	if err := a2.Claim(ctx, NodeOf("x", "a2.example", 'M', 2, ts)); err != nil {
		t.Fatalf("a claim of a released name: %v", err)
	}
	waitFor(t, "x on a2", func() bool { _, ok := edge.Lookup("x", "a2.example"); return ok })
	start := time.Now()
	a2.Close()
	waitFor(t, "a2's names gone with its lease", func() bool { _, ok := edge.Node("x"); return !ok })
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a clean stop's names left after %v", took)
	}
}

// TestDirectoryListingBounds: a listing of more records than a page, and
// records a hostile member planted (a huge value, a misnamed one), gives
// the valid records and counts the rest.
func TestDirectoryListingBounds(t *testing.T) {
	ep, cli := startEtcd(t)
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	m := agent("a1", "198.18.0.11")
	mb, _ := json.Marshal(m)
	if _, err := cli.Put(ctx, "/distgate/s/d/members/a1", string(mb), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	const n = listPage*2 + 10
	for i := range n {
		b, _ := json.Marshal(Node{Name: fmt.Sprintf("n%05d", i), Host: "a1.example", Member: "a1", Addr: m.Addrs[0]})
		if _, err := cli.Put(ctx, fmt.Sprintf("/distgate/s/d/nodes/n%05d", i), string(b), clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	huge, _ := json.Marshal(Node{Name: "huge", Host: "a1.example", Member: "a1", Addr: m.Addrs[0],
		Transports: []epmd.Transport{{Proto: strings.Repeat("x", maxRecord)}}})
	cli.Put(ctx, "/distgate/s/d/nodes/huge", string(huge), clientv3.WithLease(lease.ID))
	cli.Put(ctx, "/distgate/s/d/nodes/liar", `{"name":"other"}`, clientv3.WithLease(lease.ID))
	// A value larger than the directory takes in one answer (1 MiB here):
	// the page that holds it is read again a key at a time, and it alone
	// is passed over.
	if _, err := cli.Put(ctx, "/distgate/s/d/nodes/n00100x", strings.Repeat("x", 1<<20+1)); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Endpoints: []string{ep}, Prefix: "/distgate/", Site: "s", TTL: 3 * time.Second,
		Self: Member{ID: "e1", Role: RoleEdge}, maxRecv: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	waitFor(t, "the listing", func() bool { return d.Status().Nodes == n })
	if st := d.Status(); st.Rejected != 3 {
		t.Fatalf("rejected %d records; want the huge one, the misnamed one and the one too large to read", st.Rejected)
	}
	// The watch from the listing's revision sees what comes after.
	b, _ := json.Marshal(Node{Name: "late", Host: "a1.example", Member: "a1", Addr: m.Addrs[0]})
	cli.Put(ctx, "/distgate/s/d/nodes/late", string(b), clientv3.WithLease(lease.ID))
	waitFor(t, "a record after the listing", func() bool { _, ok := d.Node("late"); return ok })
}

// TestDirectoryModule: a shared module goes in chunks and comes back whole;
// chunks planted under its hash are overwritten by the next push, never
// believed; a state announcing more than a module may hold is refused
// before anything is read.
func TestDirectoryModule(t *testing.T) {
	ep, cli := startEtcd(t)
	d := newDir(t, ep, Member{ID: "e1", Role: RoleEdge})
	ctx := context.Background()
	module := make([]byte, 2*chunkSize+123)
	for i := range module {
		module[i] = byte(i * 7)
	}
	if err := d.PutPolicy(ctx, "p", module, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var ps PolicyState
	waitFor(t, "the policy's state", func() bool {
		var ok bool
		d.View(func(s *State) { ps, ok = s.Policy("p") })
		return ok
	})
	got, err := d.Module(ctx, ps)
	if err != nil || string(got) != string(module) {
		t.Fatalf("Module: %d bytes, %v", len(got), err)
	}
	sum := sha256.Sum256(module)
	key := d.blobKey(hex.EncodeToString(sum[:]), 1)
	cli.Put(ctx, key, strings.Repeat("z", chunkSize))
	if _, err := d.Module(ctx, ps); err == nil {
		t.Fatal("a planted chunk was believed")
	}
	if err := d.PutPolicy(ctx, "p", module, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Module(ctx, ps); err != nil || string(got) != string(module) {
		t.Fatalf("Module after the next push: %v", err)
	}
	big := ps
	big.Size, big.Chunks = 1<<30, (1<<30)/chunkSize
	if _, err := d.Module(ctx, big); err == nil {
		t.Fatal("a module of 1 GiB was fetched")
	}
}

// TestDirectoryHeldClaimPublished: a registration made while etcd is away
// is held, and published as soon as etcd answers again, under the same
// lease when it outlived the absence.
func TestDirectoryHeldClaimPublished(t *testing.T) {
	ep, cli, stop := startEtcdRestartable(t)
	d, err := New(Config{Endpoints: []string{ep}, Prefix: "/distgate/", Site: "s", TTL: 30 * time.Second, Self: agent("a1", "198.18.0.11")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	waitFor(t, "the lease", func() bool { return !d.Status().Stale })
	restart := stop()
	waitFor(t, "the directory stale", func() bool { return d.Status().Stale })
	ts := []epmd.Transport{{Proto: "inet_tcp", Port: 4000, Family: epmd.FamilyInet}}
	if err := d.Claim(context.Background(), NodeOf("z", "a1.example", 'M', 1, ts)); err != nil {
		t.Fatal(err)
	}
	if p := d.Status().Pending; len(p) != 1 || p[0] != "z" {
		t.Fatalf("pending while etcd is away: %v", p)
	}
	restart()
	waitFor(t, "z published", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, "/distgate/s/d/nodes/z")
		return err == nil && len(resp.Kvs) == 1
	})
	waitFor(t, "nothing pending", func() bool { return len(d.Status().Pending) == 0 })
}
