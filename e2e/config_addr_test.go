package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunRefusesInvalidAddresses: an address the gateway could never use
// (a port out of range, a port to dial of 0, a host that is no IP and no
// name) is refused with the rest of the configuration: exit 2, a message
// naming the key, and nothing made in the data directory.
func TestRunRefusesInvalidAddresses(t *testing.T) {
	t.Parallel()
	bin := distgateBin(t)
	const peer = "[{site: b, identity: dg1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, %s}]"
	for _, tc := range []struct{ key, section, value string }{
		{"epmd.listen", "epmd", "{listen: 127.0.0.1:99999}"},
		{"admin.listen", "admin", "{listen: 127.0.0.1:70000}"},
		{"links.quic", "links", "{quic: 127.0.0.1:-1}"},
		{"links.tls", "links", "{tls: 127.0.0.1:4371x}"},
		{"public.epmd", "public", "{epmd: 0.0.0.0:65536}"},
		{"remote.listen", "remote", "{listen: 300.1.2.3:4372, client_ca: ca.pem}"},
		{"acme.http_address", "acme", "{http_address: ':80000'}"},
		{"acme.tls_alpn_port", "acme", "{tls_alpn_port: 70000}"},
		{"peers[0].quic", "peers", fmt.Sprintf(peer, "quic: 'gw.example:0'")},
		{"peers[0].tls", "peers", fmt.Sprintf(peer, "tls: 'gw.example:123456'")},
	} {
		t.Run(tc.key, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			// Every listener on a port of its own, so that a configuration
			// wrongly accepted never takes the default ports.
			admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
			sections := map[string]string{
				"epmd":  fmt.Sprintf("{listen: 127.0.0.1:%d}", freePort(t)),
				"admin": "{listen: " + admin + "}",
				"links": "{off: true}",
			}
			sections[tc.section] = tc.value
			yml := "site: a\ndata_dir: " + data + "\n"
			for k, v := range sections {
				yml += k + ": " + v + "\n"
			}
			file := filepath.Join(dir, "distgate.yaml")
			writeFile(t, file, yml)
			code, out := runRefused(t, []string{"HOME=" + dir}, nil, bin, file, admin)
			if code != 2 || !strings.Contains(out, tc.key+": ") {
				t.Fatalf("distgate run with %s: %s: exit %d, %q; want exit 2 naming %s", tc.section, tc.value, code, out, tc.key)
			}
			if _, err := os.Stat(data); err == nil {
				t.Fatal("the data directory was made for a configuration that is refused")
			}
		})
	}
}
