package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/pki"
)

// remoteFlags point names and lookup at a gateway's secure remote query
// port, over mutual TLS or QUIC.
type remoteFlags struct {
	remote     string
	ca         string
	cert, key  string
	serverName string
	quic       bool
}

func (r *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.remote, "remote", "", "query the gateway at `HOST:PORT` (its remote.listen, or its link port with -quic)")
	fs.StringVar(&r.ca, "ca", "", "PEM `file` of the CA that signs the gateway's certificate (its identity.crt for a built-in one)")
	fs.StringVar(&r.cert, "cert", "", "client certificate `file` (PEM)")
	fs.StringVar(&r.key, "key", "", "client key `file` (PEM)")
	fs.StringVar(&r.serverName, "server-name", "", "the gateway's certificate `name` (the host of -remote by default)")
	fs.BoolVar(&r.quic, "quic", false, "query over QUIC on the gateway's link port")
}

// client returns an EPMD client for the remote gateway.
func (r *remoteFlags) client() (*epmd.Client, error) {
	if r.cert == "" || r.key == "" {
		return nil, errors.New("a remote query needs a client certificate: give -cert and -key")
	}
	pair, err := tls.LoadX509KeyPair(r.cert, r.key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	host, _, err := net.SplitHostPort(r.remote)
	if err != nil {
		return nil, fmt.Errorf("-remote %q: %w", r.remote, err)
	}
	conf.ServerName = host
	if r.serverName != "" {
		conf.ServerName = r.serverName
	}
	if r.ca != "" {
		if conf.RootCAs, err = pki.LoadPool(r.ca, "-ca"); err != nil {
			return nil, err
		}
	}
	c := &epmd.Client{Addr: r.remote}
	if r.quic {
		c.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
			return gateway.DialQUICQuery(ctx, addr, conf)
		}
	} else {
		d := &tls.Dialer{Config: conf}
		c.DialContext = d.DialContext
	}
	return c, nil
}
