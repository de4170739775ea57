package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/distgate/distgate/gateway/ui"
)

// browser is a headless Chromium driven over the DevTools protocol, with
// the console's errors and the page's exceptions collected.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// chromiumPath finds Debian's chromium (or another Chromium).
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	requireTools(t, "chromium") // fails under CI=true, skips elsewhere
	return ""
}

// newBrowser starts Chromium with a fresh profile; it is stopped when the
// test ends. Without the background-networking flags, Chromium's own
// connections to the outside fail on a closed network and say so.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1500),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, fmt.Sprint(a.Value)+a.Description)
				}
				b.fail("console." + string(ev.Type) + ": " + strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.fail("exception: " + msg)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				b.fail("log " + string(ev.Entry.Source) + ": " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return b
}

func (b *browser) fail(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, msg)
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// waitFor waits until the page has a node matching sel.
func (b *browser) waitFor(t testing.TB, what, sel string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS("main")))
		t.Fatalf("the page shows no %s (%s) after %v: %v\npage:\n%s\nbrowser errors: %q", what, sel, d, err, body, b.errors())
	}
}

// screenshot saves the page as a PNG under dir, and in
// $DISTGATE_SCREENSHOTS too when it is set.
func (b *browser) screenshot(t testing.TB, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if extra := os.Getenv("DISTGATE_SCREENSHOTS"); extra != "" {
		os.MkdirAll(extra, 0o755)
		os.WriteFile(filepath.Join(extra, name), png, 0o644)
	}
	return path
}

