package epmd

import (
	"net"
	"sync"
	"time"
)

// Connection goroutines are reused. A new goroutine starts with a 2 KiB
// stack, and a request answered through a resolver (a gateway asks its
// WebAssembly policies, whose runtime alone takes kilobytes of frames)
// grows it to 32 KiB in four copies, each of which walks and adjusts
// every frame: in a gateway with a Go policy that was a fifth of a
// lookup's CPU. A goroutine that has served a connection waits workerIdle
// for the next one, its stack grown; the accept loop hands a connection to
// a waiting goroutine, or starts one when none waits.

// workerIdle is how long a connection goroutine waits for the next
// connection before it ends.
const workerIdle = 10 * time.Second

// workers are the server's waiting connection goroutines.
type workers struct {
	waiting  chan accepted // unbuffered: a send reaches a waiting goroutine
	quit     chan struct{} // closed by Close: the waiting goroutines end
	quitOnce sync.Once
}

func newWorkers() workers {
	return workers{waiting: make(chan accepted), quit: make(chan struct{})}
}

// stop ends the waiting goroutines; it is idempotent.
func (w *workers) stop() { w.quitOnce.Do(func() { close(w.quit) }) }

// accepted is a connection handed to a waiting goroutine.
type accepted struct {
	id       uint64
	c        net.Conn
	deferred bool
}

// serveConn serves a tracked connection on a waiting goroutine, or on a
// new one.
func (s *Server) serveConn(id uint64, c net.Conn, deferred bool) {
	select {
	case s.workers.waiting <- accepted{id, c, deferred}:
		return
	default:
	}
	s.wg.Add(1)
	go s.worker(accepted{id, c, deferred})
}

// worker serves connections until it has waited workerIdle for one, or
// the server is closed.
func (s *Server) worker(a accepted) {
	defer s.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.handle(a.id, a.c, a.deferred)
		idle.Reset(workerIdle)
		select {
		case a = <-s.workers.waiting:
		case <-idle.C:
			return
		case <-s.workers.quit:
			return
		}
	}
}
