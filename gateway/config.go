package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/distgate/distgate/gateway/datadir"
)

// Config is the gateway's configuration: one YAML file, documented key by
// key in samples/configs/gateway.yaml. Zero values mean the embedded
// defaults; unknown keys are refused.
type Config struct {
	// Site names this gateway's site; peers know it by this name.
	Site string `yaml:"site"`
	// DataDir holds the identity key, certificates, policies and the admin
	// token.
	DataDir string `yaml:"data_dir"`
	// Role is "standalone" (the default: EPMD, links and edge in one
	// process, no etcd), "agent" (one per host of a site of many hosts:
	// its EPMD, publishing the host's registrations in the site directory)
	// or "edge" (two or more per site: links to other sites, connections
	// to nodes on any host of the site). Agents and edges need cluster.
	Role string `yaml:"role"`
	// Cluster is the site directory on etcd, for agents and edges.
	Cluster ClusterConfig `yaml:"cluster"`

	EPMD   EPMDConfig   `yaml:"epmd"`
	Admin  AdminConfig  `yaml:"admin"`
	Links  LinksConfig  `yaml:"links"`
	Proxy  ProxyConfig  `yaml:"proxy"`
	Policy PolicyConfig `yaml:"policy"`
	Peers  []PeerConfig `yaml:"peers"`
	Public PublicConfig `yaml:"public"`
	ACME   ACMEConfig   `yaml:"acme"`
	Remote RemoteConfig `yaml:"remote"`
	// Routes is the static table of the default lookup policy: the first
	// route whose pattern matches a node name decides.
	Routes []RouteConfig `yaml:"routes"`
}

// EPMDConfig configures the classic EPMD listener.
type EPMDConfig struct {
	// Listen is where the EPMD listens; 127.0.0.1:4369 by default. The
	// classic EPMD stays on loopback unless told otherwise.
	Listen string `yaml:"listen"`
	// Relaxed allows `epmd -stop`. `epmd -kill` is refused regardless:
	// the gateway's EPMD stops with the gateway.
	Relaxed bool `yaml:"relaxed"`
	// Hosts are host parts that mean this host in full-name lookups, in
	// addition to the system host name, localhost and local addresses.
	Hosts []string `yaml:"hosts"`
	// Disabled turns the EPMD listener off (a gateway in front of a host
	// that runs its own).
	Disabled bool `yaml:"disabled"`
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// Listen is a loopback host:port, or unix:/path/to/socket; by default
	// 127.0.0.1:4370. The bearer token is in <data_dir>/admin.token.
	Listen string `yaml:"listen"`
	// Probes is a host:port that answers /healthz and /readyz alone,
	// without the token, for load balancers and Kubernetes probes when
	// the admin API stays on loopback; empty: only the admin listener
	// answers them.
	Probes string `yaml:"probes"`
	// NodeMetrics, when above zero, labels per-node metrics with node
	// names, up to this many names (the others count as "_other").
	NodeMetrics int `yaml:"node_metrics"`
}

// ClusterConfig is where the site directory lives: etcd, and how this
// gateway appears in it.
type ClusterConfig struct {
	// Endpoints are etcd's client URLs ("https://10.0.0.5:2379").
	Endpoints []string `yaml:"endpoints"`
	// Cert and Key are this gateway's etcd client certificate, CA the
	// bundle that signs etcd's servers; without them the connection is
	// plain (a test cluster on loopback).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	CA   string `yaml:"ca"`
	// Prefix is the key prefix of distgate's sites in etcd; "/distgate/"
	// by default.
	Prefix string `yaml:"prefix"`
	// LeaseTTL is how long this gateway's records outlive it when it dies
	// without a clean stop; 10s by default.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// Member names this gateway in the directory; the host name and a
	// random suffix by default (a new one at each start).
	Member string `yaml:"member"`
	// Address is this host's address on the site network: where an
	// agent's nodes are reached, where an edge's links are dialled by the
	// site's agents. The first non-loopback address by default.
	Address string `yaml:"address"`
}

// LinksConfig configures the listeners peer gateways dial.
type LinksConfig struct {
	// QUIC is the UDP address for QUIC links; empty: no QUIC listener.
	QUIC string `yaml:"quic"`
	// TLS is the TCP address for TLS links; empty: no TLS listener.
	TLS string `yaml:"tls"`
	// Names are the DNS names this gateway's link certificate carries
	// (the site name is always one).
	Names []string `yaml:"names"`
	// Off disables both link listeners (the gateway still dials peers).
	// Without it, and with neither address given, both listen on
	// 127.0.0.1:4371.
	Off bool `yaml:"off"`
}

