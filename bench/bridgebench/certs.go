//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// benchHost is the host part of the node names of the paths without a
// gateway. It need not resolve: bench_node, their -epmd_module, answers
// every lookup with 127.0.0.1. Long names need a dot; the certificate
// names it, as inet_tls_dist checks the peer's certificate against it.
const benchHost = "n1.bench.example"

// tlsFiles are a CA and a leaf it signed (ECDSA P-256, for server and
// client use), as PEM files, and an ssl_dist_optfile for inet_tls_dist
// with verify_peer both ways.
type tlsFiles struct {
	CA, Cert, Key, DistConf string
}

func makeTLSFiles(dir string) (tlsFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tlsFiles{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bridgebench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tlsFiles{}, fmt.Errorf("CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tlsFiles{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tlsFiles{}, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: benchHost},
		DNSNames:     []string{benchHost, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tlsFiles{}, fmt.Errorf("leaf certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tlsFiles{}, err
	}
	f := tlsFiles{
		CA:       filepath.Join(dir, "ca.pem"),
		Cert:     filepath.Join(dir, "cert.pem"),
		Key:      filepath.Join(dir, "key.pem"),
		DistConf: filepath.Join(dir, "ssl_dist.conf"),
	}
	conf := fmt.Sprintf(`[{server, [{certfile, %[1]q}, {keyfile, %[2]q}, {cacertfile, %[3]q},
            {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [{certfile, %[1]q}, {keyfile, %[2]q}, {cacertfile, %[3]q},
            {verify, verify_peer}]}].
`, f.Cert, f.Key, f.CA)
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.CA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{f.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})},
		{f.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{f.DistConf, []byte(conf)},
	} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return tlsFiles{}, err
		}
	}
	return f, nil
}

// callerDistConf writes an ssl_dist_optfile for a sender that reaches a
// terminating gateway: the otp_tls path's certificate, and the gateway's
// CA to verify the gateway with.
func callerDistConf(dir string, f tlsFiles, gatewayCA string) (string, error) {
	path := filepath.Join(dir, "caller_dist.conf")
	conf := fmt.Sprintf(`[{server, [{certfile, %[1]q}, {keyfile, %[2]q}, {cacertfile, %[3]q},
            {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
 {client, [{certfile, %[1]q}, {keyfile, %[2]q}, {cacertfile, %[4]q},
            {verify, verify_peer}]}].
`, f.Cert, f.Key, f.CA, gatewayCA)
	return path, os.WriteFile(path, []byte(conf), 0o600)
}
