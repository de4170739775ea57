//go:build !linux

package epmd

import (
	"net"
	"time"
)

const peekLen = 512

const deferredSilence = time.Duration(0)

func deferAccept(net.Listener) bool { return false }

func recvNow(net.Conn, []byte, bool) int { return 0 }
