package directory

// Bounds of what the directory takes from etcd. Everyone who may write
// the site's prefix (its agents and edges, and etcd itself) is trusted as
// a member of the site, but none of them can make a gateway hold more
// than this, nor stall it: a record over its bound is refused and
// counted (Status.Rejected), a listing or a watch response over
// maxRecvBytes fails and is retried later while the cache serves the last
// known state.
const (
	// maxRecord bounds a directory record's value: what a watch delivers
	// to every gateway. A node's transports and extra fields fit many
	// times.
	maxRecord = 64 << 10
	// maxNodes, maxMembers and maxPolicies bound the records the cache
	// holds: a flood of registrations from a hostile agent fills the
	// site's etcd (which has its own quota), not every gateway's memory.
	// bench-sites measures an edge with 10,000 registrations.
	maxNodes    = 1 << 17
	maxMembers  = 4096
	maxPolicies = 256
	// maxAddrs bounds a member's addresses on the site network (a node's
	// transports are bounded as the EPMD bounds them, epmd.MaxTransports).
	maxAddrs = 16
	// listPage is how many keys one request of a listing reads.
	listPage = 1000
	// maxRecvBytes bounds one answer of etcd (a page of a listing, a
	// watch response, a chunk): well above a page of maxRecord records
	// of a real site, well below what would hurt a gateway.
	maxRecvBytes = 32 << 20
	// chunkSize is a policy module's chunk: well under etcd's 1.5 MiB
	// request limit.
	chunkSize = 512 << 10
	// maxModule bounds a shared policy's module, as the policy engine
	// bounds an uploaded one (wasm.DefaultMaxModuleBytes).
	maxModule = 16 << 20
)
