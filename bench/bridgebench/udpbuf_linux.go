package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// udpBufferWant is what the bench sets net.core.rmem_max and wmem_max to
// when it may: above the 7 MiB quic-go asks for its UDP sockets.
const udpBufferWant = 7500000

var udpSysctls = []string{"/proc/sys/net/core/rmem_max", "/proc/sys/net/core/wmem_max"}

// raiseUDPBuffers raises the kernel's socket buffer limits to
// udpBufferWant where they are lower and it may write them (as root). It
// returns what it did, and a function that puts the old values back.
func raiseUDPBuffers() (string, func()) {
	var did []string
	var undo []func()
	for _, path := range udpSysctls {
		name := "net.core." + path[strings.LastIndexByte(path, '/')+1:]
		b, err := os.ReadFile(path)
		if err != nil {
			did = append(did, fmt.Sprintf("%s unreadable (%v)", name, err))
			continue
		}
		old := strings.TrimSpace(string(b))
		v, err := strconv.Atoi(old)
		if err != nil || v >= udpBufferWant {
			did = append(did, fmt.Sprintf("%s=%s (kept)", name, old))
			continue
		}
		if err := os.WriteFile(path, []byte(strconv.Itoa(udpBufferWant)), 0o644); err != nil {
			did = append(did, fmt.Sprintf("%s=%s (cannot raise: %v)", name, old, err))
			continue
		}
		did = append(did, fmt.Sprintf("%s %s -> %d (restored at exit)", name, old, udpBufferWant))
		undo = append(undo, func() { os.WriteFile(path, []byte(old), 0o644) })
	}
	return strings.Join(did, ", "), func() {
		for _, u := range undo {
			u()
		}
	}
}

// readUDPBuffers returns the current limits, for the report.
func readUDPBuffers() string {
	var s []string
	for _, path := range udpSysctls {
		b, _ := os.ReadFile(path)
		s = append(s, "net.core."+path[strings.LastIndexByte(path, '/')+1:]+"="+strings.TrimSpace(string(b)))
	}
	return strings.Join(s, " ")
}
