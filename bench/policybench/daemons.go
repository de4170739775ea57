package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/internal/freeport"
)

// daemonProc is a daemon the benchmark runs as its child.
type daemonProc struct {
	name string
	cmd  *exec.Cmd
	port int // its EPMD port
	once sync.Once
}

func (d *daemonProc) stop() {
	d.once.Do(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	})
}

// cpu returns the daemon's CPU time so far, user and system, from
// /proc/PID/stat.
func (d *daemonProc) cpu() (time.Duration, error) {
	t, err := benchutil.CPUTime(d.cmd.Process.Pid)
	if err != nil {
		return 0, fmt.Errorf("%s: CPU time: %w", d.name, err)
	}
	return t, nil
}

func waitListening(addr string) error {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// startStock runs OTP's epmd in the foreground on a free port.
func startStock(bin string) (*daemonProc, error) {
	port, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	d := &daemonProc{name: "stock epmd", port: port, cmd: exec.Command(bin, "-port", strconv.Itoa(port))}
	d.cmd.Env = append(os.Environ(), "ERL_EPMD_PORT=")
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitListening("127.0.0.1:" + strconv.Itoa(port)); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// gatewayProc is a distgate gateway run for the benchmark.
type gatewayProc struct {
	daemonProc
	admin string
	token string
}

// startGateway runs `distgate run` with its data under dir. Its EPMD
// takes h.bench.example for a name of its host, so that the built-in
// router answers the lookups of the benchmark as a policy does.
func startGateway(bin, dir string) (*gatewayProc, error) {
	ep, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	ap, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	g := &gatewayProc{daemonProc: daemonProc{name: "distgate " + filepath.Base(dir), port: ep}, admin: "127.0.0.1:" + strconv.Itoa(ap)}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A peer that is never dialled: the policy's default route names it.
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `site: bench
data_dir: %s
epmd: {listen: "127.0.0.1:%d", hosts: [h.bench.example]}
admin: {listen: %q}
links: {off: true}
peers:
  - {site: hub, tls: "127.0.0.1:9", identity: "dg1:%s"}
`, data, ep, g.admin, strings.Repeat("a", 52)), 0o600); err != nil {
		return nil, err
	}
	g.cmd = exec.Command(bin, "run", "-config", cfg)
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitListening(g.admin); err != nil {
		g.stop()
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		g.stop()
		return nil, err
	}
	g.token = strings.TrimSpace(string(tok))
	return g, nil
}

func (g *gatewayProc) request(method, path string, body io.Reader, ctype string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+g.admin+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b, nil
}

func (g *gatewayProc) push(name string, module, config []byte) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("module", name+".wasm")
	w.Write(module)
	w, _ = mw.CreateFormFile("config", "config.json")
	w.Write(config)
	mw.Close()
	_, err := g.request("POST", "/v1/policies/"+name, &body, mw.FormDataContentType())
	return err
}

// policyCalls reads how many decisions the lookup policy answered.
func (g *gatewayProc) policyCalls() (uint64, error) {
	b, err := g.request("GET", "/v1/policies/lookup", nil, "")
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte(`"Calls": `))
	if i < 0 {
		return 0, fmt.Errorf("no call count in %s", b)
	}
	n, _ := strconv.ParseUint(string(bytes.TrimRight(bytes.SplitN(b[i+9:], []byte(","), 2)[0], " \n}")), 10, 64)
	return n, nil
}
