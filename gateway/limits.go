package gateway

import "time"

// Limits and timeouts of the gateway, in one place, with their units. New
// hands each part the ones it uses; the constants that define a wire
// format or an algorithm stay with it (linkwire.MaxHeaderLen, the relay's
// buffer sizes, the link backoff).
const (
	// MaxProxyPorts bounds the loopback proxy ports open at once (one per
	// remote node looked up); past it, lookups of new remote nodes are
	// answered "unavailable" until idle ports are released.
	MaxProxyPorts = 4096
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
	// for its request; a source may hold publicPerAddr connections (public
	// EPMD and TLS termination ports together), all sources publicTotal,
	// and publicMaxSources sources are remembered.
	publicRequestTime = 5 * time.Second
	publicPerAddr     = 16
	publicTotal       = 2048
	publicMaxSources  = 100_000
)
