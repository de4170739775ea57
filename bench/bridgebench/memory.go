//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/distgate/distgate/epmd"
	"github.com/distgate/distgate/gateway/handshake"
)

// memResult is the memory one gateway pair spent on idle relays.
type memResult struct {
	transport string
	conns     int
	sites     [2]siteMem
}

// siteMem is one gateway's figures: VmRSS before and after the idle
// connections, and Go's own view after a forced GC (taken after the RSS).
type siteMem struct {
	name                string
	rssBefore, rssAfter int64 // KiB
	before, after       goStats
	statsErr            error
}

func (s siteMem) perConn(n int) float64 { return float64(s.rssAfter-s.rssBefore) / float64(n) }

// maxPerConn is the larger of both gateways' RSS per connection, in KiB.
func (m memResult) maxPerConn() float64 {
	return max(m.sites[0].perConn(m.conns), m.sites[1].perConn(m.conns))
}

// echoNode stands in for an Erlang node at site B: after a caller's
// send_name it echoes every byte. It registers with the site's EPMD as
// name@host with one inet_tcp transport.
type echoNode struct {
	ln  net.Listener
	reg *epmd.Registered
	mu  sync.Mutex
	cs  []net.Conn
}

func startEchoNode(ctx context.Context, s *site, name string) (*echoNode, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &echoNode{ln: ln}
	go e.serve()
	e.reg, err = s.epmdClient().RegisterX(ctx, epmd.Registration{Name: name, Host: s.host, Transports: []epmd.Transport{
		{Proto: "inet_tcp", Port: uint16(ln.Addr().(*net.TCPAddr).Port), Family: epmd.FamilyInet, HighVsn: 6, LowVsn: 6},
	}})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("register %s with %s: %w", name, s.name, err)
	}
	return e, nil
}

func (e *echoNode) serve() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.cs = append(e.cs, c)
		e.mu.Unlock()
		go func() {
			if _, _, err := handshake.ReadFrame(c, 2, handshake.MaxSendName); err != nil {
				c.Close()
				return
			}
			io.Copy(c, c)
			c.Close()
		}()
	}
}

func (e *echoNode) close() {
	e.reg.Close()
	e.ln.Close()
	e.mu.Lock()
	for _, c := range e.cs {
		c.Close()
	}
	e.mu.Unlock()
}

// openIdle opens one relayed connection through a proxy port: send_name,
// then size bytes that must come back; it is then left idle.
func openIdle(proxy, caller string, size int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, 30*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	body := handshake.AppendSendNameV6(nil, handshake.SendName{Name: caller, Flags: 1})
	msg := append([]byte{byte(len(body) >> 8), byte(len(body))}, body...)
	ping := make([]byte, size)
	for i := range ping {
		ping[i] = byte(i)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(append(msg, ping...))
		werr <- err
	}()
	back := make([]byte, size)
	if _, err := io.ReadFull(c, back); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: echo: %w", caller, err)
	}
	if err := <-werr; err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: write: %w", caller, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// measureIdle starts a fresh gateway pair on transport, warms it up with
// a few relays, and measures the RSS both gateways gain from -conns more
// relayed connections that stay idle for -settle.
func (b *bench) measureIdle(transport string) (memResult, error) {
	res := memResult{transport: transport, conns: b.o.conns}
	a, s, err := gatewayPair(b.ctx, b.o.distgate, b.dir, transport, b.o.gatewayEnv, local, local, 0, "")
	if err != nil {
		return res, err
	}
	defer a.stop()
	defer s.stop()
	echo, err := startEchoNode(b.ctx, s, "echo")
	if err != nil {
		return res, err
	}
	defer echo.close()
	eps, err := a.epmdClient().Lookup(b.ctx, epmd.LookupRequest{Node: "echo@" + s.host, Accept: []string{"inet_tcp"}})
	if err != nil || len(eps) == 0 {
		return res, fmt.Errorf("lookup echo@%s at site-a: %v (%d endpoints)", s.host, err, len(eps))
	}
	proxy := net.JoinHostPort(eps[0].Addr.String(), strconv.Itoa(int(eps[0].Port)))

	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	open := func(from, n int) error {
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		var firstErr error
		for i := from; i < from+n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := openIdle(proxy, fmt.Sprintf("idle%d@%s", i, a.host), b.o.idleBytes)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				conns = append(conns, c)
			}()
		}
		wg.Wait()
		return firstErr
	}
	// Warm up: the link, pools and the first proxy port exist before the
	// baseline.
	const warm = 8
	if err := open(0, warm); err != nil {
		return res, fmt.Errorf("warm-up relays: %w\n--- site-a:\n%s", err, tail(a.proc.Out.String(), 2000))
	}
	b.sleep(b.o.settle)
	sites := []*site{a, s}
	for i, st := range sites {
		res.sites[i].name = st.name
		if res.sites[i].rssBefore, err = rssKiB(st.proc.Pid()); err != nil {
			return res, err
		}
	}
	for i, st := range sites {
		res.sites[i].before, res.sites[i].statsErr = st.goStats(b.ctx)
	}
	if err := open(warm, b.o.conns); err != nil {
		return res, fmt.Errorf("idle relays: %w\n--- site-a:\n%s", err, tail(a.proc.Out.String(), 2000))
	}
	b.sleep(b.o.settle)
	for i, st := range sites {
		if st.proc.Exited() {
			return res, fmt.Errorf("%s exited: %v\n%s", st.name, st.proc.Err, tail(st.proc.Out.String(), 2000))
		}
		if res.sites[i].rssAfter, err = rssKiB(st.proc.Pid()); err != nil {
			return res, err
		}
	}
	for i, st := range sites {
		if res.sites[i].statsErr == nil {
			res.sites[i].after, res.sites[i].statsErr = st.goStats(b.ctx)
		}
		if b.o.pprofDir != "" {
			// A heap profile of the idle relays (after the forced GC).
			if heap, err := st.adminGet(b.ctx, "/debug/pprof/heap"); err == nil {
				os.WriteFile(filepath.Join(b.o.pprofDir, "idle-"+transport+"-"+st.name+".heap.pprof"), heap, 0o644)
			}
		}
	}
	return res, nil
}

// sleep waits for d or the end of the bench.
func (b *bench) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-b.ctx.Done():
	}
}
