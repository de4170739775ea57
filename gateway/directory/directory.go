package directory

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distgate/distgate/epmd"
)

// Config is what a Directory uses.
type Config struct {
	// Endpoints are etcd's client URLs; TLS, when set, is the client's
	// TLS configuration (its certificate and the CA of etcd's servers).
	Endpoints []string
	TLS       *tls.Config
	// Prefix is the key prefix of every distgate site in etcd ("/distgate/").
	Prefix string
	// Site is this gateway's site: its directory is under Prefix + Site + "/".
	Site string
	// TTL is the lease of this gateway's records: they vanish this long
	// after it stops renewing them.
	TTL time.Duration
	// Self is this gateway's record.
	Self Member
	// OnPolicies is told (without blocking it) when the shared policies
	// may have changed: the caller reads Policies and reconciles.
	OnPolicies func()
	Logger     *slog.Logger

	maxRecv int // maxRecvBytes when 0; tests set less
}

// Timings of the directory's conversation with etcd.
const (
	requestTimeout = 2 * time.Second        // one request, while etcd answers
	probeEvery     = 500 * time.Millisecond // a read that tells whether etcd answers
	staleAfter     = 1500 * time.Millisecond
	retryMin       = 100 * time.Millisecond
	retryMax       = 2 * time.Second
)

// ErrNameInUse is returned by Claim when another host of the site holds
// the name.
var ErrNameInUse = errors.New("name registered on another host of the site")

// Directory is the site directory of one gateway: a cache of the site's
// records in etcd, kept current by one watch, and this gateway's own
// records (its member record and, for an agent, its host's
// registrations), held by one lease. Lookups read the cache and never
// wait for etcd. While etcd does not answer, the cache keeps its last
// state, registrations are held and published on etcd's return, and
// Status says the directory is stale.
type Directory struct {
	cfg  Config
	log  *slog.Logger
	cli  *clientv3.Client
	base string // Prefix + Site + "/"

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the publisher

	mu          sync.RWMutex // guards the following
	state       *State
	listed      bool // the cache holds a listing
	lease       clientv3.LeaseID
	lastContact time.Time
	staleSince  time.Time
	rev         int64
	claims      map[string]*claim
	release     map[string]bool // names to delete from etcd
	load        int             // published Load
}

// claim is a registration of this agent's host.
type claim struct {
	node      Node
	published bool   // etcd has it under the current lease
	conflict  string // another member's, found on publication
}

// New connects to etcd (in the background: it returns at once, with a
// stale directory, while etcd does not answer) and starts keeping the
// cache and this gateway's records. Close stops it.
func New(cfg Config) (*Directory, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Site == "" || len(cfg.Endpoints) == 0 || cfg.TTL <= 0 {
		return nil, errors.New("directory: a site, etcd endpoints and a lease TTL are needed")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints, TLS: cfg.TLS, DialTimeout: requestTimeout, MaxCallRecvMsgSize: cmp.Or(cfg.maxRecv, maxRecvBytes),
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
		Logger: zap.NewNop(),
		// gRPC's own reconnection backoff grows to two minutes: etcd
		// back after a long absence would wait for it.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: retryMin, Multiplier: 1.6, Jitter: 0.2, MaxDelay: retryMax},
			MinConnectTimeout: requestTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("directory: etcd client: %w", err)
	}
	d := &Directory{
		cfg: cfg, log: cfg.Logger, cli: cli, base: cfg.Prefix + cfg.Site + "/",
		kick: make(chan struct{}, 1), state: NewState(),
		claims: map[string]*claim{}, release: map[string]bool{}, staleSince: time.Now(),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(3)
	go d.session()
	go d.watch()
	go d.probe()
	return d, nil
}

// Client is the etcd client, for the certificate storage.
func (d *Directory) Client() *clientv3.Client { return d.cli }

// Base is the key prefix of the site.
func (d *Directory) Base() string { return d.base }

// Self returns this gateway's member ID.
func (d *Directory) Self() string { return d.cfg.Self.ID }

// Close revokes the lease, so that this gateway's records leave the
// directory at once, stops everything and closes the client.
func (d *Directory) Close() {
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	lease := d.lease
	d.lease = 0
	d.mu.Unlock()
	if lease != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		if _, err := d.cli.Revoke(ctx, lease); err != nil {
			d.log.Warn("directory: lease not revoked: this gateway's records leave with its TTL", "err", err)
		}
		cancel()
	}
	d.cli.Close()
}

