package distfilter

import "testing"

type allowAll struct{}

func (allowAll) Connect(*Peers) Verdict  { return Verdict{Action: Allow} }
func (allowAll) Decide(*Message) Verdict { return Verdict{Action: Allow} }

// stream returns n packets as a node sends a process's messages: a
// SEND_SENDER with atom cache references (defined by the first), and a
// binary payload of size bytes.
func stream(n, size int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		refs := []ref{{ix: 10, text: "a@host.example"}, {ix: 11, text: "b@host.example"}}
		if i == 0 {
			refs[0].def, refs[1].def = true, true
		}
		b = append(b, pkt(hdr(refs...), tuple(small(dopSendSender), pid(cref(0), 5), pid(cref(1), 6)), binT(size))...)
	}
	return b
}

func benchIn(b *testing.B, size, read int) {
	data := stream(64, size)
	c := ready(b, allowAll{}, Limits{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p := data; len(p) > 0; {
			k := min(read, len(p))
			if _, _, err := c.In(p[:k]); err != nil {
				b.Fatal(err)
			}
			p = p[k:]
		}
	}
}

// Reads of the relay's large buffer (256 KiB) and of its small one.
func BenchmarkIn1K(b *testing.B)      { benchIn(b, 1<<10, 256<<10) }
func BenchmarkIn64K(b *testing.B)     { benchIn(b, 64<<10, 256<<10) }
func BenchmarkIn1KSmall(b *testing.B) { benchIn(b, 1<<10, 512) }
