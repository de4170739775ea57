package gateway

import (
	"path/filepath"
	"testing"
)

// TestSampleConfig: the configuration documented key by key is one the
// gateway accepts.
func TestSampleConfig(t *testing.T) {
	if _, err := LoadConfig(filepath.Join("..", "samples", "configs", "gateway.yaml")); err != nil {
		t.Fatal(err)
	}
}
