//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/internal/freeport"
)

// liveness is the routes' liveness timeout: long enough that nothing in
// the bench mistakes load for a dead peer.
const liveness = 10 * time.Second

// site is one distgate gateway run as `distgate run -config`, with its own
// data directory, EPMD and admin API on loopback, as in the end-to-end
// tests, and link listeners on its place's address (loopback, or a WAN
// site's).
type site struct {
	name     string // site-a, site-b
	at       place
	host     string // host part of its node names
	dir      string
	config   string
	id       string
	epmdPort int
	admin    string
	link     string // host:port of both the QUIC and the TLS listener
	proc     *child
	// publicPort is the public EPMD of a terminating gateway.
	publicPort int
	// extra is YAML appended to the configuration writeConfig writes.
	extra string
	// idle, when set, is the gateway's proxy.idle: how soon it lets an
	// unused link go (the link setup measurement).
	idle time.Duration
}

func newSite(bin, dir, name string, at place) (*site, error) {
	dir = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &site{name: name, at: at, host: "n1." + name + ".example", dir: dir, config: filepath.Join(dir, "distgate.yaml")}
	var err error
	if s.epmdPort, err = freeport.TCP(); err != nil {
		return nil, err
	}
	adminPort, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	s.admin = "127.0.0.1:" + strconv.Itoa(adminPort)
	if s.link, err = freeLinkAddr(); err != nil {
		return nil, err
	}
	if at.ns != "" { // a fresh namespace: the port is free there too
		_, port, _ := net.SplitHostPort(s.link)
		s.link = net.JoinHostPort(at.addr, port)
	}
	out, err := exec.Command(bin, "id", "-data", s.dataDir()).Output()
	if err != nil {
		return nil, fmt.Errorf("distgate id: %w", err)
	}
	s.id = strings.TrimSpace(string(out))
	return s, nil
}

func (s *site) dataDir() string { return filepath.Join(s.dir, "data") }

// writeConfig writes the site's configuration: its peer and a route of the
// peer's node names over transport.
func (s *site) writeConfig(transport string, peer *site) error {
	var b strings.Builder
	fmt.Fprintf(&b, "site: %s\ndata_dir: %s\n", s.name, s.dataDir())
	fmt.Fprintf(&b, "epmd:\n  listen: 127.0.0.1:%d\n  hosts: [%s]\n", s.epmdPort, s.host)
	fmt.Fprintf(&b, "admin:\n  listen: %s\n", s.admin)
	fmt.Fprintf(&b, "links:\n  quic: %s\n  tls: %s\n", s.link, s.link)
	fmt.Fprintf(&b, "peers:\n  - site: %s\n    quic: %s\n    tls: %s\n    identity: %s\n", peer.name, peer.link, peer.link, peer.id)
	fmt.Fprintf(&b, "routes:\n  - match: \"*@*.%s.example\"\n    site: %s\n    transport: %s\n    liveness: %s\n", peer.name, peer.name, transport, liveness)
	b.WriteString(s.extra)
	if s.idle > 0 {
		fmt.Fprintf(&b, "proxy:\n  idle: %s\n", s.idle)
	}
	return os.WriteFile(s.config, []byte(b.String()), 0o600)
}

func (s *site) start(ctx context.Context, bin string, env []string) error {
	c, err := startChild(s.name, s.at, env, false, bin, "run", "-config", s.config)
	if err != nil {
		return err
	}
	s.proc = c
	if err := waitListening(ctx, s.at, "127.0.0.1:"+strconv.Itoa(s.epmdPort), c, 30*time.Second); err != nil {
		c.Stop()
		return err
	}
	return nil
}

func (s *site) stop() { s.proc.Stop() }

func (s *site) epmdClient() *epmd.Client {
	return &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(s.epmdPort), Timeout: 5 * time.Second}
}

