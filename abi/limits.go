package abi

// Limits a host applies to what a guest returns (Validate) and to what it
// reads from guest memory.
const (
	MaxMessageLen = 1 << 20 // bytes of one result message
	MaxEndpoints  = 32      // endpoints in a route (the EPMD extension's MaxTransports)
	MaxProtoLen   = 32      // bytes of a protocol name
	MaxStringLen  = 4096    // bytes of a site, transport, reason, path or extra
)
