package handshake

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseSendNameV6(t *testing.T) {
	want := SendName{Name: "x@a1.site-a.example", Flags: 0x0000000d07df7fbd, Creation: 0x6b060627, Version: 6}
	body := AppendSendNameV6(nil, want)
	got, err := ParseSendName(body)
	if err != nil || got != want {
		t.Fatalf("ParseSendName = %+v, %v; want %+v", got, err, want)
	}
	for i := range body {
		if _, err := ParseSendName(body[:i]); err == nil {
			t.Fatalf("prefix of %d bytes parsed", i)
		}
	}
	// Bytes after the name belong to nothing and are ignored.
	if got, err := ParseSendName(append(body, 'z')); err != nil || got.Name != want.Name {
		t.Fatalf("with a trailing byte: %+v, %v", got, err)
	}
}

func TestParseSendNameV5(t *testing.T) {
	body := append([]byte{'n', 0, 5, 0, 0x07, 0xdf, 0x7f}, "old@host"...)
	got, err := ParseSendName(body)
	if err != nil || got.Name != "old@host" || got.Version != 5 || got.Flags != 0x0007df7f {
		t.Fatalf("ParseSendName v5 = %+v, %v", got, err)
	}
}

func TestParseSendNameRejects(t *testing.T) {
	for _, b := range [][]byte{nil, {'s', 'o', 'k'}, {'n', 0, 5, 0, 0, 0, 0}, {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff}} {
		if _, err := ParseSendName(b); err == nil {
			t.Errorf("ParseSendName(%q) succeeded", b)
		}
	}
	if _, err := ParseSendName([]byte("sok")); !errors.Is(err, ErrNotSendName) {
		t.Errorf("a status message: %v, want ErrNotSendName", err)
	}
}

func TestReadFrame(t *testing.T) {
	body := AppendSendNameV6(nil, SendName{Name: "a@b"})
	for _, size := range []int{2, 4} {
		var in bytes.Buffer
		if size == 2 {
			in.Write([]byte{0, byte(len(body))})
		} else {
			in.Write([]byte{0, 0, 0, byte(len(body))})
		}
		in.Write(body)
		in.WriteString("rest")
		frame, got, err := ReadFrame(&in, size, MaxSendName)
		if err != nil || !bytes.Equal(got, body) || len(frame) != size+len(body) {
			t.Fatalf("ReadFrame(%d) = %q, %v", size, got, err)
		}
		if rest, _ := io.ReadAll(&in); string(rest) != "rest" {
			t.Fatalf("ReadFrame(%d) read past the frame: %q left", size, rest)
		}
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{0xff, 0xff}), 2, 100); err == nil {
		t.Fatal("oversized frame accepted")
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{0, 9, 1}), 2, 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
}

func FuzzParseSendName(f *testing.F) {
	f.Add(AppendSendNameV6(nil, SendName{Name: "x@h", Flags: 1, Creation: 2}))
	f.Add(append([]byte{'n', 0, 5, 0, 0, 0, 0}, "a@b"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSendName(b)
		if err != nil || s.Version != 6 {
			return
		}
		back, err := ParseSendName(AppendSendNameV6(nil, s))
		if err != nil || back != s {
			t.Fatalf("round trip %+v -> %+v, %v", s, back, err)
		}
	})
}
