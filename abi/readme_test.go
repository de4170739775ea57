package abi

import (
	"bytes"
	"testing"
)

// TestReadmeExample checks the bytes of the example in README.md.
func TestReadmeExample(t *testing.T) {
	req := LookupRequest{Name: "db", Host: "h1", Accept: []string{"inet_tcp"}, LocalHost: true}
	want := []byte{
		0x01, 0x01,
		0x01, 0x02, 0, 0, 0, 'd', 'b',
		0x02, 0x02, 0, 0, 0, 'h', '1',
		0x03, 0x08, 0, 0, 0, 'i', 'n', 'e', 't', '_', 't', 'c', 'p',
		0x04, 0x04, 0, 0, 0, 0x01, 0, 0, 0,
	}
	if got := req.Append(nil); !bytes.Equal(got, want) {
		t.Errorf("request =\n% x\nwant\n% x", got, want)
	}
	r := Via("eu", TransportQUIC)
	want = []byte{
		0x01, 0x02,
		0x01, 0x01, 0, 0, 0, 0x02,
		0x03, 0x02, 0, 0, 0, 'e', 'u',
		0x04, 0x04, 0, 0, 0, 'q', 'u', 'i', 'c',
	}
	if got := r.Append(nil); !bytes.Equal(got, want) || len(got) != 24 {
		t.Errorf("route =\n% x\nwant\n% x", got, want)
	}
}
