package wanem

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// devStats reads a device's kernel counters from the /proc/net/dev of its
// namespace, opened once from a thread inside it: the file keeps showing
// that namespace whoever reads it.
type devStats struct {
	dev    string
	mu     sync.Mutex // guards the following
	f      *os.File
	buf    []byte
	closed bool
}

func openDevStats(ns Netns, dev string) (*devStats, error) {
	d := &devStats{dev: dev, buf: make([]byte, 0, 4096)}
	err := ns.Do(func() error {
		var err error
		d.f, err = os.Open("/proc/thread-self/net/dev")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("wanem: /proc/net/dev of %s: %w", ns, err)
	}
	return d, nil
}

// drops returns the device's rx_dropped and tx_dropped.
func (d *devStats) drops() (rx, tx uint64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, 0, os.ErrClosed
	}
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	b := bytes.NewBuffer(d.buf[:0])
	if _, err := b.ReadFrom(d.f); err != nil {
		return 0, 0, err
	}
	d.buf = b.Bytes()
	return parseNetDev(d.buf, d.dev)
}

// parseNetDev finds dev's line in the text of /proc/net/dev and returns
// its receive and transmit drop counters.
func parseNetDev(text []byte, dev string) (rx, tx uint64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != dev {
			continue
		}
		// rx: bytes packets errs drop fifo frame compressed multicast,
		// then tx: bytes packets errs drop ...
		f := strings.Fields(rest)
		if len(f) < 12 {
			break
		}
		rx, err1 := strconv.ParseUint(f[3], 10, 64)
		tx, err2 := strconv.ParseUint(f[11], 10, 64)
		if err1 != nil || err2 != nil {
			break
		}
		return rx, tx, nil
	}
	return 0, 0, fmt.Errorf("wanem: no counters of %s in /proc/net/dev", dev)
}

func (d *devStats) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.f.Close()
		d.closed = true
	}
}
