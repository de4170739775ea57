package directory

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/distgate/distgate/epmd"
)

// Event is one change of a key under the site's d/ prefix, as etcd
// reports it: the key relative to the site's prefix, the value, and the
// lease the key lives under (0: none).
type Event struct {
	Delete bool
	Key    string
	Value  []byte
	Lease  int64
}

// State is the site directory as one gateway knows it: what the last
// listing and the watch since have said. It is pure state, with no I/O
// and no clock, and not safe for concurrent use (a Directory guards it).
//
// Records are believed only as far as they are consistent: a member's
// record must carry its key's ID; a node counts only while the member it
// names lives under the same lease (an agent cannot publish nodes in
// another agent's name, whose links would then vouch for them) and
// reaches it at one of that member's addresses.
type State struct {
	members  map[string]Member
	nodes    map[string]Node
	policies map[string]PolicyState
	// Rejected counts the records refused since the start: malformed,
	// with a name that is not their key's, too large, or beyond the
	// number the cache holds of their kind.
	Rejected int
}

// errFull refuses a record beyond the bounds of its kind (limits.go).
var errFull = errors.New("directory: too many records of this kind")

// NewState returns an empty directory.
func NewState() *State {
	return &State{members: map[string]Member{}, nodes: map[string]Node{}, policies: map[string]PolicyState{}}
}

// Reset replaces the whole state with a listing, and returns the policies
// whose state differs from before (changed, added or gone).
func (s *State) Reset(evs []Event) []PolicyState {
	n := NewState()
	for _, ev := range evs {
		n.Apply(ev)
	}
	return s.Replace(n)
}

// Replace replaces the whole state with n (a listing applied to a new
// State, page by page), and returns the policies whose state differs from
// before (changed, added or gone). n's refusals add to s's.
func (s *State) Replace(n *State) []PolicyState {
	old := s.policies
	rejected := s.Rejected + n.Rejected
	*s = *n
	s.Rejected = rejected
	var changed []PolicyState
	for name, p := range s.policies {
		if o, ok := old[name]; !ok || o.SHA256 != p.SHA256 || string(o.Config) != string(p.Config) || o.Removed != p.Removed {
			changed = append(changed, p)
		}
	}
	for name := range old {
		if _, ok := s.policies[name]; !ok {
			changed = append(changed, PolicyState{Name: name, Removed: true})
		}
	}
	slices.SortFunc(changed, func(a, b PolicyState) int { return cmp.Compare(a.Name, b.Name) })
	return changed
}

// Apply applies one event. A policy's new state is returned when the
// event changed one (policy true).
func (s *State) Apply(ev Event) (p PolicyState, policy bool) {
	kind, name, ok := parseKey(ev.Key)
	if !ok {
		return PolicyState{}, false
	}
	switch kind {
	case membersPrefix:
		if ev.Delete {
			delete(s.members, name)
			return PolicyState{}, false
		}
		m, err := decode[Member](kind, name, ev.Value)
		if _, ok := s.members[name]; !ok && len(s.members) >= maxMembers {
			err = errFull
		}
		if len(m.Addrs) > maxAddrs {
			err = errFull
		}
		if err != nil || m.ID != name {
			s.Rejected++
			delete(s.members, name)
			return PolicyState{}, false
		}
		m.lease = ev.Lease
		s.members[name] = m
	case nodesPrefix:
		if ev.Delete {
			delete(s.nodes, name)
			return PolicyState{}, false
		}
		n, err := decode[Node](kind, name, ev.Value)
		if _, ok := s.nodes[name]; !ok && len(s.nodes) >= maxNodes {
			err = errFull
		}
		if len(n.Transports) > epmd.MaxTransports {
			err = errFull
		}
		if err != nil || n.Name != name {
			s.Rejected++
			delete(s.nodes, name)
			return PolicyState{}, false
		}
		n.lease = ev.Lease
		s.nodes[name] = n
	case policiesPrefix:
		if ev.Delete {
			delete(s.policies, name)
			return PolicyState{Name: name, Removed: true}, true
		}
		ps, err := decode[PolicyState](kind, name, ev.Value)
		if _, ok := s.policies[name]; !ok && len(s.policies) >= maxPolicies {
			err = errFull
		}
		if err != nil || ps.Name != name {
			s.Rejected++
			return PolicyState{}, false
		}
		s.policies[name] = ps
		return ps, true
	}
	return PolicyState{}, false
}

