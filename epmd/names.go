package epmd

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// appendPortHeader appends the 4-byte big-endian port that opens NAMES and
// DUMP replies; OTP's client checks that it equals the port it dialled.
func appendPortHeader(b []byte, port int) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(port))
}

// appendNamesLine appends one NAMES line: "name %s at port %d\n".
func appendNamesLine(b []byte, name string, port uint16) []byte {
	b = append(b, "name "...)
	b = append(b, name...)
	b = append(b, " at port "...)
	b = strconv.AppendUint(b, uint64(port), 10)
	return append(b, '\n')
}

// appendDumpActive appends one DUMP line for a registered node, with its
// terminating NUL: "active name     <%s> at port %d, fd = %d\n\0".
func appendDumpActive(b []byte, name string, port uint16, fd int) []byte {
	b = append(b, "active name     <"...)
	b = append(b, name...)
	b = append(b, "> at port "...)
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(b, ", fd = "...)
	b = strconv.AppendInt(b, int64(fd), 10)
	return append(b, '\n', 0)
}

// appendDumpOld appends one DUMP line for a remembered unregistered name:
// "old/unused name <%s>, port = %d, fd = %d \n\0".
func appendDumpOld(b []byte, name string, port uint16, fd int) []byte {
	b = append(b, "old/unused name <"...)
	b = append(b, name...)
	b = append(b, ">, port = "...)
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(b, ", fd = "...)
	b = strconv.AppendInt(b, int64(fd), 10)
	return append(b, " \n\x00"...)
}

// NameEntry is one line of a NAMES reply.
type NameEntry struct {
	Name string
	Port int
}

// ParseNames parses a whole NAMES reply as read until close: the 4-byte
// port of the daemon, then "name N at port P\n" lines.
func ParseNames(b []byte) (daemonPort int, names []NameEntry, err error) {
	if len(b) < 4 {
		return 0, nil, errMalformed
	}
	daemonPort = int(binary.BigEndian.Uint32(b))
	rest := string(b[4:])
	for rest != "" {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		const pre, mid = "name ", " at port "
		line, found := strings.CutPrefix(line, pre)
		if !found {
			return daemonPort, names, errMalformed
		}
		j := strings.LastIndex(line, mid)
		if j < 0 {
			return daemonPort, names, errMalformed
		}
		port, perr := strconv.Atoi(line[j+len(mid):])
		if perr != nil {
			return daemonPort, names, errMalformed
		}
		names = append(names, NameEntry{Name: line[:j], Port: port})
	}
	return daemonPort, names, nil
}
