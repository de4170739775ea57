package gateway

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestMetricsDocumented: every metric the gateway defines has a row in
// the README's metrics table, with its labels.
func TestMetricsDocumented(t *testing.T) {
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n### Metrics\n")
	if !ok {
		t.Fatal("the README has no Metrics section")
	}
	rows := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if m := regexp.MustCompile("^\\| `(distgate_[a-z_]+)` \\|").FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	// Names with their labels, as metrics.go declares them.
	decl := regexp.MustCompile(`(?s)(?:Name: |NewDesc\()"(distgate_[a-z_]+)".*?(?:\[\]string\{([^}]*)\}|nil, nil\)|\}\),?\n)`)
	found := 0
	for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
		found++
		row, ok := rows[m[1]]
		if !ok {
			t.Errorf("the README does not list %s", m[1])
			continue
		}
		for _, l := range strings.Split(m[2], ",") {
			l = strings.Trim(strings.TrimSpace(l), `"`)
			if l != "" && !strings.Contains(row, "`"+l+"`") {
				t.Errorf("the README's row of %s does not name its label %q", m[1], l)
			}
		}
	}
	if found < 20 {
		t.Fatalf("found %d metrics in metrics.go", found)
	}
}
