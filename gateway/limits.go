package gateway

import (
	"time"

	"github.com/distgate/distgate/gateway/admit"
)

// Limits and timeouts of the gateway, in one place, with their units. New
// hands each part the ones it uses; the constants that define a wire
// format or an algorithm stay with it (linkwire.MaxHeaderLen, the relay's
// buffer sizes, the link backoff).
const (
	// MaxProxyPorts bounds the loopback proxy ports open at once (one per
	// remote node looked up). Past it, a lookup of a new remote node
	// evicts the port that was never connected and has been looked up the
	// least recently; when every port has carried a relay, it is answered
	// "unavailable" until idle ports are released.
	MaxProxyPorts = 4096
	// MaxProxyPortsPerOwner and MaxProxyPortsPerCaller bound the proxy
	// ports charged to one local user, the owner of the socket that asked
	// for them: a user that holds a registration with the EPMD (the user
	// of some nodes), and one that holds none. Past its bound, a user's
	// new port evicts its own oldest port that was never connected, so
	// that no local process can take every port from the nodes.
	MaxProxyPortsPerOwner  = MaxProxyPorts / 2
	MaxProxyPortsPerCaller = 256
	// MaxTerminationPorts bounds the public TLS ports open at once.
	MaxTerminationPorts = 4096

	// handshakeTimeout bounds how long a node may take to send its first
	// handshake message, a peer gateway to answer a link stream or send
	// its header, and a node of this host to accept a relayed connection.
	handshakeTimeout = 10 * time.Second
	// remoteQueryTimeout bounds a remote query, handshake included.
	remoteQueryTimeout = 10 * time.Second
	// linkDialTimeout bounds the dial and the TLS or QUIC handshake of a
	// link, both ways.
	linkDialTimeout = 10 * time.Second
	// linkAcceptIdle bounds the idle timeout of the QUIC links peers dial:
	// the dialling side's route liveness decides, up to this.
	linkAcceptIdle = 2 * time.Minute
	// queryIdleTimeout is the idle timeout of a QUIC remote query client's
	// connection (DialQUICQuery).
	queryIdleTimeout = 30 * time.Second
	// minLiveness and maxLiveness clamp the liveness a peer asks for on a
	// link stream it opens.
	minLiveness = time.Second
	maxLiveness = 10 * time.Minute

	// loadEvery is how often an edge publishes its relay count in the
	// site directory (when it changed): agents prefer the least loaded.
	loadEvery = 5 * time.Second
	// policySyncTimeout bounds one reconciliation of the site's shared
	// policies with the local engine (fetching a module, compiling it).
	policySyncTimeout = time.Minute

	// acmeRetryMin and acmeRetryMax space the attempts to obtain a public
	// name's certificate while the ACME CA fails: doubling from the first
	// to the second.
	acmeRetryMin = 2 * time.Second
	acmeRetryMax = 5 * time.Minute

	// adminHeaderTimeout bounds the reading of an admin request's header;
	// adminShutdownTimeout is what requests in progress get at Close.
	adminHeaderTimeout   = 10 * time.Second
	adminShutdownTimeout = 2 * time.Second
	// maxUpload bounds an uploaded policy, in bytes: the module and its
	// configuration.
	maxUpload = 64 << 20
	// eventRing is how many events (relays' lives, links' changes) the
	// gateway keeps for `distgate events`, `why` and the status page.
	eventRing = 4096
	// maxNodeMetrics bounds admin.node_metrics: node names as metric
	// labels, each a few series.
	maxNodeMetrics = 10_000
	// policyLogLines is how many recent log lines are kept per policy for
	// `distgate policy logs`.
	policyLogLines = 200
	// maxConfigFileLength bounds a configuration file, in bytes.
	maxConfigFileLength = 1 << 20

	// Public edge: a connection of the public EPMD gets publicRequestTime
	// for its request. The public EPMD and the TLS termination ports each
	// let a source (an IPv4 address, an IPv6 /64) hold publicPerAddr
	// connections, its networks more (admit: an IPv4 /24 or IPv6 /48 four
	// times as many, an IPv6 /32 sixteen times), all sources publicTotal;
	// publicMaxSources sources are remembered. When all are taken, the
	// oldest connection whose request is not in yet is closed.
	publicRequestTime = 5 * time.Second
	publicPerAddr     = 16
	publicTotal       = 2048
	publicMaxSources  = 100_000

	// Link and remote query ports, before the handshake: a source may
	// open edgeRate connections a second (edgeBurst at once) and hold
	// edgePerAddr whose handshake is not done (remote query clients: whose
	// query is not done), all sources edgeTotal (each listener: the QUIC
	// link, the TLS link, the remote query port). A source that proved to
	// be a peer gateway skips the rate and the per-source caps for
	// edgeTrustFor.
	edgeRate       = 20.0
	edgeBurst      = 64
	edgePerAddr    = 32
	edgeTotal      = 256
	edgeMaxSources = 100_000
	edgeTrustFor   = 10 * time.Minute
	// queryStreams bounds the remote queries one client's QUIC connection
	// has served at once; the others wait.
	queryStreams = 16
	// linkTLSDials bounds the TLS link handshakes a gateway runs at once
	// towards one peer: the per-source cap of a peer's admission
	// (edgePerAddr), which holds until the peer trusts this gateway's
	// address, and well under its total, so that a burst of relays over a
	// TLS link (1,000 connections across a WAN) is queued at the dialling
	// end rather than refused or evicted at the other.
	linkTLSDials = edgeBurst
)

// edgeLimits returns the admission limits of each link and remote query
// listener.
func edgeLimits() admit.Limits {
	return admit.Limits{
		Rate: edgeRate, Burst: edgeBurst, PerSource: edgePerAddr, Total: edgeTotal,
		MaxSources: edgeMaxSources, TrustFor: edgeTrustFor,
	}
}
