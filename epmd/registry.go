package epmd

import (
	"container/list"
	"errors"
	"fmt"
	"slices"
)

// ErrNameInUse is returned by Register when the name is registered on
// another connection.
var ErrNameInUse = errors.New("name in use")

// ErrBadName is returned by Register when the name or extra field breaks
// OTP's limits (length, UTF-8, code points); OTP answers with an error reply.
var ErrBadName = errors.New("bad name")

// ErrNotOwner is returned by AddTransports when the connection does not
// hold the registration.
var ErrNotOwner = errors.New("not the owner of the registration")

// Owner identifies the connection a registration lives on.
type Owner struct {
	ID uint64 // unique per connection, never reused
	FD int    // the socket's file descriptor, shown by DUMP
	// UID is the user that owns the registering peer's socket, when the
	// server could find it (HasUID; see Config.PeerUID).
	UID    uint32
	HasUID bool
}

// Registry holds the registered nodes and the recently unregistered names.
// It is pure state: it does no I/O, takes the time as an argument, and is
// not safe for concurrent use (the server guards it with a lock).
type Registry struct {
	maxUnreg int

	seq   uint64            // orders registrations, newest highest
	nodes map[string]*entry // registered, by name
	byID  map[uint64]*entry // registered, by owning connection
	byUID map[uint32]int    // how many registrations each known owner uid holds
	unreg *list.List        // of *entry, oldest first
	old   map[string]*list.Element
}

type entry struct {
	name       string
	host       string
	nodeType   byte
	transports []Transport
	counter    uint32 // the creation counter of this name slot
	owner      Owner
	seq        uint64
}

// NewRegistry returns an empty registry that remembers up to maxUnreg
// unregistered names (MaxUnregistered when zero).
func NewRegistry(maxUnreg int) *Registry {
	if maxUnreg <= 0 {
		maxUnreg = MaxUnregistered
	}
	return &Registry{
		maxUnreg: maxUnreg,
		nodes:    make(map[string]*entry),
		byID:     make(map[uint64]*entry),
		byUID:    make(map[uint32]int),
		unreg:    list.New(),
		old:      make(map[string]*list.Element),
	}
}

// Len returns the number of registered nodes.
func (r *Registry) Len() int { return len(r.nodes) }

// Register registers a node for owner and returns its creation counter.
// nowUnix seeds the counter of a name never seen (or long forgotten); a
// name still remembered as unregistered gets its previous counter plus one.
// Counters below 4 become 4: creations 0..3 mean something else to OTP.
func (r *Registry) Register(reg Registration, owner Owner, nowUnix int64) (uint32, error) {
	if err := validateName(reg.Name, nil); err != nil {
		return 0, err
	}
	for _, t := range reg.Transports {
		if len(t.Extra) > MaxSymLen {
			return 0, fmt.Errorf("epmd: extra is %d bytes, longer than %d: %w", len(t.Extra), MaxSymLen, ErrBadName)
		}
	}
	if _, ok := r.nodes[reg.Name]; ok {
		return 0, fmt.Errorf("epmd: register %q: %w", reg.Name, ErrNameInUse)
	}
	if _, ok := r.byID[owner.ID]; ok {
		return 0, fmt.Errorf("epmd: register %q: connection already holds a registration: %w", reg.Name, ErrNameInUse)
	}
	var e *entry
	if el, ok := r.old[reg.Name]; ok {
		e = r.unreg.Remove(el).(*entry)
		delete(r.old, reg.Name)
	} else {
		e = &entry{counter: uint32(nowUnix)}
	}
	e.counter++
	if e.counter < 4 {
		e.counter = 4
	}
	r.seq++
	e.name, e.host, e.nodeType, e.owner, e.seq = reg.Name, reg.Host, reg.NodeType, owner, r.seq
	if e.nodeType == 0 {
		e.nodeType = NodeTypeNormal
	}
	e.transports = slices.Clone(reg.Transports)
	r.nodes[e.name] = e
	r.byID[owner.ID] = e
	if owner.HasUID {
		r.byUID[owner.UID]++
	}
	return e.counter, nil
}

// AddTransports appends transports to the registration held by ownerID.
func (r *Registry) AddTransports(ownerID uint64, ts []Transport) (uint32, error) {
	e, ok := r.byID[ownerID]
	if !ok {
		return 0, ErrNotOwner
	}
	if len(e.transports)+len(ts) > MaxTransports {
		return 0, fmt.Errorf("epmd: %q would have %d transports, more than %d: %w", e.name, len(e.transports)+len(ts), MaxTransports, errMalformed)
	}
	e.transports = append(e.transports, ts...)
	return e.counter, nil
}

// UnregisterOwner removes the registration held by a connection, if any,
// and returns its name.
func (r *Registry) UnregisterOwner(id uint64) (string, bool) {
	e, ok := r.byID[id]
	if !ok {
		return "", false
	}
	r.removeLocked(e)
	return e.name, true
}

