package epmd

import (
	"bytes"
	"testing"
)

func TestNamesAndDumpText(t *testing.T) {
	if got := string(appendNamesLine(nil, "foo", 40000)); got != "name foo at port 40000\n" {
		t.Fatalf("names line %q", got)
	}
	if got := string(appendDumpActive(nil, "foo", 40000, 7)); got != "active name     <foo> at port 40000, fd = 7\n\x00" {
		t.Fatalf("dump active line %q", got)
	}
	if got := string(appendDumpOld(nil, "bar", 5000, 9)); got != "old/unused name <bar>, port = 5000, fd = 9 \n\x00" {
		t.Fatalf("dump old line %q", got)
	}
	if got := appendPortHeader(nil, 4369); !bytes.Equal(got, []byte{0, 0, 0x11, 0x11}) {
		t.Fatalf("port header %x", got)
	}
}

func TestParseNames(t *testing.T) {
	b := appendPortHeader(nil, 4369)
	b = appendNamesLine(b, "a b", 1)
	b = appendNamesLine(b, "x at port 3", 2)
	port, names, err := ParseNames(b)
	if err != nil || port != 4369 {
		t.Fatalf("ParseNames: %v, port %d", err, port)
	}
	if len(names) != 2 || names[0] != (NameEntry{"a b", 1}) || names[1] != (NameEntry{"x at port 3", 2}) {
		t.Fatalf("names = %+v", names)
	}
	if _, _, err := ParseNames([]byte{0, 0}); err == nil {
		t.Fatal("short reply parsed")
	}
	if _, _, err := ParseNames(append(appendPortHeader(nil, 1), "garbage\n"...)); err == nil {
		t.Fatal("garbage line parsed")
	}
}
