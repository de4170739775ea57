package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distgate/distgate/gateway/pki"
)

// readmeSection returns the README's text from the heading to the next
// heading of the same level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestReadmeTwoSites follows the README's two-site example as a new user
// would: its configuration, with the peer's identity still a placeholder,
// gives the identity of the data_dir it names; its nodes have a cookie.
func TestReadmeTwoSites(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // never the real default data dir
	sec := readmeSection(t, "## Two sites")
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("no YAML in the README's two-site example")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "site-a.yaml")
	if err := os.WriteFile(file, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("distgate", "id", "-config", file)
	if code != 0 {
		t.Fatalf("distgate id -config site-a.yaml (as the README has it): exit %d, %s", code, errOut)
	}
	cfg, err := (&configFlags{config: file}).loadSiteAndDataDir()
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.LoadOrCreateIdentity(cfg.DataDir, cfg.Site, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != id.ID.String() || !strings.HasPrefix(cfg.DataDir, dir) {
		t.Errorf("id printed %s; the identity of the data_dir %s is %s", out, cfg.DataDir, id.ID)
	}
	for _, line := range strings.Split(sec, "\n") {
		if strings.Contains(line, "erl -name") && !strings.Contains(line, "-setcookie") {
			t.Errorf("a node of the example has no cookie: %s", line)
		}
	}
	if !strings.Contains(sec, "Two gateways on one host") {
		t.Error("the example does not warn about two gateways on one host")
	}
}

// TestReadmeAdminCommandsGiveConfig: every id, status and policy command
// of the README names the gateway's configuration, as run does.
func TestReadmeAdminCommandsGiveConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := regexp.MustCompile(`(?m)^distgate (id|status|policy)\b.*$`).FindAllString(string(b), -1)
	if len(cmds) < 5 {
		t.Fatalf("found %d admin commands in the README", len(cmds))
	}
	for _, c := range cmds {
		if !strings.Contains(c, "-config ") {
			t.Errorf("README: %q has no -config", c)
		}
	}
}

// TestReadmeEpmdPortTaken: the EPMD section says what the drop-in does on
// a taken port (TestEpmdPortTaken checks that it does).
func TestReadmeEpmdPortTaken(t *testing.T) {
	sec := readmeSection(t, "## The EPMD")
	if !strings.Contains(sec, "exits 0 without a word when P is taken") || !strings.Contains(sec, "`distgate run` says which address is taken") {
		t.Error("the README's EPMD section does not say that `distgate epmd -port P` exits 0 silently when P is taken")
	}
}
