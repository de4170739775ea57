package relay

import (
	"net"
	"sync"
	"time"

	"github.com/distgate/distgate/gateway/handshake"
)

// Ticker is the local end of a relay on a route with a tick: when nothing
// has been written to the local node for the tick interval, it sends the
// node a distribution tick itself, between two messages. The node then
// keeps the connection up for as long as the link is alive, whatever the
// remote node's tick; the link's liveness timeout takes over the
// detection of a dead peer.
type Ticker struct {
	*net.TCPConn
	interval time.Duration
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{} // closed when the tick loop has ended

	mu        sync.Mutex // serialises writes; guards the following
	tracker   *handshake.Tracker
	lastWrite time.Time
}

// NewTicker wraps the connection of a node; dialled says whether that
// node dialled the relayed connection (a caller on a proxy port did). Its
// tick loop runs until Close or Abort, which wait for it.
func NewTicker(c *net.TCPConn, interval time.Duration, dialled bool) *Ticker {
	t := &Ticker{TCPConn: c, interval: interval, tracker: handshake.NewTracker(dialled), lastWrite: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t
}

// Write writes to the node and notes where its messages end.
func (t *Ticker) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.TCPConn.Write(b)
	t.tracker.Feed(b[:n])
	t.lastWrite = time.Now()
	return n, err
}

func (t *Ticker) loop() {
	defer close(t.done)
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
func (t *Ticker) tick() bool {
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

// halt stops the tick loop and waits for it. The connection is closed
// first, so a tick being written fails at once instead of holding the
// loop (and the lock) until its deadline.
func (t *Ticker) halt() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
}

// Close closes the connection and stops the tick loop.
func (t *Ticker) Close() error {
	err := t.TCPConn.Close()
	t.halt()
	return err
}

// Abort closes the connection at once (TCP has no portable reset) and
// stops the tick loop.
func (t *Ticker) Abort() {
	t.TCPConn.Close()
	t.halt()
}
