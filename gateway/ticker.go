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
	stop     chan struct{}
	stopOnce sync.Once

	mu        sync.Mutex // serialises writes; guards the following
	tracker   *handshake.Tracker
	lastWrite time.Time
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
		if !t.tick() {
			return
		}
	}
}

// tick sends a tick when one is due; false when the connection failed.
func (t *ticker) tick() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.lastWrite) < t.interval || !t.tracker.CanTick() {
		return true
	}
	t.TCPConn.SetWriteDeadline(time.Now().Add(t.interval))
	n, err := t.TCPConn.Write(handshake.Tick)
	t.TCPConn.SetWriteDeadline(time.Time{})
	if err != nil {
		if n > 0 {
			// Part of a tick is on the wire: the stream is broken.
			t.TCPConn.Close()
		}
		return n == 0
	}
	t.lastWrite = time.Now()
	return true
}

// halt stops the tick loop; it never waits for a write in progress.
func (t *ticker) halt() { t.stopOnce.Do(func() { close(t.stop) }) }

func (t *ticker) Close() error {
	err := t.TCPConn.Close()
	t.halt()
	return err
}

func (t *ticker) Abort() {
	t.TCPConn.Close()
	t.halt()
}
