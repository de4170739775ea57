// Package gateway wires distgate together: the EPMD with its routing
// resolver, the links to peer gateways, the loopback proxy ports of remote
// nodes, the public edge, certificates, policies, remote queries and the
// admin API.
//
// A lookup of a remote node (name@host routed via a peer site) is answered
// with a loopback proxy port. A node that connects to it is relayed, after
// its send_name has told who calls, over a stream to the peer gateway,
// which asks its policy, finds the target in its registry and connects to
// it. Distribution bytes pass unchanged.
//
// A gateway has a role: standalone (everything in one process, no etcd),
// agent (a host's EPMD in a site of many hosts) or edge (links to other
// sites, connections to any host of its site); cluster.go joins the site
// directory to the parts, policysync.go keeps the site's policies alike.
//
// The package itself keeps what joins the parts: the configuration (read
// only by New, which hands each part the values it uses), routing (the
// Router, the built-in router and the uploaded policies, the EPMD
// resolver), what peers and remote clients ask of this site (inbound
// streams, remote queries, the public EPMD's policy), the admin API and
// the metrics. Its parts are subpackages that never import it, and none
// holds the Gateway:
//
//	handshake  the distribution handshake reader: send_name, ticks, reframing (pure)
//	linkwire   the link wire format: stream header, replies, statuses (pure)
//	relay      the relay, its Stream interface, the ticker, the reframer, the table of relays
//	link       the link layer: listeners, dialling, QUIC and TLS links, backoff, status
//	pki        identity, built-in issuer, certificates, peer trust, PEM bundles, client certificates
//	ports      the one pool of on-demand ports (proxy ports, TLS ports)
//	proxy      the loopback proxy ports of remote nodes
//	terminate  the public TLS ports: TLS termination and reframing
//	admit      the admission limiter of listeners reachable from outside, and the rate-limited refusal log
//	localpeer  who owns the other end of a loopback connection (its uid: sock_diag on Linux)
//	datadir    the data directory: its files and atomic writes
//	directory  the site directory on etcd of agents and edges: a pure cache kept by one
//	           watch, the gateway's lease, name claims, shared policies, certificate storage
//	events     the event log: relays established, ended (and why), refused; links up and down (pure)
//	distfilter the distribution stream after the handshake: packets, headers, atom cache, control messages, calls (pure)
//	filtering  the message filter of relays: the filter policy's verdicts, per-shape caches, counts, refusal log
//	ui         the status page: its embedded files, one-time logins, sessions
//
// Arrows point down only: cmd/distgate imports gateway, gateway its parts,
// and the parts each other and epmd, never gateway:
//
//	proxy      -> link, linkwire, ports, relay, handshake, filtering
//	terminate  -> ports, relay, pki, handshake, admit, events, filtering
//	filtering  -> distfilter, relay, events, admit
//	link       -> linkwire, relay, pki, admit, events
//	ports      -> admit
//	relay      -> handshake, events
//	pki        -> datadir
//	directory  -> epmd (and etcd's client, certmagic)
//
// Two cuts differ from the obvious ones. The port pool is a part of its
// own, under both proxy and terminate, because the two kinds of port
// differ only in what a connection does. What peers and remote clients
// ask of this site (inbound.go, remote.go, public.go) stays here: it is
// routing, the Router's decisions applied to the registry, and moving it
// out would move the Router with it.
package gateway