// gatewayPair starts site-a at place pa and site-b at pb, each routing
// the other's node names to it over transport; idle is their proxy.idle
// (zero: the default); extraB is more YAML for site-b's configuration.
func gatewayPair(ctx context.Context, bin, dir, transport string, env []string, pa, pb place, idle time.Duration, extraB string) (a, b *site, err error) {
	dir = filepath.Join(dir, "gw-"+transport+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if a, err = newSite(bin, dir, "site-a", pa); err != nil {
		return nil, nil, err
	}
	if b, err = newSite(bin, dir, "site-b", pb); err != nil {
		return nil, nil, err
	}
	b.extra = extraB
	a.idle, b.idle = idle, idle
	if err = a.writeConfig(transport, b); err != nil {
		return nil, nil, err
	}
	if err = b.writeConfig(transport, a); err != nil {
		return nil, nil, err
	}
	if err = a.start(ctx, bin, env); err != nil {
		return nil, nil, err
	}
	if err = b.start(ctx, bin, env); err != nil {
		a.stop()
		return nil, nil, err
	}
	return a, b, nil
}

// adminGet fetches a path of the site's admin API with its bearer token.
func (s *site) adminGet(ctx context.Context, path string) ([]byte, error) {
	tok, err := os.ReadFile(filepath.Join(s.dataDir(), "admin.token"))
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.admin+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return s.at.dial(ctx, addr)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// cpuProfile fetches a CPU profile of the gateway over the admin API's
// pprof handler and writes it to file.
func (s *site) cpuProfile(ctx context.Context, seconds int, file string) error {
	b, err := s.adminGet(ctx, "/debug/pprof/profile?seconds="+strconv.Itoa(seconds))
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// goTrace fetches a Go execution trace of the gateway, of the given
// seconds after a delay, over the admin API, and writes it to file.
func (s *site) goTrace(ctx context.Context, after time.Duration, seconds int, file string) error {
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return ctx.Err()
	}
	b, err := s.adminGet(ctx, "/debug/pprof/trace?seconds="+strconv.Itoa(seconds))
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// goStats are a gateway's Go memory figures after a forced GC, from the
// pprof heap endpoint's runtime.MemStats section.
type goStats struct {
	heapInuse  int64 // bytes in in-use heap spans
	stackInuse int64 // bytes of goroutine stacks
	goroutines int64
}

func (s *site) goStats(ctx context.Context) (goStats, error) {
	heap, err := s.adminGet(ctx, "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return goStats{}, err
	}
	gr, err := s.adminGet(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return goStats{}, err
	}
	return parseGoStats(string(heap), string(gr))
}

// parseGoStats reads "# HeapInuse = N", "# Stack = N / M" and
// "goroutine profile: total N".
func parseGoStats(heap, goroutines string) (goStats, error) {
	var st goStats
	var found int
	for _, l := range strings.Split(heap, "\n") {
		if v, ok := strings.CutPrefix(l, "# HeapInuse = "); ok {
			st.heapInuse, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			found++
		}
		if v, ok := strings.CutPrefix(l, "# Stack = "); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				st.stackInuse, _ = strconv.ParseInt(f[0], 10, 64)
				found++
			}
		}
	}
	first, _, _ := strings.Cut(goroutines, "\n")
	if v, ok := strings.CutPrefix(first, "goroutine profile: total "); ok {
		st.goroutines, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		found++
	}
	if found != 3 {
		return st, fmt.Errorf("pprof: memory figures not found")
	}
	return st, nil
}

// terminateSite starts one gateway that exports every node and opens TLS
// termination ports on loopback; its certificate names benchHost.
func terminateSite(ctx context.Context, bin, dir string, env []string) (*site, error) {
	dir = filepath.Join(dir, "gw-terminate-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	s, err := newSite(bin, dir, "edge", local)
	if err != nil {
		return nil, err
	}
	public, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	s.publicPort = public
	cfg := fmt.Sprintf(`site: edge
data_dir: %s
epmd: {listen: "127.0.0.1:%d", hosts: [%s]}
admin: {listen: %q}
links: {off: true, names: [%s]}
public: {epmd: "127.0.0.1:%d", address: 127.0.0.1, export: ["*"], rate: 1000, burst: 1000}
`, s.dataDir(), s.epmdPort, benchHost, s.admin, benchHost, public)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if err := s.start(ctx, bin, env); err != nil {
		return nil, err
	}
	// The public EPMD opens after the local one: wait for it too (a
	// loaded machine left it closed when the bench asked it).
	if err := waitListening(ctx, s.at, "127.0.0.1:"+strconv.Itoa(public), s.proc, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// terminationPort finds the TLS port of a node name at a terminating
// gateway: its public EPMD answers PORT_PLEASE2 for registered exported
// names, so a placeholder registers the name until the port is open (the
// port stays; the gateway finds the real node when a caller connects).
func (s *site) terminationPort(ctx context.Context, name string) (int, error) {
	reg, err := s.epmdClient().Register(ctx, epmd.Alive2{Port: 1, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: name})
	if err != nil {
		return 0, fmt.Errorf("placeholder registration: %w", err)
	}
	defer reg.Close()
	pub := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(s.publicPort), Timeout: 5 * time.Second}
	info, err := pub.PortPlease(ctx, name)
	if err != nil || info == nil {
		return 0, fmt.Errorf("public PORT_PLEASE2 %s: %v %v", name, info, err)
	}
	return int(info.Port), nil
}

// linkStat is what a gateway's status says of one of its links.
type linkStat struct {
	Transport  string        `json:"transport"`
	Direction  string        `json:"direction"`
	RTT        time.Duration `json:"rtt_ns"`
	BytesOut   uint64        `json:"bytes_out"`
	Cwnd       uint64        `json:"cwnd_bytes"`
	PacketsOut uint64        `json:"packets_out"`
	PacketsIn  uint64        `json:"packets_in"`
	Lost       uint64        `json:"packets_lost"`
}

// linkStats reads the gateway's links from its admin API (nil on error:
// the figures are only shown).
func (s *site) linkStats(ctx context.Context) []linkStat {
	b, err := s.adminGet(ctx, "/v1/status")
	if err != nil {
		return nil
	}
	var st struct {
		Links []linkStat `json:"links"`
	}
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	return st.Links
}

// linkUp matches a gateway's log line of a link it dialled: its
// handshake, whether it resumed, and over TLS whether its SYN carried the
// ClientHello (TCP Fast Open; absent from older gateways' lines).
var linkUp = regexp.MustCompile(`msg="link up" .*direction=out .*handshake=(\S+) resumed=(true|false)(?: key_exchange=\S+)?(?: syn_data=(true|false))?`)

// linkHandshake finds the first link a gateway dialled in its log: how
// long the handshake took, and whether it resumed a session.
func linkHandshake(log string) (time.Duration, bool) {
	m := linkUp.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	d, _ := time.ParseDuration(m[1])
	return d, m[2] == "true"
}
