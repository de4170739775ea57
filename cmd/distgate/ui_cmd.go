package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
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
func openBrowser(url string, stderr io.Writer) {
	var cmd []string
	switch runtime.GOOS {
	case "darwin":
		cmd = []string{"open", url}
	case "windows":
		cmd = []string{"rundll32", "url.dll,FileProtocolHandler", url}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return
		}
		cmd = []string{"xdg-open", url}
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, path, cmd[1:]...).Run(); err != nil {
		fmt.Fprintf(stderr, "distgate ui: %s: %v (open the URL above yourself)\n", cmd[0], err)
	}
}