// ProxyConfig configures the loopback proxy ports of remote nodes.
type ProxyConfig struct {
	// Address is where proxy ports open; 127.0.0.1 by default.
	Address string `yaml:"address"`
	// Idle releases a proxy port unused for this long, and closes a link
	// that has carried no connection for as long; 10m by default.
	Idle Duration `yaml:"idle"`
}

// PolicyConfig configures how uploaded policies are used and run.
type PolicyConfig struct {
	// Lookup and Authorize name the uploaded policies that decide lookups
	// and authorizations ("lookup" and "authorize" by default). Until one
	// is uploaded, the built-in policy decides: the routes and rules of
	// this file and the local registry.
	Lookup    string `yaml:"lookup"`
	Authorize string `yaml:"authorize"`
	// CallTimeout bounds one policy call; 10ms by default.
	CallTimeout Duration `yaml:"call_timeout"`
	// MaxMemory caps a policy instance's memory, in MiB; 64 by default.
	MaxMemory int `yaml:"max_memory_mib"`
	// OnFailure is what a failing lookup policy answers: "deny" (default)
	// or "default", the built-in policy's route. A failing authorize
	// policy always denies.
	OnFailure string `yaml:"on_failure"`
	// Filter names the uploaded policy that filters distribution messages
	// ("filter" by default): while one that exports distgate_filter is
	// uploaded, the connections of peers' callers and TLS callers to this
	// site's nodes, and those of routes with filter set, are decoded and
	// their messages decided (abi/README.md, section 6). Without it,
	// nothing is decoded.
	Filter string `yaml:"filter"`
	// FilterOnFailure is what a filtered connection does with a message
	// when the filter policy fails on it (a trap, its deadline, the
	// engine busy): "deny" (default) drops the message, failing a spawn
	// request at once; "close" closes the connection. A connection the
	// policy fails on at "connect" is filtered all the same (each message
	// asked), or closed with "close".
	FilterOnFailure string `yaml:"filter_on_failure"`
}

// PublicConfig configures the public edge: an EPMD that answers for
// exported nodes only, and the TLS ports where nodes running OTP's
// inet_tls_dist reach them (the gateway terminates TLS and relays to the
// node's TCP port).
type PublicConfig struct {
	// EPMD is where the public EPMD listens ("0.0.0.0:4369"); off when
	// empty. It never registers, dumps, kills or stops; it answers
	// PORT_PLEASE2 for exported names with their TLS port.
	EPMD string `yaml:"epmd"`
	// Address is the IP where the per-node TLS ports open; the host of
	// EPMD by default. Set it without EPMD to terminate TLS for nodes that
	// find the ports by remote lookups.
	Address string `yaml:"address"`
	// Export lists patterns of node names (name or name@host) that the
	// built-in policy exports; none by default.
	Export []string `yaml:"export"`
	// Names lets the public EPMD answer NAMES (exported names only); off
	// by default.
	Names bool `yaml:"names"`
	// Rate and Burst limit requests per source address: 10/s and 20 by
	// default.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// ClientCA is a PEM bundle that signs the certificates of nodes that
	// may connect; with it, a client certificate is required. Its
	// identities are its own: remote.allow does not apply to them unless
	// remote.client_ca signs the same certificate.
	ClientCA string `yaml:"client_ca"`
}

// ACMEConfig obtains certificates for public names by ACME.
type ACMEConfig struct {
	// Names are DNS names the gateway obtains certificates for: the host
	// parts of exported nodes, the names of remote query endpoints.
	Names []string `yaml:"names"`
	// CA is the ACME directory URL; Let's Encrypt's by default.
	CA string `yaml:"ca"`
	// Email is the account's contact.
	Email string `yaml:"email"`
	// TrustedRoots is a PEM bundle that verifies the CA's own HTTPS
	// endpoint, for a private CA.
	TrustedRoots string `yaml:"trusted_roots"`
	// Challenge is "tls-alpn-01" (default: answered on the gateway's own
	// TLS listeners) or "http-01".
	Challenge string `yaml:"challenge"`
	// HTTPAddress is where http-01 challenges are answered (":80").
	HTTPAddress string `yaml:"http_address"`
	// TLSALPNPort is the port the CA connects to for tls-alpn-01 (443 in
	// the real world): one of the gateway's TLS listeners must be on it.
	TLSALPNPort int `yaml:"tls_alpn_port"`
	// RenewalRatio is how much of a certificate's life is left when it is
	// renewed; 1/3 by default (the CA's renewal information, when it
	// publishes some, takes precedence).
	RenewalRatio float64 `yaml:"renewal_ratio"`
	// RenewCheck is how often certificates are checked for renewal; 10m
	// by default.
	RenewCheck Duration `yaml:"renew_check"`
}

