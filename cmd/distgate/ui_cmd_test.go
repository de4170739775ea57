package main

import (
	"html"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestUIOpensNoCodeOnACommandLine: the one-time login code never appears
// in the arguments of the processes distgate ui starts (xdg-open, the
// browser it starts): any local user reads those in /proc/PID/cmdline or
// ps, and could spend the code before the browser does. The browser is
// given a file only its user can read, which goes on to the login URL.
func TestUIOpensNoCodeOnACommandLine(t *testing.T) {
	t.Setenv("DISPLAY", ":0")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("LocalAppData", t.TempDir())
	var got []string
	defer func(f func([]string) error) { runOpener = f }(runOpener)
	runOpener = func(cmd []string) error { got = cmd; return nil }
	const secret = "c0de-0f-the-test-XYZ"
	url := "http://127.0.0.1:4370/ui/login?code=" + secret + "&x=<y>"
	openBrowser(url, io.Discard)
	if len(got) == 0 {
		t.Fatal("no opener was run")
	}
	if args := strings.Join(got, " "); strings.Contains(args, secret) {
		t.Fatalf("the login code is on the opener's command line: %q", got)
	}
	file := got[len(got)-1]
	if runtime.GOOS != "windows" {
		file = strings.TrimPrefix(file, "file://")
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the opener was given %q: %v", file, err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("%s is %v: other users may read the code in it", file, fi.Mode())
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), html.EscapeString(url)) || strings.Contains(string(b), "<y>") {
		t.Fatalf("the launcher does not go on to the login URL, escaped:\n%s", b)
	}
}
