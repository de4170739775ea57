package gateway

import "time"

// Limits of the gateway, in one place.
const (
	// MaxProxyPorts bounds the loopback proxy ports open at once (one per
	// remote node looked up); past it, lookups of new remote nodes are
	// answered "unavailable" until idle ports are released.
	MaxProxyPorts = 4096
	// MaxTerminationPorts bounds the public TLS ports open at once.
	MaxTerminationPorts = 4096

	// handshakeTimeout bounds how long a node may take to send its first
	// handshake message, and a link to answer.
	handshakeTimeout = 10 * time.Second
	// remoteQueryTimeout bounds a remote query, handshake included.
	remoteQueryTimeout = 10 * time.Second
	// acmeRetryMin and acmeRetryMax space the attempts to obtain a public
	// name's certificate while the ACME CA fails: doubling from the first
	// to the second.
	acmeRetryMin = 2 * time.Second
	acmeRetryMax = 5 * time.Minute
	// maxUpload bounds an uploaded policy: the module and its configuration.
	maxUpload = 64 << 20

	// Public edge: a connection of the public EPMD gets this long for its
	// request; an address may hold publicPerAddr connections (public EPMD
	// and TLS termination ports together), and all addresses publicTotal.
	publicRequestTime = 5 * time.Second
	publicPerAddr     = 16
	publicTotal       = 2048
	// publicMaxSources bounds the sources the public edge remembers.
	publicMaxSources = 100_000
)