// valid reports whether a node's record is backed by a live agent: the
// member it names, under the same lease, reached at the node's address.
func (s *State) valid(n Node) (Member, bool) {
	m, ok := s.members[n.Member]
	if !ok || m.Role != RoleAgent || m.lease != n.lease || !slices.Contains(m.Addrs, n.Addr) {
		return Member{}, false
	}
	for _, t := range n.Transports {
		// A transport's own address (Endpoints answers it, edges dial it)
		// is one of its member's too, or none (the node's address then).
		if t.Addr.IsValid() && !t.Addr.IsUnspecified() && !t.Addr.IsLoopback() && !slices.Contains(m.Addrs, t.Addr) {
			return Member{}, false
		}
	}
	return m, true
}

// Node returns the registration of a name in the site, if a live agent
// holds it.
func (s *State) Node(name string) (Node, bool) {
	n, ok := s.nodes[name]
	if !ok {
		return Node{}, false
	}
	if _, ok := s.valid(n); !ok {
		return Node{}, false
	}
	return n, true
}

// Lookup returns the node name@host of the site: the registration of
// name, when its host is host (without case).
func (s *State) Lookup(name, host string) (Node, bool) {
	n, ok := s.Node(name)
	if !ok || !strings.EqualFold(n.Host, host) {
		return Node{}, false
	}
	return n, true
}

// HasHost reports whether host is the host of a live agent of the site.
func (s *State) HasHost(host string) bool {
	for _, m := range s.members {
		if m.Role == RoleAgent && strings.EqualFold(m.Host, host) {
			return true
		}
	}
	return false
}

// Member returns a live member by ID.
func (s *State) Member(id string) (Member, bool) {
	m, ok := s.members[id]
	return m, ok
}

// Members returns the live members, sorted by ID.
func (s *State) Members() []Member {
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Edges returns the site's edges, the least loaded first.
func (s *State) Edges() []Member {
	var out []Member
	for _, m := range s.members {
		if m.Role == RoleEdge {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int {
		if c := cmp.Compare(a.Load, b.Load); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// HasIdentity reports whether a live member of the site has the link
// identity id, and with which role (an edge when any member with it is
// one: the edges of a site may share the site's identity).
func (s *State) HasIdentity(id string) (Role, bool) {
	var role Role
	for _, m := range s.members {
		if m.Identity == id {
			if m.Role == RoleEdge {
				return RoleEdge, true
			}
			role = m.Role
		}
	}
	return role, role != ""
}

// Nodes returns the valid registrations, sorted by name.
func (s *State) Nodes() []Node {
	out := make([]Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		if _, ok := s.valid(n); ok {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// ValidNodes counts the nodes Nodes returns, without listing them.
func (s *State) ValidNodes() int {
	n := 0
	for _, node := range s.nodes {
		if _, ok := s.valid(node); ok {
			n++
		}
	}
	return n
}

// NodeCount returns how many records of nodes the state holds, valid or
// not.
func (s *State) NodeCount() int { return len(s.nodes) }

// Policies returns the shared policies' states, sorted by name.
func (s *State) Policies() []PolicyState {
	out := make([]PolicyState, 0, len(s.policies))
	for _, p := range s.policies {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PolicyState) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Policy returns one shared policy's state.
func (s *State) Policy(name string) (PolicyState, bool) {
	p, ok := s.policies[name]
	return p, ok
}
