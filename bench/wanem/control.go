package wanem

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// MaxControlConns bounds the connections a ControlServer serves at once.
const MaxControlConns = 16

// Execer runs control lines: an *Emulator, or anything else that speaks
// the protocol (tests).
type Execer interface {
	Exec(line string) (string, error)
}

// ControlServer serves the control protocol on a listener (a Unix socket,
// typically): each line a command, each reply its lines and then "ok" or
// "error: REASON". Blank lines get no reply.
type ControlServer struct {
	ex Execer
	ln net.Listener
	wg sync.WaitGroup // the accept loop and the connections

	mu     sync.Mutex // guards the following
	conns  map[net.Conn]struct{}
	closed bool
}

// ServeControl serves ex on ln until Close, which also closes ln.
func ServeControl(ln net.Listener, ex Execer) *ControlServer {
	s := &ControlServer{ex: ex, ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.accept()
	}()
	return s
}

func (s *ControlServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed; a Unix listener has no temporary errors to retry
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= MaxControlConns {
			s.mu.Unlock()
			io.WriteString(c, "error: too many control connections\n")
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// serve answers the lines of one connection until it closes.
func (s *ControlServer) serve(c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 512), MaxLineBytes+1)
	w := bufio.NewWriter(c)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		out, err := s.ex.Exec(line)
		if out != "" {
			w.WriteString(out)
			w.WriteByte('\n')
		}
		if err != nil {
			fmt.Fprintf(w, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			w.WriteString("ok\n")
		}
		if w.Flush() != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		fmt.Fprintf(c, "error: line longer than %d bytes\n", MaxLineBytes)
	}
}

// Close stops serving, closes the listener and every connection, and
// waits for their goroutines. It is idempotent.
func (s *ControlServer) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	var err error
	if first {
		err = s.ln.Close()
	}
	s.wg.Wait()
	return err
}

// ControlClient sends commands to a ControlServer.
type ControlClient struct {
	c net.Conn
	r *bufio.Reader
}

// DialControl connects to the control server on the Unix socket path.
func DialControl(path string) (*ControlClient, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("wanem: control %s: %w", path, err)
	}
	return &ControlClient{c: c, r: bufio.NewReaderSize(c, MaxLineBytes+1)}, nil
}

// ErrControl is returned (wrapped) for a reply "error: REASON"; the error
// says the reason.
var ErrControl = errors.New("control error")

// Exec sends one command line and returns the lines of its reply, without
// the final "ok"; an error reply is an error wrapping ErrControl.
func (cc *ControlClient) Exec(line string) (string, error) {
	if strings.ContainsAny(line, "\n\r") {
		return "", fmt.Errorf("wanem: control: %q: one line only: %w", line, ErrBadCommand)
	}
	if _, err := io.WriteString(cc.c, line+"\n"); err != nil {
		return "", fmt.Errorf("wanem: control: %w", err)
	}
	var out []string
	for range 64 { // replies are a few lines
		l, err := cc.r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("wanem: control: reply to %q: %w", line, err)
		}
		l = strings.TrimSuffix(l, "\n")
		switch {
		case l == "ok":
			return strings.Join(out, "\n"), nil
		case strings.HasPrefix(l, "error: "):
			return strings.Join(out, "\n"), fmt.Errorf("%s: %w", strings.TrimPrefix(l, "error: "), ErrControl)
		}
		out = append(out, l)
	}
	return "", fmt.Errorf("wanem: control: reply to %q longer than 64 lines", line)
}

// Close closes the connection.
func (cc *ControlClient) Close() error { return cc.c.Close() }
