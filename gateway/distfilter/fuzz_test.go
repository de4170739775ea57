package distfilter

import (
	"bytes"
	"hash/fnv"
	"os"
	"testing"
)

// FuzzIn feeds arbitrary bytes, after a handshake, in chunks of a size
// the input picks, to a filter whose decisions the input picks too. The
// filter must never panic; when it allows everything, what passes is a
// prefix of the input; when it denies some messages and accepts the
// stream, the receiving node (another filter) decodes what passed without
// error: drops never desynchronize the atom cache. The seed corpus (real
// captures and the tests' packets) runs in every `go test`.
func FuzzIn(f *testing.F) {
	for _, name := range []string{"basic", "frag", "rex"} {
		in, err := os.ReadFile("testdata/" + name + ".in")
		if err != nil {
			f.Fatal(err)
		}
		hs := handshakeOf(f, in)
		data := in[len(hs):]
		if len(data) > 2<<10 { // the fuzzer minimizes slowly beyond
			data = data[:2<<10]
		}
		f.Add(byte(0), byte(0), data)
		f.Add(byte(1), byte(7), data)
	}
	a := atomT("b@h")
	f.Add(byte(1), byte(3), cat(
		pkt(hdrKind(hdrFragment, 7, 2, false, ref{ix: 5, text: "a@h", def: true}), tuple(small(dopSend), atomT(""), pid(cref(0), 1)), small(1)),
		pkt(cont(7, 1), []byte{1, 2}),
		pkt(hdr(ref{ix: 5, text: "a@h"}, ref{ix: 1030, text: "x", def: true}), tuple(small(dopRegSend), pid(a, 1), atomT(""), cref(1)), nilT()),
		pkt(),
		pkt(hdr(), tuple(small(dopSpawnRequest), reference(a, 1), pid(a, 1), pid(a, 2), tuple(atomT("erpc"), atomT("execute_call"), small(4)), nilT()),
			list(reference(a, 1), atomT("os"), atomT("cmd"), list(atomT("id")))),
	))
	f.Add(byte(2), byte(0), pkt(hdrKind(hdrFragment, 1, 1, true, ref{ix: 2047, text: "long", def: true}), tuple(small(dopLink), cref(0), cref(0))))
	f.Fuzz(func(t *testing.T, mode, chunk byte, data []byte) {
		deny := func(m *Message) bool {
			if mode&1 == 0 {
				return false
			}
			h := fnv.New32a()
			h.Write([]byte{byte(m.Op), byte(m.DOP)})
			h.Write(m.Name)
			return h.Sum32()%2 == 0
		}
		r := &recorder{deny: deny}
		c := ready(t, r, Limits{MaxHold: 4 << 10, MaxCallBytes: 512, MaxSequences: 16})
		passed, replies, err := run(c, data, int(chunk)+1)
		if mode&1 == 0 {
			if !bytes.HasPrefix(data, passed) || len(replies) != 0 {
				t.Fatalf("allowing everything changed the stream")
			}
			return
		}
		if err != nil {
			return
		}
		rc := ready(t, &recorder{}, Limits{MaxHold: 8 << 10, MaxCallBytes: 512, MaxSequences: 16})
		if _, _, err := run(rc, passed, 1<<20); err != nil {
			t.Fatalf("the receiver cannot decode what passed: %v", err)
		}
		for _, rep := range replies {
			rr := ready(t, &recorder{}, Limits{})
			if _, _, err := run(rr, rep, 1<<20); err != nil {
				t.Fatalf("a spawn reply does not decode: %v", err)
			}
		}
	})
}
