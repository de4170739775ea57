package link

import "fmt"

// Transport is how a link is carried.
type Transport uint8

// Transports. The zero value leaves the choice to the peer's
// configuration: QUIC when it has a QUIC address, else TLS.
const (
	Auto Transport = iota
	QUIC
	TLS
)

// String returns "quic", "tls" or "auto".
func (t Transport) String() string {
	switch t {
	case QUIC:
		return "quic"
	case TLS:
		return "tls"
	}
	return "auto"
}

// ParseTransport parses "quic", "tls", or "" (Auto): the form of the
// configuration file and of a policy's route.
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "":
		return Auto, nil
	case "quic":
		return QUIC, nil
	case "tls":
		return TLS, nil
	}
	return Auto, fmt.Errorf("transport %q: want quic or tls", s)
}

// MarshalText implements encoding.TextMarshaler: JSON shows the name.
func (t Transport) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Transport) UnmarshalText(b []byte) error {
	if string(b) == "auto" {
		*t = Auto
		return nil
	}
	v, err := ParseTransport(string(b))
	*t = v
	return err
}
