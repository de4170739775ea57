//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// stunnelSuite is the TLS 1.3 cipher suite the stunnel pair is held to:
// the one Go's crypto/tls (distgate's links) picks on a CPU with AES-NI.
const stunnelSuite = "TLS_AES_128_GCM_SHA256"

// stunnelConf is one end of the tunnel: TLS 1.3 only, one cipher suite,
// certificates verified both ways, TCP_NODELAY on both sockets as
// distribution and distgate set it. The bench runs it in the foreground.
func stunnelConf(client bool, accept, connect string, f tlsFiles) string {
	var b strings.Builder
	fmt.Fprintf(&b, "foreground = yes\npid =\ndebug = 4\n")
	fmt.Fprintf(&b, "socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n")
	fmt.Fprintf(&b, "[dist]\n")
	if client {
		fmt.Fprintf(&b, "client = yes\ncheckHost = %s\n", benchHost)
	} else {
		fmt.Fprintf(&b, "requireCert = yes\n")
	}
	fmt.Fprintf(&b, "accept = %s\nconnect = %s\n", accept, connect)
	fmt.Fprintf(&b, "cert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\n", f.Cert, f.Key, f.CA)
	fmt.Fprintf(&b, "sslVersionMin = TLSv1.3\nsslVersionMax = TLSv1.3\nciphersuites = %s\n", stunnelSuite)
	return b.String()
}

// startStunnel writes a configuration and runs stunnel on it at a place
// until it accepts on its address (host:port), relaying to connect.
func startStunnel(ctx context.Context, bin, dir, name string, client bool, at place, accept, connect string, f tlsFiles) (*child, error) {
	conf := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(conf, []byte(stunnelConf(client, accept, connect, f)), 0o600); err != nil {
		return nil, err
	}
	c, err := startChild(name, at, nil, false, bin, conf)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, at, accept, c, 10*time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// stunnelVersion returns stunnel's version line and the OpenSSL it runs
// with, from `stunnel -version` (which prints on stderr).
func stunnelVersion(bin string) string {
	out, _ := exec.Command(bin, "-version").CombinedOutput()
	var parts []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if v, ok := strings.CutPrefix(l, "stunnel "); ok {
			if f := strings.Fields(v); len(f) > 0 {
				parts = append(parts, "stunnel "+f[0])
			}
		}
		if v, ok := strings.CutPrefix(l, "Running with "); ok {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return "stunnel (version unknown)"
	}
	return strings.Join(parts, ", ")
}
