package handshake

import (
	"bytes"
	"errors"
	"testing"
)

func TestReframeTLSToTCP(t *testing.T) {
	// What a TLS-distribution caller sends, and what a TCP backend must
	// get: send_name and the challenge reply reframed, data untouched.
	sendName := "N00000000cccc\x00\x03x@y"
	reply := "r0123digest0123456789"
	var in, want []byte
	in = append(in, frame4(sendName)...)
	in = append(in, frame4(reply)...)
	in = append(in, frame4("data")...)
	in = append(in, frame4("")...)
	want = append(want, frame2(sendName)...)
	want = append(want, frame2(reply)...)
	want = append(want, frame4("data")...)
	want = append(want, frame4("")...)
	for _, chunk := range []int{1, 3, 7, len(in)} {
		r := NewReframer(4, 2, 'r')
		var out []byte
		for i := 0; i < len(in); i += chunk {
			var err error
			out, err = r.Feed(out, in[i:min(i+chunk, len(in))])
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out, want) || !r.Done() {
			t.Fatalf("chunk %d: got %q\nwant %q", chunk, out, want)
		}
	}
}

func TestReframeTCPToTLS(t *testing.T) {
	// What a TCP backend answers: status, challenge, ack (2-byte), then
	// data in the same segment.
	var in, want []byte
	for _, m := range []string{"sok", "N12345678ccccdigs\x00\x03y@z", "a0123456789abcdef"} {
		in = append(in, frame2(m)...)
		want = append(want, frame4(m)...)
	}
	in = append(in, frame4("payload")...)
	want = append(want, frame4("payload")...)
	r := NewReframer(2, 4, 'a')
	out, err := r.Feed(nil, in)
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("got %q, %v\nwant %q", out, err, want)
	}
}

func TestReframeTooLong(t *testing.T) {
	r := NewReframer(4, 2, 'r')
	_, err := r.Feed(nil, []byte{0, 1, 0, 0, 'N'})
	var tl ErrTooLong
	if !errors.As(err, &tl) || tl.Len != 65536 {
		t.Fatalf("err = %v", err)
	}
	if _, err2 := r.Feed(nil, []byte("x")); err2 == nil {
		t.Fatal("a failed reframer accepted more bytes")
	}
}

func FuzzReframe(f *testing.F) {
	f.Add(append(frame4("Nxx"), frame4("rdigest")...), 2)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		// 4 -> 2 -> 4 is the identity on what fits.
		a := NewReframer(4, 2, 'r')
		mid, err := a.Feed(nil, in)
		if err != nil {
			return
		}
		if cut < 0 {
			cut = -cut
		}
		if len(mid) > 0 {
			cut %= len(mid)
		} else {
			cut = 0
		}
		b := NewReframer(2, 4, 'r')
		back, err := b.Feed(nil, mid[:cut])
		if err != nil {
			t.Fatal(err)
		}
		back, err = b.Feed(back, mid[cut:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(in, back) {
			t.Fatalf("round trip %x -> %x -> %x", in, mid, back)
		}
	})
}