// TestStatusPage drives the status page in a real browser: two sites,
// real nodes, a relayed connection between them. The page logs in
// through the one-time URL of `distgate ui`, shows the link between the
// sites and the relayed connection, follows a node that joins and a link
// that dies, and logs no console error; requests without the session
// are refused, and the one-time URL works once.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	a, b := bridgePair(t, "quic", 3*time.Second)
	y := startSiteNode(t, b, "y")
	x, w := startScriptNode(t, a, "x", fmt.Sprintf(`
		pong = net_adm:ping('%s'),
		io:format("UP~n"),
		receive after 120000 -> ok end.`, y.name))
	w.waitLine(t, "UP", 60*time.Second, x)
	xName := "x@" + a.host

	// distgate ui opens the browser through xdg-open: here, one that
	// notes what it was given. The one-time code is not in its arguments
	// (any local user reads those); the browser is given a page of the
	// user's own that goes on to the login URL.
	bin := t.TempDir()
	opened := filepath.Join(bin, "opened")
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+opened+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"DISPLAY=:99", "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "XDG_CACHE_HOME=" + t.TempDir()}
	out, errOut, code := runCmd(t, env, distgateBin(t), "ui", "-config", a.config)
	if code != 0 || !strings.HasPrefix(out, "http://"+a.admin+"/ui/login?code=") {
		t.Fatalf("distgate ui: exit %d\n%s%s", code, out, errOut)
	}
	loginURL := strings.TrimSpace(out)
	_, loginCode, _ := strings.Cut(loginURL, "code=")
	args := strings.TrimSpace(readFile(t, opened))
	if strings.Contains(args, loginCode) || strings.Contains(args, "\n") || !strings.HasSuffix(args, ".html") {
		t.Fatalf("xdg-open was given %q (the login URL: %s)", args, loginURL)
	}

	br := newBrowser(t)
	if err := chromedp.Do(br.ctx, chromedp.Navigate("file://"+args)); err != nil {
		t.Fatal(err)
	}
	// Both sites and their link, up, in the table and in the picture.
	br.waitFor(t, "site-b's QUIC link up", `#links tr[data-peer="site-b"][data-transport="quic"][data-state="up"]`, 20*time.Second)
	br.waitFor(t, "the link in the topology", `#topology path[data-link="site-b/quic"][data-state="up"]`, 5*time.Second)
	br.waitFor(t, "site-a in the topology", `#topology rect[data-site="site-a"]`, 5*time.Second)
	br.waitFor(t, "site-b in the topology", `#topology rect[data-site="site-b"]`, 5*time.Second)
	// The relayed connection x -> y.
	br.waitFor(t, "the relayed connection", fmt.Sprintf(`#relays tr[data-caller=%q][data-target=%q]`, xName, y.name), 10*time.Second)
	br.waitFor(t, "its event", `#events li[data-kind="established"]`, 5*time.Second)
	br.waitFor(t, "x in the topology", `#topology circle[data-node="x"]`, 5*time.Second)
	dir := t.TempDir()
	shot := br.screenshot(t, dir, "status-page.png")
	t.Logf("screenshot: %s", shot)

	// A node joins site A.
	startSiteNode(t, a, "joiner")
	br.waitFor(t, "the node that joined", `#nodes tr[data-node="joiner"]`, 10*time.Second)
	br.waitFor(t, "the node that joined, in the topology", `#topology circle[data-node="joiner"]`, 5*time.Second)

	// The link dies: site B's gateway is killed; within the route's
	// liveness (3 s) the link is down and the relay has ended.
	b.proc.cmd.Process.Signal(syscall.SIGKILL)
	b.proc.exited(5 * time.Second)
	br.waitFor(t, "site-b's link down", `#links tr[data-peer="site-b"][data-transport="quic"][data-state="down"]`, 20*time.Second)
	br.waitFor(t, "the link down in the topology", `#topology path[data-link="site-b/quic"][data-state="down"]`, 5*time.Second)
	br.waitFor(t, "the link-down event", `#events li[data-kind="link_down"]`, 5*time.Second)
	br.waitFor(t, "the relay's end", `#events li[data-kind="ended"]`, 5*time.Second)
	relaysText, err := chromedp.Run(br.ctx, chromedp.TextContent(chromedp.CSS("#relays")))
	if err != nil {
		t.Fatal(err)
	}
	eventsText, err := chromedp.Run(br.ctx, chromedp.TextContent(chromedp.CSS("#events")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(relaysText, xName) {
		t.Fatalf("the relay is still listed after the link died:\n%s", relaysText)
	}
	if !strings.Contains(eventsText, "liveness expired") && !strings.Contains(eventsText, "link lost") {
		t.Fatalf("the events do not say the link took the relay down:\n%s", eventsText)
	}
	br.screenshot(t, dir, "status-page-link-down.png")
	if errs := br.errors(); len(errs) > 0 {
		t.Fatalf("the browser logged errors:\n%s", strings.Join(errs, "\n"))
	}

	// Without the session: refused, whatever else the request carries.
	token := strings.TrimSpace(readFile(t, filepath.Join(a.dir, "data", "admin.token")))
	for _, c := range []struct{ path, auth string }{
		{"/ui/", ""}, {"/ui/api/state", ""}, {"/ui/api/state", "Bearer " + token}, {"/ui/assets/app.js", ""},
		{"/v1/status", ""}, {"/metrics", ""},
	} {
		req, _ := http.NewRequest("GET", "http://"+a.admin+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s (auth %t) without a session: %s", c.path, c.auth != "", resp.Status)
		}
	}
	resp, err := http.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the one-time URL, used again: %s", resp.Status)
	}

	// The browser's session cookie is sent to every port of 127.0.0.1, a
	// local user's web server's too: alone, it reads nothing; nor does a
	// page of a name rebound to 127.0.0.1 get anything.
	got, err := chromedp.Run(br.ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{"http://" + a.admin + "/ui/api/state"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	var session string
	for _, c := range cookies {
		if c.Name == ui.SessionCookie(a.admin) {
			session = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("the session cookie: %+v", c)
			}
		}
	}
	if session == "" {
		t.Fatalf("the browser holds no session cookie: %+v", cookies)
	}
	for _, host := range []string{"", "rebind.attacker.example:" + strings.Split(a.admin, ":")[1]} {
		req, _ := http.NewRequest("GET", "http://"+a.admin+"/ui/api/state", nil)
		req.AddCookie(&http.Cookie{Name: ui.SessionCookie(a.admin), Value: session})
		want := http.StatusUnauthorized
		if host != "" {
			req.Host, want = host, http.StatusMisdirectedRequest
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("the state with the browser's cookie alone (Host %q): %s, want %d", host, resp.Status, want)
		}
	}
}
