package epmd

import "sync/atomic"

// requestCounts counts the requests a server answered or refused, by
// command byte.
type requestCounts [256]atomic.Uint64

// CommandName names a request's command as the metrics do: alive2,
// port_please2, names, dump, kill, stop, register_x, add_transports,
// lookup_x, names_x; "other" for anything else.
func CommandName(cmd byte) string {
	switch cmd {
	case cmdAlive2:
		return "alive2"
	case cmdPortPlease:
		return "port_please2"
	case cmdNames:
		return "names"
	case cmdDump:
		return "dump"
	case cmdKill:
		return "kill"
	case cmdStop:
		return "stop"
	case cmdRegisterX:
		return "register_x"
	case cmdAddTranspts:
		return "add_transports"
	case cmdLookupX:
		return "lookup_x"
	case cmdNamesX:
		return "names_x"
	}
	return "other"
}

// Requests returns how many requests the server has read, by command
// name (CommandName); commands never seen are absent.
func (s *Server) Requests() map[string]uint64 {
	out := map[string]uint64{}
	for cmd := range s.requests {
		if n := s.requests[cmd].Load(); n > 0 {
			out[CommandName(byte(cmd))] += n
		}
	}
	return out
}
