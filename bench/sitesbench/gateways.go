package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/internal/freeport"
)

// gateway is a distgate process of the benchmark: standalone, an agent or
// an edge, configured on loopback.
type gateway struct {
	name   string
	dir    string
	config string
	admin  string // its admin API, 127.0.0.1:port
	epmd   int    // its EPMD port; 0 for an edge
	quic   int    // its QUIC link port; 0 but for an edge
	token  string
	proc   *child
}

// newGateway makes a gateway's directory and ports; write and start run it.
func (b *bench) newGateway(name, role string) (*gateway, error) {
	g := &gateway{name: name, dir: filepath.Join(b.dir, name)}
	g.config = filepath.Join(g.dir, "distgate.yaml")
	if err := os.MkdirAll(filepath.Join(g.dir, "data"), 0o700); err != nil {
		return nil, err
	}
	ap, err := freeport.Link()
	if err != nil {
		return nil, err
	}
	g.admin = fmt.Sprintf("127.0.0.1:%d", ap)
	switch role {
	case "edge":
		g.quic, err = freeport.Link()
	default:
		g.epmd, err = freeport.Link()
	}
	return g, err
}

// identity returns the gateway's link identity, making it on first use.
func (b *bench) identity(g *gateway) (string, error) {
	out, err := exec.Command(b.o.distgate, "id", "-data", filepath.Join(g.dir, "data")).Output()
	if err != nil {
		return "", fmt.Errorf("%s: distgate id: %w", g.name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// shareIdentity gives g the identity of from: the edges of a site share
// the identity their peers pin.
func (b *bench) shareIdentity(g, from *gateway) error {
	if _, err := b.identity(from); err != nil {
		return err
	}
	for _, f := range []string{"identity.key", "identity.crt"} {
		v, err := os.ReadFile(filepath.Join(from.dir, "data", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(g.dir, "data", f), v, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// write writes the gateway's configuration: site, role, data, admin, the
// site directory (for an agent or an edge), its EPMD or link listener,
// then body.
func (b *bench) write(g *gateway, site, role, host, body string) error {
	var s strings.Builder
	fmt.Fprintf(&s, "site: %s\nrole: %s\ndata_dir: %s\nadmin: {listen: %q}\n", site, role, filepath.Join(g.dir, "data"), g.admin)
	if role != "standalone" {
		fmt.Fprintf(&s, "cluster:\n  endpoints: [%s]\n  lease_ttl: 5s\n  member: %s\n  address: 127.0.0.1\n",
			strings.Join(b.etcd.clients, ", "), g.name)
	}
	if g.epmd != 0 {
		fmt.Fprintf(&s, "epmd: {listen: \"127.0.0.1:%d\", hosts: [%s]}\n", g.epmd, host)
	}
	if g.quic != 0 {
		fmt.Fprintf(&s, "links: {quic: \"127.0.0.1:%d\"}\n", g.quic)
	}
	s.WriteString(body)
	return os.WriteFile(g.config, []byte(s.String()), 0o600)
}

// start runs the gateway and waits for its admin API, the last listener
// it opens.
func (b *bench) start(g *gateway) error {
	p, err := benchutil.StartChild(g.name, nil, false, b.o.distgate, "run", "-config", g.config)
	if err != nil {
		return err
	}
	g.proc = p
	b.track(p)
	if err := waitListening(g.admin, p, 60*time.Second); err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(g.dir, "data", "admin.token"))
	if err != nil {
		return err
	}
	g.token = strings.TrimSpace(string(tok))
	return nil
}

// get reads an admin API path into v (when 200) and returns the status.
func (g *gateway) get(path string, v any) (int, error) {
	req, err := http.NewRequest("GET", "http://"+g.admin+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return 0, fmt.Errorf("%s %s: %w", g.name, path, err)
		}
	}
	return resp.StatusCode, nil
}

var adminClient = &http.Client{Timeout: 5 * time.Second}

// status is what the benchmark reads of GET /v1/status.
type status struct {
	Relays    []json.RawMessage `json:"relays"`
	Directory *struct {
		Stale   bool `json:"stale"`
		Nodes   int  `json:"nodes"`
		Members []struct {
			ID string `json:"id"`
		} `json:"members"`
	} `json:"directory"`
}

func (g *gateway) status() (status, error) {
	var st status
	code, err := g.get("/v1/status", &st)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("%s: status: HTTP %d", g.name, code)
	}
	return st, err
}

// siteNodes is how many registrations the gateway's directory cache holds
// (-1 when it does not answer).
func (g *gateway) siteNodes() int {
	st, err := g.status()
	if err != nil || st.Directory == nil {
		return -1
	}
	return st.Directory.Nodes
}

// profile writes the gateway's CPU profile over the next d to path.
func (g *gateway) profile(path string, d time.Duration) error {
	req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.admin, max(int(d/time.Second), 1)), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("%s: profile: %w", g.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: profile: HTTP %d", g.name, resp.StatusCode)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