// contact notes that etcd answered.
func (d *Directory) contact() {
	d.mu.Lock()
	d.contactLocked()
	d.mu.Unlock()
}

func (d *Directory) contactLocked() {
	if !d.staleSince.IsZero() && d.listed {
		d.log.Info("directory: etcd answers again", "stale_for", time.Since(d.staleSince).Round(time.Millisecond))
		d.staleSince = time.Time{}
		d.poke() // what was held meanwhile is published now
	}
	d.lastContact = time.Now()
}

// probe reads a key every probeEvery: how the directory knows that etcd
// answers, and when it stopped.
func (d *Directory) probe() {
	defer d.wg.Done()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(d.ctx, probeEvery)
		_, err := d.cli.Get(ctx, d.base+membersPrefix+d.cfg.Self.ID, clientv3.WithCountOnly())
		cancel()
		if err == nil {
			d.contact()
		} else {
			d.mu.Lock()
			if d.staleSince.IsZero() && time.Since(d.lastContact) > staleAfter {
				d.staleSince = d.lastContact
				d.log.Warn("directory: etcd does not answer: serving the last known state", "err", err)
			}
			d.mu.Unlock()
		}
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sleep waits for d, or the end; false at the end.
func (d *Directory) sleep(wait time.Duration) bool {
	select {
	case <-d.ctx.Done():
		return false
	case <-time.After(wait):
		return true
	}
}

func backoff(b time.Duration) time.Duration { return min(max(2*b, retryMin), retryMax) }

// watch keeps the cache: a listing, then one watch from its revision; a
// watch that ends (etcd lost its leader, the revision was compacted, an
// answer over maxRecvBytes) starts over with a new listing, at once after
// a watch that lived, after a growing pause after one that did not.
func (d *Directory) watch() {
	defer d.wg.Done()
	var wait time.Duration
	for d.ctx.Err() == nil {
		rev, err := d.list()
		if err != nil {
			if d.ctx.Err() == nil {
				d.log.Debug("directory: listing", "err", err)
			}
			wait = backoff(wait)
			if !d.sleep(wait) {
				return
			}
			continue
		}
		started := time.Now()
		d.follow(rev)
		if time.Since(started) > retryMax {
			wait = 0
			continue
		}
		wait = backoff(wait)
		if !d.sleep(wait) {
			return
		}
	}
}

// list replaces the cache with a listing and returns its revision. It
// reads each kind of record (members, nodes, policies) listPage keys a
// request, at most the bound of its kind, all at the revision of the
// first request, into a new State: what it holds and how long it takes
// are bounded as the cache is, whatever etcd holds.
func (d *Directory) list() (int64, error) {
	st := NewState()
	var rev int64
	for _, kind := range []struct {
		prefix string
		max    int
	}{{membersPrefix, maxMembers}, {nodesPrefix, maxNodes}, {policiesPrefix, maxPolicies}} {
		key, end := d.base+kind.prefix, clientv3.GetPrefixRangeEnd(d.base+kind.prefix)
		page := listPage
		for read := 0; read < kind.max; {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(min(page, kind.max-read)))}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
			resp, err := d.cli.Get(ctx, key, opts...)
			cancel()
			if status.Code(err) == codes.ResourceExhausted {
				// Huge values (planted: no record is this large): the
				// same keys in smaller pages, down to one at a time, and
				// a key too large alone is passed over.
				if page > 1 {
					page = max(page/10, 1)
					continue
				}
				if key, err = d.skip(key, end, rev); err != nil {
					return 0, err
				}
				st.Rejected++
				read++
				page = listPage
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("directory: list: %w", err)
			}
			if rev == 0 {
				rev = resp.Header.Revision
			}
			for _, kv := range resp.Kvs {
				st.Apply(Event{Key: string(kv.Key[len(d.base):]), Value: kv.Value, Lease: kv.Lease})
			}
			read += len(resp.Kvs)
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			if read >= kind.max {
				st.Rejected += int(resp.Count) - len(resp.Kvs) // the rest of the range, beyond the bound
				break
			}
			key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00" // the next key
		}
	}
	d.mu.Lock()
	changed := d.state.Replace(st)
	d.listed = true
	d.rev = rev
	d.contactLocked()
	d.mu.Unlock()
	if len(changed) > 0 {
		d.policiesChanged()
	}
	return rev, nil
}

