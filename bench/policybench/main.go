// Command policybench measures distgate's policies: one lookup decision
// end to end in process (encode, call, decode) for the WAT sample and for
// the Go static-map sample; then EPMD lookups per second with the Go
// static-map policy active in a running gateway, against the stock epmd
// measured in the same run, both holding 900 live registrations and
// driven by 8 clients (a new connection per lookup, as OTP does).
//
//	go run ./bench/policybench -distgate bin/distgate
//
// Its last line:
//
//	policy-decision p50_ns=<WAT p50> p99_ns=<WAT p99> epmd_ratio=<distgate/stock lookups/s>
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/wasm"
	"github.com/distgate/distgate/wasm/wasmtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	distgate  string
	stock     string
	names     int
	clients   int
	duration  time.Duration
	decisions int
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.distgate, "distgate", "", "the distgate `binary` (required)")
	fs.StringVar(&o.stock, "stock", "epmd", "OTP's epmd `binary`")
	fs.IntVar(&o.names, "names", 900, "live registrations held on each daemon")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each lookup phase")
	fs.IntVar(&o.decisions, "decisions", 200000, "decisions timed in process, per sample")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.distgate == "" {
		fmt.Fprintln(stderr, "policybench: -distgate is required")
		return 2
	}
	if err := bench(o, stdout); err != nil {
		fmt.Fprintf(stderr, "policybench: %v\n", err)
		return 1
	}
	return 0
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func bench(o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "policybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root := repoRoot()
	goWasm, err := wasmtest.BuildGo(filepath.Join(root, "samples/policies/static-map"), filepath.Join(dir, "static-map.wasm"))
	if err != nil {
		return err
	}
	watWasm, err := wasmtest.BuildWAT(filepath.Join(root, "samples/policies/local-only/local-only.wat"), filepath.Join(dir, "local-only.wasm"))
	if err != nil {
		return err
	}
	goConfig, err := os.ReadFile(filepath.Join(root, "samples/policies/static-map/config.json"))
	if err != nil {
		return err
	}

	// 1. One decision, end to end in process.
	ctx := context.Background()
	eng, err := wasm.New(ctx, wasm.Config{})
	if err != nil {
		return err
	}
	defer eng.Close(ctx)
	if _, err := eng.Install(ctx, "wat", watWasm, nil); err != nil {
		return err
	}
	if _, err := eng.Install(ctx, "go", goWasm, goConfig); err != nil {
		return err
	}
	req := wasmtest.LookupRequest()
	watP50, watP99, err := wasm.MeasureDecisions(ctx, eng, "wat", req, o.decisions)
	if err != nil {
		return fmt.Errorf("WAT decisions: %w", err)
	}
	goP50, goP99, err := wasm.MeasureDecisions(ctx, eng, "go", req, o.decisions)
	if err != nil {
		return fmt.Errorf("Go decisions: %w", err)
	}
	fmt.Fprintf(out, "one lookup decision in process (encode, call, decode), %d each:\n", o.decisions)
	fmt.Fprintf(out, "  %-22s p50 %8s  p99 %8s\n", "WAT local-only", watP50, watP99)
	fmt.Fprintf(out, "  %-22s p50 %8s  p99 %8s\n", "Go static-map", goP50, goP99)
	eng.Close(ctx)

	// 2. EPMD lookups/s: the stock epmd, then a gateway with the Go policy.
	stockPort, stop, err := startDaemon(o.stock, "-port")
	if err != nil {
		return fmt.Errorf("stock epmd: %w", err)
	}
	defer stop()
	stockRegs, err := register(stockPort, o.names)
	if err != nil {
		return fmt.Errorf("stock epmd: %w", err)
	}
	defer closeAll(stockRegs)
	stockRes := drive(stockPort, o, func(i int) []byte { return epmd.AppendPortPlease2(nil, fmt.Sprintf("n%04d", i%o.names)) }, classicOK)
	closeAll(stockRegs)
	stop()

	gw, err := startGateway(o.distgate, dir)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer gw.stop()
	if err := gw.push("lookup", goWasm, []byte(`{"routes": [{"match": "*@*.bench.example", "local": true}], "default": {"site": "hub", "transport": "tls"}}`)); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	regs, err := register(gw.epmdPort, o.names)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer closeAll(regs)
	dgRes := drive(gw.epmdPort, o, func(i int) []byte {
		return epmd.LookupRequest{Node: fmt.Sprintf("n%04d@h.bench.example", i%o.names), Accept: []string{"inet_tcp"}}.Append(nil)
	}, extOK)
	calls, err := gw.policyCalls()
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nEPMD lookups, %d names each, %d clients, %s, a new connection per lookup:\n", o.names, o.clients, o.duration)
	fmt.Fprintf(out, "  %-40s %10s %10s %10s %8s\n", "daemon", "lookups/s", "p50", "p99", "errors")
	for _, r := range []struct {
		name string
		res  result
	}{{"stock epmd, PORT_PLEASE2 of a registered name", stockRes}, {"distgate + Go static-map, LOOKUP_X", dgRes}} {
		fmt.Fprintf(out, "  %-40s %10.0f %10s %10s %8d\n", r.name, r.res.rate(), r.res.p50, r.res.p99, r.res.errors)
	}
	fmt.Fprintf(out, "  (the gateway's lookup policy answered %d calls)\n", calls)
	ratio := 0.0
	if stockRes.rate() > 0 {
		ratio = dgRes.rate() / stockRes.rate()
	}
	fmt.Fprintf(out, "policy-decision p50_ns=%d p99_ns=%d epmd_ratio=%.2f\n", watP50.Nanoseconds(), watP99.Nanoseconds(), ratio)
	return nil
}

