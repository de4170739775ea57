package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// linkAsEpmd returns a symbolic link named epmd to the distgate binary.
func linkAsEpmd(t testing.TB) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), "epmd")
	if err := os.Symlink(distgateBin(t), link); err != nil {
		t.Fatal(err)
	}
	return link
}