// skip returns the key after the first key of [key, end) at revision rev:
// a listing passes over a value too large to read.
func (d *Directory) skip(key, end string, rev int64) (string, error) {
	ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
	defer cancel()
	resp, err := d.cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(1), clientv3.WithKeysOnly(), clientv3.WithRev(rev))
	if err != nil {
		return "", fmt.Errorf("directory: list: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return end, nil
	}
	d.log.Warn("directory: a record too large to read is passed over", "key", string(resp.Kvs[0].Key))
	return string(resp.Kvs[0].Key) + "\x00", nil
}

// follow applies the watch's events from rev until it ends.
func (d *Directory) follow(rev int64) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(d.ctx))
	defer cancel()
	wc := d.cli.Watch(ctx, d.base+dirPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for resp := range wc {
		if err := resp.Err(); err != nil {
			if d.ctx.Err() == nil {
				d.log.Info("directory: watch ended; listing again", "err", err)
			}
			return
		}
		policies := false
		d.mu.Lock()
		for _, ev := range resp.Events {
			_, p := d.state.Apply(Event{
				Delete: ev.Type == clientv3.EventTypeDelete, Key: string(ev.Kv.Key[len(d.base):]),
				Value: ev.Kv.Value, Lease: ev.Kv.Lease,
			})
			policies = policies || p
		}
		d.rev = resp.Header.Revision
		d.contactLocked()
		d.mu.Unlock()
		if policies {
			d.policiesChanged()
		}
	}
}

func (d *Directory) policiesChanged() {
	if d.cfg.OnPolicies != nil {
		d.cfg.OnPolicies()
	}
}

// session holds this gateway's lease and records: it grants a lease,
// publishes the member record and the claims under it, keeps it alive,
// publishes what changes, and starts over with a new lease when the lease
// is lost (etcd away for longer than its TTL).
func (d *Directory) session() {
	defer d.wg.Done()
	var wait time.Duration
	for d.ctx.Err() == nil {
		if err := d.hold(); err != nil && d.ctx.Err() == nil {
			d.log.Debug("directory: session", "err", err)
			wait = backoff(wait)
			if !d.sleep(wait) {
				return
			}
			continue
		}
		wait = 0
	}
}

// hold runs one lease: from its grant to its loss.
func (d *Directory) hold() error {
	ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
	g, err := d.cli.Grant(ctx, int64(max(d.cfg.TTL/time.Second, 1)))
	cancel()
	if err != nil {
		return fmt.Errorf("directory: lease: %w", err)
	}
	kctx, kcancel := context.WithCancel(d.ctx)
	defer kcancel()
	ka, err := d.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		return fmt.Errorf("directory: keepalive: %w", err)
	}
	d.mu.Lock()
	old := d.lease
	d.lease = g.ID
	for _, c := range d.claims {
		c.published = false
	}
	d.mu.Unlock()
	if err := d.putSelf(g.ID); err != nil {
		d.mu.Lock()
		d.lease = 0
		d.mu.Unlock()
		d.revoke(g.ID)
		return err
	}
	if old != 0 {
		d.revoke(old) // records of a lease etcd may still hold
	}
	d.log.Info("directory: member published", "member", d.cfg.Self.ID, "role", d.cfg.Self.Role, "lease", fmt.Sprintf("%x", g.ID))
	d.publish()
	// What failed to publish is tried again every retryMax, whatever else
	// happens (keep-alive answers come every third of the TTL).
	retry := time.NewTicker(retryMax)
	defer retry.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return nil
		case _, ok := <-ka:
			if !ok {
				d.log.Warn("directory: lease lost; publishing again under a new one")
				return errors.New("lease lost")
			}
			d.contact()
		case <-d.kick:
			d.publish()
		case <-retry.C:
			d.publish()
		}
	}
}

func (d *Directory) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
	defer cancel()
	d.cli.Revoke(ctx, id)
}

