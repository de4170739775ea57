// Package configs holds example gateway configurations; its test checks
// that they parse.
package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

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

// TestKubernetesConfigsParse: the configurations of the Kubernetes sample
// (samples/kubernetes/configmap.yaml) are valid.
func TestKubernetesConfigsParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "kubernetes", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != 2 {
		t.Fatalf("configmap has %d configurations, want agent.yaml and edge.yaml", len(cm.Data))
	}
	for name, cfg := range cm.Data {
		if _, err := gateway.ParseConfig([]byte(cfg)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
