package benchutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NeedTool skips t when err, the error of looking tool up, is not nil;
// under CI=true it fails t instead, since CI must run every bench.
func NeedTool(t testing.TB, tool string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI: %v", tool, err)
	}
	t.Skipf("%s is not installed: %v", tool, err)
}

// NeedTools looks each tool up in PATH and calls NeedTool with the result.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		NeedTool(t, tool, err)
	}
}

// BuildDistgate builds cmd/distgate into a temporary directory of t and
// returns the binary's path. It is for the tests of the packages in
// bench/*, whose working directory is two levels below the module's root.
func BuildDistgate(t testing.TB) string {
	t.Helper()
	dg := filepath.Join(t.TempDir(), "distgate")
	if out, err := exec.Command("go", "build", "-o", dg, "../../cmd/distgate").CombinedOutput(); err != nil {
		t.Fatalf("go build distgate: %v\n%s", err, out)
	}
	return dg
}
