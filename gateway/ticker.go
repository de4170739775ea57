package gateway

import (
	"net"
	"sync"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
)

// ticker is the local end of a relay on a route with a tick: when nothing
// has been written to the local node for the tick interval, it sends the
// node a distribution tick itself, between two messages. The node then
// keeps the connection up for as long as the link is alive, whatever the
// remote node's tick; the link's liveness timeout takes over the
// detection of a dead peer.
type ticker struct {
	*net.TCPConn
	interval time.Duration

	mu        sync.Mutex // guards the following and serialises writes
	tracker   *handshake.Tracker
	lastWrite time.Time
	stop      chan struct{}
	stopped   bool
}

// newTicker wraps the connection of a node; dialled says whether that
// node dialled the relayed connection (a caller on a proxy port did).
func newTicker(c *net.TCPConn, interval time.Duration, dialled bool) *ticker {
	t := &ticker{TCPConn: c, interval: interval, tracker: handshake.NewTracker(dialled), lastWrite: time.Now(), stop: make(chan struct{})}
	go t.loop()
	return t
}

func (t *ticker) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.TCPConn.Write(b)
	t.tracker.Feed(b[:n])
	t.lastWrite = time.Now()
	return n, err
}

func (t *ticker) loop() {
	tk := time.NewTicker(max(t.interval/2, 10*time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
		}
		t.mu.Lock()
		if time.Since(t.lastWrite) >= t.interval && t.tracker.CanTick() {
			t.TCPConn.SetWriteDeadline(time.Now().Add(t.interval))
			if _, err := t.TCPConn.Write(handshake.Tick); err == nil {
				t.lastWrite = time.Now()
			}
			t.TCPConn.SetWriteDeadline(time.Time{})
		}
		t.mu.Unlock()
	}
}

func (t *ticker) halt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		close(t.stop)
	}
}

func (t *ticker) Close() error {
	t.halt()
	return t.TCPConn.Close()
}

func (t *ticker) Abort() {
	t.halt()
	t.TCPConn.Close()
}