// putSelf publishes the member record under lease.
func (d *Directory) putSelf(lease clientv3.LeaseID) error {
	d.mu.RLock()
	self := d.cfg.Self
	self.Load = d.load
	d.mu.RUnlock()
	b, err := json.Marshal(self)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
	defer cancel()
	if _, err := d.cli.Put(ctx, d.base+membersPrefix+self.ID, string(b), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("directory: member record: %w", err)
	}
	return nil
}

// SetLoad publishes an edge's load when it changed.
func (d *Directory) SetLoad(n int) {
	d.mu.Lock()
	changed := d.load != n
	d.load = n
	lease := d.lease
	d.mu.Unlock()
	if changed && lease != 0 {
		d.putSelf(lease) // best effort: the next change or lease publishes it
	}
}

// publish writes the pending claims and deletions, each once; what fails
// stays pending for the next kick, retry or lease.
func (d *Directory) publish() {
	d.mu.Lock()
	lease := d.lease
	var todo []Node
	for _, c := range d.claims {
		if !c.published && c.conflict == "" {
			todo = append(todo, c.node)
		}
	}
	gone := make([]string, 0, len(d.release))
	for name := range d.release {
		gone = append(gone, name)
	}
	d.mu.Unlock()
	if lease == 0 {
		return
	}
	for _, name := range gone {
		ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
		key := d.base + nodesPrefix + name
		// Only this agent's record: under its lease, naming it.
		_, err := d.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", lease)).Then(clientv3.OpDelete(key)).Commit()
		cancel()
		if err == nil {
			d.mu.Lock()
			delete(d.release, name)
			d.mu.Unlock()
		}
	}
	for _, n := range todo {
		holder, err := d.put(lease, n)
		d.mu.Lock()
		c := d.claims[n.Name]
		switch {
		case c == nil || c.node.Creation != n.Creation:
			// released or registered again meanwhile
		case err != nil:
			d.log.Debug("directory: publication postponed", "node", n.Name, "err", err)
		case holder != "":
			c.conflict = holder
			d.log.Error("directory: a registration held while etcd was away is another host's: it stays on this host only", "node", n.Name, "holder", holder)
		default:
			c.published = true
		}
		d.mu.Unlock()
	}
}

// put claims a node's name for this agent: created if absent, or replaced
// when the record there is this agent's own (an update, or a record of a
// lease etcd has not expired yet). It returns the member that holds the
// name when it is another.
func (d *Directory) put(lease clientv3.LeaseID, n Node) (holder string, err error) {
	b, err := json.Marshal(n)
	if err != nil {
		return "", err
	}
	key := d.base + nodesPrefix + n.Name
	ctx, cancel := context.WithTimeout(d.ctx, requestTimeout)
	defer cancel()
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return "", fmt.Errorf("directory: claim %s: %w", n.Name, err)
	}
	if resp.Succeeded {
		return "", nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return "", fmt.Errorf("directory: claim %s: the record vanished; trying again", n.Name)
	}
	var old Node
	if err := json.Unmarshal(kvs[0].Value, &old); err == nil && old.Member != d.cfg.Self.ID {
		return old.Member, nil
	}
	// Ours: replace it, unless someone else took it meanwhile.
	resp, err = d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease))).Commit()
	if err != nil {
		return "", fmt.Errorf("directory: claim %s: %w", n.Name, err)
	}
	if !resp.Succeeded {
		return "", fmt.Errorf("directory: claim %s: changed meanwhile; trying again", n.Name)
	}
	return "", nil
}

// Claim claims a registration of this agent's host for the site: it is
// refused with ErrNameInUse when another host holds the name (by the
// cache, or by etcd's answer to a create-only transaction). While etcd
// does not answer, the claim is held and published on its return.
func (d *Directory) Claim(ctx context.Context, n Node) error {
	n.Member = d.cfg.Self.ID
	if !n.Addr.IsValid() && len(d.cfg.Self.Addrs) > 0 {
		n.Addr = d.cfg.Self.Addrs[0]
	}
	d.mu.Lock()
	if old, ok := d.state.Node(n.Name); ok && old.Member != n.Member {
		d.mu.Unlock()
		return fmt.Errorf("directory: %s is registered on host %s: %w", n.Name, old.Host, ErrNameInUse)
	}
	delete(d.release, n.Name)
	c := &claim{node: n}
	d.claims[n.Name] = c
	lease := d.lease
	stale := !d.staleSince.IsZero()
	d.mu.Unlock()
	if lease == 0 || stale {
		d.poke()
		return nil // published on etcd's return
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	holder, err := d.put(lease, n)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil:
		d.log.Info("directory: registration held until etcd answers", "node", n.Name, "err", err)
	case holder != "":
		if d.claims[n.Name] == c {
			delete(d.claims, n.Name)
		}
		return fmt.Errorf("directory: %s is registered by %s: %w", n.Name, holder, ErrNameInUse)
	case d.lease == lease:
		c.published = true
	}
	return nil
}