// UnregisterName removes a registration by name (epmd -stop) and returns
// the connection that held it.
func (r *Registry) UnregisterName(name string) (Owner, bool) {
	e, ok := r.nodes[name]
	if !ok {
		return Owner{}, false
	}
	r.removeLocked(e)
	return e.owner, true
}

// removeLocked moves e to the unregistered list, forgetting the oldest
// names beyond the limit.
func (r *Registry) removeLocked(e *entry) {
	delete(r.nodes, e.name)
	delete(r.byID, e.owner.ID)
	if e.owner.HasUID {
		if r.byUID[e.owner.UID]--; r.byUID[e.owner.UID] <= 0 {
			delete(r.byUID, e.owner.UID)
		}
	}
	r.old[e.name] = r.unreg.PushBack(e)
	for r.unreg.Len() > r.maxUnreg {
		oldest := r.unreg.Remove(r.unreg.Front()).(*entry)
		delete(r.old, oldest.name)
	}
}

// classic returns the transport PORT_PLEASE2 and NAMES report: the first
// plain TCP one, else the first with a port.
func (e *entry) classic() (Transport, bool) {
	for _, t := range e.transports {
		if t.IsTCP() {
			return t, true
		}
	}
	for _, t := range e.transports {
		if t.Family != FamilyLocal {
			return t, true
		}
	}
	return Transport{}, false
}

// PortPlease answers PORT_PLEASE2: nil when the name is not registered or
// has no transport a classic client can dial.
func (r *Registry) PortPlease(name string) *PortInfo {
	e, ok := r.nodes[name]
	if !ok {
		return nil
	}
	t, ok := e.classic()
	if !ok {
		return nil
	}
	return t.portInfo(e.name, e.nodeType)
}

// sorted returns the registered entries, newest registration first, as
// OTP's epmd lists them.
func (r *Registry) sorted() []*entry {
	es := make([]*entry, 0, len(r.nodes))
	for _, e := range r.nodes {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *entry) int {
		switch {
		case a.seq > b.seq:
			return -1
		case a.seq < b.seq:
			return 1
		}
		return 0
	})
	return es
}

// AppendNames appends the NAMES reply body (after the port header).
func (r *Registry) AppendNames(b []byte) []byte {
	for _, e := range r.sorted() {
		t, _ := e.classic()
		b = appendNamesLine(b, e.name, t.Port)
	}
	return b
}

// AppendDump appends the DUMP reply body (after the port header): the
// registered nodes newest first, then the remembered names oldest first.
func (r *Registry) AppendDump(b []byte) []byte {
	for _, e := range r.sorted() {
		t, _ := e.classic()
		b = appendDumpActive(b, e.name, t.Port, e.owner.FD)
	}
	for el := r.unreg.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		t, _ := e.classic()
		b = appendDumpOld(b, e.name, t.Port, e.owner.FD)
	}
	return b
}

// Lookup returns the endpoints of a registered node. With accept given,
// only transports of those protocols are returned, in the order of accept
// and then of registration; without, every transport in registration
// order. registered is false when the name is not registered at all.
func (r *Registry) Lookup(name string, accept []string) (eps []Endpoint, registered bool) {
	e, ok := r.nodes[name]
	if !ok {
		return nil, false
	}
	if len(accept) == 0 {
		for _, t := range e.transports {
			eps = append(eps, Endpoint{Transport: t, NodeType: e.nodeType})
		}
		return eps, true
	}
	for i, p := range accept {
		if slices.Contains(accept[:i], p) {
			continue
		}
		for _, t := range e.transports {
			if t.Proto == p {
				eps = append(eps, Endpoint{Transport: t, NodeType: e.nodeType})
			}
		}
	}
	return eps, true
}

// Owner returns the connection that holds the registration of name.
func (r *Registry) Owner(name string) (Owner, bool) {
	if e, ok := r.nodes[name]; ok {
		return e.owner, true
	}
	return Owner{}, false
}

// OwnedBy returns how many registrations are held by connections whose
// peer's socket the user uid owns.
func (r *Registry) OwnedBy(uid uint32) int { return r.byUID[uid] }

// Host returns the host a registered node told at registration ("" for a
// classic registration or an unknown name).
func (r *Registry) Host(name string) string {
	if e, ok := r.nodes[name]; ok {
		return e.host
	}
	return ""
}

// Nodes returns every registered node, newest first.
func (r *Registry) Nodes() []NodeInfo {
	es := r.sorted()
	out := make([]NodeInfo, len(es))
	for i, e := range es {
		out[i] = NodeInfo{Name: e.name, Host: e.host, NodeType: e.nodeType, Creation: e.counter, Transports: slices.Clone(e.transports)}
	}
	return out
}

// Node returns the registration held by a connection.
func (r *Registry) Node(ownerID uint64) (NodeInfo, bool) {
	e, ok := r.byID[ownerID]
	if !ok {
		return NodeInfo{}, false
	}
	return NodeInfo{Name: e.name, Host: e.host, NodeType: e.nodeType, Creation: e.counter, Transports: slices.Clone(e.transports)}, true
}
