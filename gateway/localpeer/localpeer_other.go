//go:build !linux

package localpeer

import (
	"errors"
	"fmt"
)

// socketUID cannot find a socket's owner on this system.
func socketUID(sock) (uint32, error) {
	return 0, fmt.Errorf("the owner of a socket is known on Linux only: %w", errors.ErrUnsupported)
}
