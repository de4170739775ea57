// Package configs holds example gateway configurations; its test checks
// that they parse.
package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distgate/distgate/gateway"
)

// TestSamplesParse: every sample configuration is valid.
func TestSamplesParse(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) == 0 {
		t.Fatal("no sample configurations")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gateway.ParseConfig(b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	_, err := gateway.ParseConfig([]byte("site: a\nepmd:\n  lisen: 127.0.0.1:1\n"))
	if err == nil || !strings.Contains(err.Error(), "lisen") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("a misspelt key: %v", err)
	}
}
