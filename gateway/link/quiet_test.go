package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/distgate/distgate/gateway/events"
	"github.com/distgate/distgate/gateway/linkwire"
	"github.com/distgate/distgate/gateway/pki"
	"github.com/distgate/distgate/gateway/relay"
)

// stallUDP is a dialling gateway's UDP socket that goes silent on Stall:
// it sends nothing more and drops what comes, as a stopped peer or a cut
// path.
type stallUDP struct {
	udp     *net.UDPConn // not embedded: quic-go would use its ReadMsgUDP and WriteMsgUDP
	stalled atomic.Bool
	last    atomic.Pointer[[]byte] // the last short-header (1-RTT) packet sent, for a forger to copy
}

func (c *stallUDP) LocalAddr() net.Addr                { return c.udp.LocalAddr() }
func (c *stallUDP) SetDeadline(t time.Time) error      { return c.udp.SetDeadline(t) }
func (c *stallUDP) SetReadDeadline(t time.Time) error  { return c.udp.SetReadDeadline(t) }
func (c *stallUDP) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }
func (c *stallUDP) Close() error                       { return c.udp.Close() }

func (c *stallUDP) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.stalled.Load() {
		return len(b), nil
	}
	if len(b) > 0 && b[0]&0x80 == 0 {
		p := append([]byte(nil), b...)
		c.last.Store(&p)
	}
	return c.udp.WriteTo(b, a)
}

func (c *stallUDP) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.udp.ReadFrom(b)
		if err != nil || !c.stalled.Load() {
			return n, a, err
		}
	}
}

// relayEnd is how a relay stream served by the accepting side ended.
type relayEnd struct {
	at  time.Time
	err error
}

// TestInboundQUICLiveness: the accepting side of a QUIC link ends the
// relays of a connection it hears nothing from within the liveness the
// relays asked for, whether or not the link's control stream is there to
// watch it: not yet come (the dialling side opens it beside the first
// relay, and a stall can come first), or ended on its own. QUIC's idle
// timeout does not do it: quic-go takes the dialling side's
// max_idle_timeout (750 ms for a 1 s liveness) as 5 s.
func TestInboundQUICLiveness(t *testing.T) {
	for _, tc := range []struct {
		name    string
		control string // "": none; "reset": opened, then reset by the dialling side
	}{{"no control stream", ""}, {"control stream reset", "reset"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const liveness, slack = time.Second, 500 * time.Millisecond
			certA, certB := newStaticCert(t), newStaticCert(t)
			leafA, err := x509.ParseCertificate(certA.cert.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			idA := pki.IdentityOf(leafA)
			b, err := New(Config{QUIC: freeLinkAddr(t), Certs: certB, Trust: pki.NewTrust([]pki.Peer{{Site: "site-a", Pinned: &idA}}, nil),
				Idle: time.Minute, DefaultLiveness: 3 * time.Second, DialTimeout: 5 * time.Second, AcceptIdle: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			ended := make(chan relayEnd, 1)
			controlEnded := make(chan struct{})
			b.Serve(func(_ context.Context, from From, s relay.Stream) {
				hdr, err := linkwire.ReadHeader(s)
				if err != nil {
					s.Abort()
					return
				}
				switch hdr.Kind {
				case linkwire.KindControl:
					b.ServeControl(from, s, hdr.Liveness)
					close(controlEnded)
				case linkwire.KindRelay:
					s.Write(linkwire.AppendReply(nil, linkwire.StatusOK, ""))
					ApplyLiveness(s, hdr.Liveness)
					_, err := s.Read(make([]byte, 1))
					ended <- relayEnd{time.Now(), err}
					s.Abort()
				default:
					s.Abort()
				}
			})

			udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			pc := &stallUDP{udp: udp}
			tr := &quic.Transport{Conn: pc}
			t.Cleanup(func() { pc.Close(); tr.Close() })
			qa, _ := b.Addrs()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dialler := &Manager{cfg: Config{DialTimeout: 5 * time.Second}} // its QUIC config: keep-alives, idle timeout
			conn, err := tr.Dial(ctx, qa.(*net.UDPAddr), &tls.Config{Certificates: []tls.Certificate{certA.cert}, InsecureSkipVerify: true,
				NextProtos: []string{alpnLink}}, dialler.quicClientConfig(liveness))
			if err != nil {
				t.Fatal(err)
			}
			var ctl *quic.Stream
			if tc.control != "" {
				if ctl, err = conn.OpenStreamSync(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := ctl.Write(linkwire.Header{Kind: linkwire.KindControl, Liveness: liveness}.Append(nil)); err != nil {
					t.Fatal(err)
				}
				if err := linkwire.ReadReply(ctl); err != nil {
					t.Fatal(err)
				}
			}
			s, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write(linkwire.Header{Kind: linkwire.KindRelay, Target: "y@n1.site-b.example", Liveness: liveness}.Append(nil)); err != nil {
				t.Fatal(err)
			}
			if err := linkwire.ReadReply(s); err != nil {
				t.Fatal(err)
			}
			if ctl != nil {
				ctl.CancelRead(codeAborted)
				ctl.CancelWrite(codeAborted)
				select {
				case <-controlEnded:
				case <-time.After(5 * time.Second):
					t.Fatal("the reset control stream is still served")
				}
			}
			// The dialling side is alive and keeps the link up: no relay
			// ends for two livenesses.
			select {
			case e := <-ended:
				t.Fatalf("the relay ended on a live link: %v", e.err)
			case <-time.After(2 * liveness):
			}
			at := time.Now()
			pc.stalled.Store(true)
			var e relayEnd
			select {
			case e = <-ended:
			case <-time.After(liveness + 10*time.Second):
				t.Fatalf("the relay outlived a silent link by %v", liveness+10*time.Second)
			}
			took := e.at.Sub(at)
			t.Logf("the relay ended %v after the stall: %v", took.Round(time.Millisecond), e.err)
			if took > liveness+slack {
				t.Errorf("the relay ended %v after the stall; liveness %v", took, liveness)
			}
			if reason, ok := EndReason(e.err); !ok || reason != events.LivenessExpired {
				t.Errorf("the relay ended with %v (%q), want the liveness expired", e.err, reason)
			}
		})
	}
}
