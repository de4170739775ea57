package wanem

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeExecer answers "show" with two lines, "fail" with an error, and
// anything else with nothing; it records the lines.
type fakeExecer struct {
	mu    sync.Mutex
	lines []string
}

func (f *fakeExecer) Exec(line string) (string, error) {
	f.mu.Lock()
	f.lines = append(f.lines, line)
	f.mu.Unlock()
	switch line {
	case "show":
		return "line one\nline two", nil
	case "fail":
		return "", errors.New("it failed\non two lines")
	}
	return "", nil
}

func startControl(t *testing.T, ex Execer) (path string, srv *ControlServer) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "c.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv = ServeControl(ln, ex)
	t.Cleanup(func() { srv.Close() })
	return path, srv
}

func TestControlServerAndClient(t *testing.T) {
	ex := &fakeExecer{}
	path, _ := startControl(t, ex)
	cc, err := DialControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if out, err := cc.Exec("show"); err != nil || out != "line one\nline two" {
		t.Errorf("show = %q, %v; want two lines", out, err)
	}
	if out, err := cc.Exec("set ab delay=1ms"); err != nil || out != "" {
		t.Errorf("set = %q, %v; want ok and nothing", out, err)
	}
	_, err = cc.Exec("fail")
	if !errors.Is(err, ErrControl) || err.Error() != "it failed on two lines: control error" {
		t.Errorf("fail: %v; want ErrControl with the reason on one line", err)
	}
	if _, err := cc.Exec("two\nlines"); !errors.Is(err, ErrBadCommand) {
		t.Errorf("two lines: %v; want ErrBadCommand", err)
	}
	// Still in step after an error.
	if out, err := cc.Exec("show"); err != nil || out != "line one\nline two" {
		t.Errorf("show again = %q, %v", out, err)
	}
	ex.mu.Lock()
	got := strings.Join(ex.lines, "|")
	ex.mu.Unlock()
	if want := "show|set ab delay=1ms|fail|show"; got != want {
		t.Errorf("executed %q; want %q", got, want)
	}
}

func TestControlServerRaw(t *testing.T) {
	path, _ := startControl(t, &fakeExecer{})
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	// Blank lines get no reply; a line too long gets an error and the end.
	fmt.Fprintf(c, "\n  \nshow\n%s\nshow\n", strings.Repeat("x", MaxLineBytes+1))
	var got []string
	for range 10 {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimSuffix(l, "\n"))
	}
	want := []string{"line one", "line two", "ok", fmt.Sprintf("error: line longer than %d bytes", MaxLineBytes)}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies %q; want %q then the end", got, want)
	}
}

func TestControlServerLimitsAndClose(t *testing.T) {
	path, srv := startControl(t, &fakeExecer{})
	var clients []*ControlClient
	for i := range MaxControlConns {
		cc, err := DialControl(path)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cc)
		if _, err := cc.Exec("show"); err != nil { // served: counted
			t.Fatalf("client %d: %v", i, err)
		}
	}
	extra, err := DialControl(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := extra.Exec("show"); err == nil {
		t.Errorf("connection %d served; want refused", MaxControlConns+1)
	}
	extra.Close()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for i, cc := range clients {
		if _, err := cc.Exec("show"); err == nil {
			t.Errorf("client %d served after Close", i)
		}
		cc.Close()
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
