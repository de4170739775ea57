package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable returns s as it may be written to a terminal: control
// characters (C0, DEL, C1: escapes, carriage returns, newlines, tabs),
// bidirectional controls, line and paragraph separators and bytes that
// are not UTF-8 are shown escaped, as Go writes them (\x1b, \n, \u202e).
// Node names, routes and reasons are the words of anyone who registers
// with the EPMD, of strangers on the public edge and of peers: written
// raw, they could drive the operator's terminal (set its clipboard or
// title, clear it) or forge lines.
func printable(s string) string {
	i := strings.IndexFunc(s, unprintable)
	if i < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case unprintable(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || unicode.In(r, unicode.Zl, unicode.Zp) ||
		r == utf8.RuneError
}

// say writes a line, or lines, of text whose arguments may be anybody's
// words: the format's leading and trailing newlines are written, and
// the rest, formatted, is made printable.
func say(w io.Writer, format string, a ...any) {
	core := strings.TrimLeft(format, "\n")
	lead := len(format) - len(core)
	core = strings.TrimRight(core, "\n")
	trail := len(format) - lead - len(core)
	io.WriteString(w, strings.Repeat("\n", lead)+printable(fmt.Sprintf(core, a...))+strings.Repeat("\n", trail))
}