// RemoteConfig serves the EPMD extension (names with transports, full-name
// lookups) to remote clients over mutual TLS; peers also reach it over a
// QUIC stream on the link port.
type RemoteConfig struct {
	// Listen is the TCP address of the remote query listener; off when
	// empty.
	Listen string `yaml:"listen"`
	// ClientCA is a PEM bundle that signs the clients' certificates.
	ClientCA string `yaml:"client_ca"`
	// Allow is the built-in policy: which client identities may see which
	// nodes.
	Allow []RemoteRule `yaml:"allow"`
}

// RemoteRule lets the identities matching Identity look up the nodes
// matching Nodes, and list them when List is set.
type RemoteRule struct {
	Identity string   `yaml:"identity"` // a pattern on the identity of a certificate remote.client_ca signs (its first URI name, else DNS name, else CN)
	Nodes    []string `yaml:"nodes"`    // patterns on node names
	List     bool     `yaml:"list"`
}

// PeerConfig describes a peer gateway.
type PeerConfig struct {
	// Site is the peer's site name.
	Site string `yaml:"site"`
	// QUIC and TLS are the peer's link addresses (host:port), one or a
	// list: the edges of a site of many hosts, or a DNS name with a record
	// for each. At least one is needed. Links go to the healthiest edge
	// and fail over to another. A route that names no transport takes
	// QUIC when the peer has a QUIC address, else TLS.
	QUIC Addrs `yaml:"quic"`
	TLS  Addrs `yaml:"tls"`
	// Identity pins the peer's identity, as `distgate id` prints it.
	Identity string `yaml:"identity"`
	// CA is a PEM bundle that signs the peer's link certificate, checked
	// against ServerName (the site name by default).
	CA         string `yaml:"ca"`
	ServerName string `yaml:"server_name"`
}

// RouteConfig is one line of the static routing table.
type RouteConfig struct {
	// Match is a pattern on the full node name (name@host), with * and ?
	// as in shell globs; "*@*.site-b.example".
	Match string `yaml:"match"`
	// Site routes matching nodes via that peer; "local" (or empty with
	// Deny unset) answers from this host's registry.
	Site string `yaml:"site"`
	// Via, when set, is the peer the route's streams go to when Site is
	// not one: a transit site, whose own routes lead on to Site ("site-c
	// via site-b"). Each gateway on the way authorizes the stream; a loop
	// of routes ends at linkwire.MaxHops.
	Via string `yaml:"via"`
	// Transport is "quic" or "tls"; the peer's first configured one when
	// empty.
	Transport string `yaml:"transport"`
	// Deny refuses matching nodes with this reason.
	Deny string `yaml:"deny"`
	// Liveness closes relayed connections of this route when their link
	// has been silent this long; 15s by default.
	Liveness Duration `yaml:"liveness"`
	// Tick, when set, is how often the gateway sends a distribution tick
	// to the local node on a quiet relayed connection.
	Tick Duration `yaml:"tick"`
	// Priority orders routes that match equally; higher first.
	Priority int `yaml:"priority"`
	// Filter decodes the connections local nodes make to matching nodes
	// with the filter policy (policy.filter): what those nodes send back
	// is decided message by message. Connections that come in (from
	// peers' callers, TLS callers) are filtered whenever the policy is
	// uploaded.
	Filter bool `yaml:"filter"`
}

// Addrs is one address or a list of them, in YAML a scalar or a sequence.
type Addrs []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *Addrs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*a = nil
		if s != "" {
			*a = Addrs{s}
		}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*a = l
	return nil
}

// Duration is a time.Duration written as "3s", "250ms" in YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %s", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Defaults.
const (
	DefaultEPMDListen      = "127.0.0.1:4369"
	DefaultAdminListen     = "127.0.0.1:4370"
	DefaultLinkPort        = "4371"
	DefaultProxyIdle       = 10 * time.Minute
	DefaultLiveness        = 15 * time.Second
	DefaultPolicyCall      = 10 * time.Millisecond
	DefaultRenewCheck      = 10 * time.Minute
	DefaultSite            = "local"
	DefaultClusterPrefix   = "/distgate/"
	DefaultLeaseTTL        = 10 * time.Second
	roleStandalone         = "standalone"
	roleAgent              = "agent"
	roleEdge               = "edge"
	defaultLookupPolicy    = "lookup"
	defaultAuthorizePolicy = "authorize"
	defaultFilterPolicy    = "filter"
	filterFailDeny         = "deny"
	filterFailClose        = "close"
	onFailureDeny          = "deny"
	onFailureDefault       = "default"
	challengeTLSALPN       = "tls-alpn-01"
	challengeHTTP          = "http-01"
	routeSiteLocal         = "local"
)