// Update republishes a claimed registration (transports added).
func (d *Directory) Update(n Node) {
	n.Member = d.cfg.Self.ID
	if !n.Addr.IsValid() && len(d.cfg.Self.Addrs) > 0 {
		n.Addr = d.cfg.Self.Addrs[0]
	}
	d.mu.Lock()
	if c, ok := d.claims[n.Name]; ok && c.node.Creation == n.Creation {
		c.node, c.published = n, false
	}
	d.mu.Unlock()
	d.poke()
}

// Release gives a registration's name back, once its node is gone.
func (d *Directory) Release(name string, creation uint32) {
	d.mu.Lock()
	if c, ok := d.claims[name]; ok && c.node.Creation == creation {
		delete(d.claims, name)
		if c.conflict == "" {
			d.release[name] = true
		}
	}
	d.mu.Unlock()
	d.poke()
}

func (d *Directory) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// View runs f with the cache, read-locked: f must not keep it.
func (d *Directory) View(f func(s *State)) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	f(d.state)
}

// Lookup returns the node name@host of the site from the cache.
func (d *Directory) Lookup(name, host string) (Node, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.state.Lookup(name, host)
}

// Node returns the registration of a name in the site from the cache.
func (d *Directory) Node(name string) (Node, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.state.Node(name)
}

// Edges returns the site's edges from the cache, the least loaded first.
func (d *Directory) Edges() []Member {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.state.Edges()
}

// Policies returns the shared policies' states from the cache.
func (d *Directory) Policies() []PolicyState {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.state.Policies()
}

// Status is the directory as `distgate status` shows it.
type Status struct {
	Site        string    `json:"site"`
	Member      string    `json:"member"`
	Role        Role      `json:"role"`
	Endpoints   []string  `json:"endpoints"`
	Stale       bool      `json:"stale"`
	StaleSince  time.Time `json:"stale_since,omitzero"`
	LastContact time.Time `json:"last_contact,omitzero"`
	Revision    int64     `json:"revision"`
	Members     []Member  `json:"members"`
	Nodes       int       `json:"nodes"`
	Pending     []string  `json:"pending,omitempty"`   // registrations of this host not published yet
	Conflicts   []string  `json:"conflicts,omitempty"` // registrations of this host another host holds in etcd
	Rejected    int       `json:"rejected,omitempty"`  // records refused as malformed
}

// Stale reports whether the directory lost etcd and serves from its
// cache (readiness asks it every probe: Status lists the members).
func (d *Directory) Stale() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return !d.staleSince.IsZero()
}

// Status returns the directory's state.
func (d *Directory) Status() Status {
	d.mu.RLock()
	defer d.mu.RUnlock()
	st := Status{
		Site: d.cfg.Site, Member: d.cfg.Self.ID, Role: d.cfg.Self.Role, Endpoints: d.cfg.Endpoints,
		Stale: !d.staleSince.IsZero(), StaleSince: d.staleSince, LastContact: d.lastContact, Revision: d.rev,
		Members: d.state.Members(), Nodes: d.state.ValidNodes(), Rejected: d.state.Rejected,
	}
	for name, c := range d.claims {
		switch {
		case c.conflict != "":
			st.Conflicts = append(st.Conflicts, name+" (held by "+c.conflict+")")
		case !c.published:
			st.Pending = append(st.Pending, name)
		}
	}
	slices.Sort(st.Pending)
	slices.Sort(st.Conflicts)
	return st
}

// NodeOf describes a registration of this host for the directory.
func NodeOf(name, host string, nodeType byte, creation uint32, ts []epmd.Transport) Node {
	return Node{Name: name, Host: host, NodeType: nodeType, Creation: creation, Transports: slices.Clone(ts)}
}
