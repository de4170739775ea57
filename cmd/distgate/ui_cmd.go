package main

import (
	"context"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/distgate/distgate/gateway"
)

// uiMain prints a one-time login URL for the gateway's status page and
// opens it in a browser where it can.
func uiMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	noOpen := fs.Bool("no-open", false, "print the URL only; open no browser")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintf(stderr, "distgate ui: %v\n", err)
		return 1
	}
	if strings.HasPrefix(c.addr, "unix:") {
		fmt.Fprintf(stderr, "distgate ui: the admin API listens on %s: a browser reaches a TCP address only (admin.listen: 127.0.0.1:4370)\n", c.addr)
		return 1
	}
	var login gateway.UILogin
	if err := c.do("POST", "/v1/ui/login", nil, "", &login); err != nil {
		fmt.Fprintf(stderr, "distgate ui: %v\n", err)
		return 1
	}
	url := "http://" + browserHost(c.addr) + login.Path
	fmt.Fprintf(stdout, "%s\n", url)
	fmt.Fprintf(stderr, "distgate ui: a one-time link, valid until %s; it opens a session in the browser that uses it.\n", login.Expires.Local().Format("15:04:05"))
	if !*noOpen {
		openBrowser(url, stderr)
	}
	return 0
}

// browserHost is the admin address as a browser should use it: an
// unspecified host is this host's loopback.
func browserHost(addr string) string {
	for _, any := range []string{"0.0.0.0:", "[::]:", ":"} {
		if rest, ok := strings.CutPrefix(addr, any); ok {
			return "127.0.0.1:" + rest
		}
	}
	return addr
}

// openBrowser asks the desktop to open url, when it has a way to (and,
// on Linux, a display), and gives up after a few seconds: the URL is
// printed either way.
//
// The browser is not given the URL itself: the arguments of xdg-open and
// of the browser it starts are there for any local user to read (ps,
// /proc/PID/cmdline), who could spend the one-time code first and keep
// the session. It is given a page in a file only this user may read,
// which goes on to the URL.
func openBrowser(url string, stderr io.Writer) {
	var cmd []string
	switch runtime.GOOS {
	case "darwin":
		cmd = []string{"open"}
	case "windows":
		cmd = []string{"rundll32", "url.dll,FileProtocolHandler"}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return
		}
		cmd = []string{"xdg-open"}
	}
	page, err := writeLauncher(url)
	if err != nil {
		fmt.Fprintf(stderr, "distgate ui: %v (open the URL above yourself)\n", err)
		return
	}
	cmd = append(cmd, page)
	if err := runOpener(cmd); err != nil {
		fmt.Fprintf(stderr, "distgate ui: %s: %v (open the URL above yourself)\n", cmd[0], err)
	}
}

// launcherKeep is how long a launcher page is kept: its code is spent or
// expired (a minute) well before.
const launcherKeep = 10 * time.Minute

// writeLauncher writes a page that goes on to url into a new file of this
// user's cache directory (the temporary directory without one), readable
// by this user alone, and returns its path. It removes the launchers of
// earlier runs that are older than launcherKeep.
func writeLauncher(url string) (string, error) {
	dir := os.TempDir()
	if cache, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(cache, "distgate")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("a login page for the browser: %w", err)
		}
	}
	if old, _ := filepath.Glob(filepath.Join(dir, "ui-login-*.html")); len(old) > 0 {
		for _, f := range old {
			if fi, err := os.Lstat(f); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > launcherKeep {
				os.Remove(f)
			}
		}
	}
	f, err := os.CreateTemp(dir, "ui-login-*.html") // 0600, a name nobody chose
	if err != nil {
		return "", fmt.Errorf("a login page for the browser: %w", err)
	}
	u := html.EscapeString(url)
	_, err = fmt.Fprintf(f, `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">`+
		`<meta http-equiv="refresh" content="0;url=%s"><title>distgate</title></head>`+
		`<body><a href="%s">Open the distgate status page</a></body></html>`+"\n", u, u)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("a login page for the browser: %w", err)
	}
	return f.Name(), nil
}

// runOpener runs the desktop's opener, giving up after a few seconds; it
// is a variable for the tests.
var runOpener = func(cmd []string) error {
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, path, cmd[1:]...).Run()
}
