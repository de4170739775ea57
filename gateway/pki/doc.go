// Package pki holds what the gateway knows and proves about identities,
// in one place: its own identity (a long-lived key pair whose hash peers
// pin) and the built-in issuer that signs its link certificates with it;
// the certificates it serves (the Manager, over certmagic: the built-in
// issuer for the site name, ACME for public names); who is at the other
// end of a mutual TLS connection (Trust: peer gateways by pinned identity
// or CA, remote query clients by their CA); PEM bundles (LoadPool); and
// the client-certificate rules of the TLS listeners.
//
// It reads files only where it is told to (the data directory, a PEM
// bundle's path) and holds no listener: the link layer, the TLS
// termination ports and the remote query listener use its
// configurations.
package pki