// result is one lookup phase's outcome.
type result struct {
	ok, errors int64
	elapsed    time.Duration
	p50, p99   time.Duration
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func classicOK(b []byte) bool { return len(b) >= 12 && b[0] == 'w' && b[1] == 0 }
func extOK(b []byte) bool     { return len(b) >= 7 && b[0] == 'l' && b[2] == 0 }

// drive runs o.clients clients for o.duration, each doing one lookup per
// connection, bounded also in count.
func drive(port int, o options, payload func(i int) []byte, ok func([]byte) bool) result {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var okN, errN atomic.Int64
	lat := make([][]time.Duration, o.clients)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := c; time.Now().Before(deadline) && i < 10_000_000; i += o.clients {
				t0 := time.Now()
				reply, err := oneLookup(addr, epmd.AppendFrame(nil, payload(i)), buf)
				if err != nil || !ok(reply) {
					errN.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
				okN.Add(1)
			}
		}()
	}
	wg.Wait()
	r := result{ok: okN.Load(), errors: errN.Load(), elapsed: time.Since(start)}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

func oneLookup(addr string, req, buf []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if err == io.EOF || n == len(buf) {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		if n >= 7 && buf[0] == 'l' {
			// An extension reply says its length: no need to wait for the close.
			if body := int(buf[3])<<24 | int(buf[4])<<16 | int(buf[5])<<8 | int(buf[6]); n >= 7+body {
				return buf[:n], nil
			}
		}
	}
}

// register holds n ALIVE2 registrations.
func register(port, n int) ([]*epmd.Registered, error) {
	c := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 10 * time.Second}
	regs := make([]*epmd.Registered, 0, n)
	for i := range n {
		r, err := c.Register(context.Background(), epmd.Alive2{Port: uint16(20000 + i), NodeType: 'M', HighVsn: 6, LowVsn: 6, Name: fmt.Sprintf("n%04d", i)})
		if err != nil {
			closeAll(regs)
			return nil, fmt.Errorf("registration %d: %w", i, err)
		}
		regs = append(regs, r)
	}
	return regs, nil
}

func closeAll(regs []*epmd.Registered) {
	for _, r := range regs {
		r.Close()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
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

// startDaemon runs an epmd in the foreground on a free port.
func startDaemon(bin, portFlag string, extra ...string) (int, func(), error) {
	port, err := freePort()
	if err != nil {
		return 0, nil, err
	}
	cmd := exec.Command(bin, append(extra, portFlag, strconv.Itoa(port))...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT=")
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	if err := waitListening("127.0.0.1:" + strconv.Itoa(port)); err != nil {
		stop()
		return 0, nil, err
	}
	return port, stop, nil
}

// gatewayProc is a distgate gateway run for the benchmark.
type gatewayProc struct {
	cmd      *exec.Cmd
	epmdPort int
	admin    string
	token    string
}

func startGateway(bin, dir string) (*gatewayProc, error) {
	ep, err := freePort()
	if err != nil {
		return nil, err
	}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	g := &gatewayProc{epmdPort: ep, admin: "127.0.0.1:" + strconv.Itoa(ap)}
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "gateway.yaml")
	// A peer that is never dialled: the policy's default route names it.
	os.WriteFile(cfg, fmt.Appendf(nil, `site: bench
data_dir: %s
epmd: {listen: "127.0.0.1:%d"}
admin: {listen: %q}
links: {off: true}
peers:
  - {site: hub, tls: "127.0.0.1:9", identity: "dg1:%s"}
`, data, ep, g.admin, strings.Repeat("a", 52)), 0o600)
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

func (g *gatewayProc) stop() {
	if g.cmd.ProcessState == nil {
		g.cmd.Process.Kill()
		g.cmd.Wait()
	}
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