// LoadConfig reads and validates a configuration file.
func LoadConfig(file string) (Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFileLength+1))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", file, err)
	}
	if len(b) > maxConfigFileLength {
		return Config{}, fmt.Errorf("config %s: larger than %d bytes", file, maxConfigFileLength)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", file, err)
	}
	// Relative paths in the file are relative to the file.
	dir := filepath.Dir(file)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if cfg.DataDir != "" {
		rel(&cfg.DataDir)
	}
	for i := range cfg.Peers {
		rel(&cfg.Peers[i].CA)
	}
	rel(&cfg.Cluster.Cert)
	rel(&cfg.Cluster.Key)
	rel(&cfg.Cluster.CA)
	rel(&cfg.Public.ClientCA)
	rel(&cfg.ACME.TrustedRoots)
	rel(&cfg.Remote.ClientCA)
	return cfg, nil
}

// ParseConfig parses YAML, refusing unknown keys, and validates it.
func ParseConfig(b []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// WithDefaults returns a copy of c with every zero value replaced by its
// default. The data directory defaults to $XDG_STATE_HOME/distgate, else
// ~/.local/state/distgate, else, for root, /var/lib/distgate; it stays
// empty when none applies, and the gateway then refuses to start
// (datadir.ErrNoDataDir).
func (c Config) WithDefaults() Config {
	if c.Site == "" {
		c.Site = DefaultSite
	}
	if c.DataDir == "" {
		c.DataDir = datadir.Default()
	}
	if c.Role == "" {
		c.Role = roleStandalone
	}
	if c.Role != roleStandalone {
		if c.Cluster.Prefix == "" {
			c.Cluster.Prefix = DefaultClusterPrefix
		}
		if c.Cluster.LeaseTTL == 0 {
			c.Cluster.LeaseTTL = Duration(DefaultLeaseTTL)
		}
	}
	switch c.Role {
	case roleEdge:
		c.EPMD.Disabled = true // the agents of the site are the EPMDs
	case roleAgent:
		c.Links.Off = true // an agent dials its site's edges; nothing dials it
	}
	if c.EPMD.Listen == "" {
		c.EPMD.Listen = DefaultEPMDListen
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Links.QUIC == "" && c.Links.TLS == "" && !c.Links.Off {
		c.Links.QUIC = "127.0.0.1:" + DefaultLinkPort
		c.Links.TLS = "127.0.0.1:" + DefaultLinkPort
	}
	if c.Proxy.Address == "" {
		c.Proxy.Address = "127.0.0.1"
	}
	if c.Proxy.Idle == 0 {
		c.Proxy.Idle = Duration(DefaultProxyIdle)
	}
	if c.Policy.CallTimeout == 0 {
		c.Policy.CallTimeout = Duration(DefaultPolicyCall)
	}
	if c.Policy.Lookup == "" {
		c.Policy.Lookup = defaultLookupPolicy
	}
	if c.Policy.Authorize == "" {
		c.Policy.Authorize = defaultAuthorizePolicy
	}
	if c.Policy.Filter == "" {
		c.Policy.Filter = defaultFilterPolicy
	}
	if c.Policy.FilterOnFailure == "" {
		c.Policy.FilterOnFailure = filterFailDeny
	}
	if c.Policy.OnFailure == "" {
		c.Policy.OnFailure = onFailureDeny
	}
	if c.Public.Rate == 0 {
		c.Public.Rate = 10
	}
	if c.Public.Burst == 0 {
		c.Public.Burst = 20
	}
	if c.Public.Address == "" && c.Public.EPMD != "" {
		c.Public.Address, _, _ = net.SplitHostPort(c.Public.EPMD)
	}
	if c.ACME.Challenge == "" {
		c.ACME.Challenge = challengeTLSALPN
	}
	if c.ACME.RenewCheck == 0 {
		c.ACME.RenewCheck = Duration(DefaultRenewCheck)
	}
	if c.ACME.CA == "" {
		c.ACME.CA = "https://acme-v02.api.letsencrypt.org/directory"
	}
	for i := range c.Routes {
		if c.Routes[i].Liveness == 0 {
			c.Routes[i].Liveness = Duration(DefaultLiveness)
		}
	}
	return c
}
