package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/distgate/distgate/epmd"
)

// epmdOptions are the daemon flags of OTP's epmd.
type epmdOptions struct {
	port          int
	debug         int
	daemon        bool
	relaxed       bool
	systemd       bool
	addresses     string
	packetTimeout int
	delayAccept   int
	delayWrite    int
	silent        bool // -started
}

// epmdMain is OTP's epmd: flags are taken left to right and an action flag
// (-names, -started, -dump, -kill, -stop) runs as soon as it is met, with
// the flags before it.
func epmdMain(prog string, args []string, stdout, stderr io.Writer) int {
	o := epmdOptions{
		port:          envPort(),
		relaxed:       os.Getenv("ERL_EPMD_RELAXED_COMMAND_CHECK") != "",
		addresses:     os.Getenv("ERL_EPMD_ADDRESS"),
		packetTimeout: 60,
	}
	for len(args) > 0 {
		switch a := args[0]; a {
		case "-d", "-debug":
			o.debug++
			args = args[1:]
		case "-packet_timeout", "-delay_accept", "-delay_write", "-port":
			if len(args) == 1 || atoi(args[1]) == 0 {
				return epmdUsage(stderr)
			}
			v := atoi(args[1])
			switch a {
			case "-packet_timeout":
				o.packetTimeout = v
			case "-delay_accept":
				o.delayAccept = v
			case "-delay_write":
				o.delayWrite = v
			case "-port":
				o.port = v
			}
			args = args[2:]
		case "-address":
			if len(args) == 1 {
				return epmdUsage(stderr)
			}
			o.addresses = args[1]
			args = args[2:]
		case "-daemon":
			o.daemon = true
			args = args[1:]
		case "-relaxed_command_check":
			o.relaxed = true
			args = args[1:]
		case "-systemd":
			o.systemd = true
			args = args[1:]
		case "-kill":
			if len(args) != 1 {
				return epmdUsage(stderr)
			}
			return epmdKill(o, stdout, stderr)
		case "-names", "-started", "-dump":
			if len(args) != 1 {
				return epmdUsage(stderr)
			}
			o.silent = a == "-started"
			cmd := byte('n')
			if a == "-dump" {
				cmd = 'd'
			}
			return epmdCall(o, cmd, stdout, stderr)
		case "-stop":
			if len(args) != 2 {
				return epmdUsage(stderr)
			}
			return epmdStop(o, args[1], stdout, stderr)
		default:
			return epmdUsage(stderr)
		}
	}
	if o.daemon && os.Getenv(daemonEnv) == "" {
		return detach(stderr)
	}
	return epmdServe(o, stderr)
}

// daemonEnv marks the detached child of `epmd -daemon`.
const daemonEnv = "DISTGATE_EPMD_DETACHED"

// envPort is ERL_EPMD_PORT as C's atoi reads it, else 4369.
func envPort() int {
	if s, ok := os.LookupEnv("ERL_EPMD_PORT"); ok {
		return atoi(s)
	}
	return epmd.DefaultPort
}

// atoi is glibc's atoi, (int)strtol(s, NULL, 10): optional spaces and
// sign, then digits up to the first other byte, 0 when there are none; a
// value beyond a 64-bit long is clamped to it, and the result is cut to
// the low 32 bits of a C int (so "4294967296" is 0, "4294967295" is -1).
func atoi(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	const over = 1<<63 + 1 // past any long's magnitude
	var n uint64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if d := uint64(s[i] - '0'); n <= (over-d)/10 {
			n = n*10 + d
		} else {
			n = over
		}
	}
	var l int64 // strtol's long
	switch {
	case neg && n >= 1<<63:
		l = math.MinInt64
	case neg:
		l = -int64(n)
	case n >= 1<<63:
		l = math.MaxInt64
	default:
		l = int64(n)
	}
	return int(int32(l))
}

// packetTimeout is epmd's -packet_timeout: the int that atoi read, stored
// in an unsigned int (epmd_int.h), in seconds. "-1" is 2^32-1 s: never.
func packetTimeout(v int) time.Duration {
	return time.Duration(uint32(int32(v))) * time.Second
}

func epmdServe(o epmdOptions, stderr io.Writer) int {
	logger := slog.New(newEpmdLogHandler(stderr, o.debug, o.daemon))
	raiseFileLimit(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var lns []net.Listener
	var err error
	if o.systemd {
		lns, err = systemdListeners()
	} else {
		lns, err = epmd.Listen(ctx, o.port, o.addresses)
	}
	if errors.Is(err, epmd.ErrAddrInUse) {
		logger.Debug(fmt.Sprintf("there is already a epmd running at port %d", o.port))
		return 0
	}
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	maxUnreg := 0
	if o.debug > 0 {
		maxUnreg = 5 // as OTP's epmd: -d shortens the list of old names
	}
	killed := make(chan struct{})
	srv := epmd.NewServer(epmd.Config{
		Port:            o.port,
		Relaxed:         o.relaxed,
		PacketTimeout:   packetTimeout(o.packetTimeout),
		DelayAccept:     time.Duration(o.delayAccept) * time.Second,
		DelayWrite:      time.Duration(o.delayWrite) * time.Second,
		MaxUnregistered: maxUnreg,
		Logger:          logger,
		OnKill:          func() { close(killed) },
	})
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	logger.Debug("entering the main loop", "port", o.port, "listeners", len(lns))
	select {
	case <-killed:
		// KILL was answered: exit 0 at once, as OTP's epmd does.
		return 0
	case <-ctx.Done():
		srv.Close()
		return 0
	case err := <-errc:
		if err == nil {
			// Serve returns nil once the server is closed: a KILL, whose
			// close can reach here before killed is seen.
			return 0
		}
		logger.Error(err.Error())
		srv.Close()
		return 1
	}
}

// dialLocalEpmd connects as OTP's epmd client does: ::1 first, then
// 127.0.0.1.
func dialLocalEpmd(port int) (net.Conn, error) {
	p := strconv.Itoa(port)
	c, err := net.DialTimeout("tcp", net.JoinHostPort("::1", p), 10*time.Second)
	if err == nil {
		return c, nil
	}
	return net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", p), 10*time.Second)
}

func epmdConnect(o epmdOptions, stderr io.Writer) (net.Conn, bool) {
	c, err := dialLocalEpmd(o.port)
	if err != nil {
		if !o.silent {
			fmt.Fprint(stderr, "epmd: Cannot connect to local epmd\n")
		}
		return nil, false
	}
	return c, true
}

// epmdCall runs -names, -started and -dump.
func epmdCall(o epmdOptions, cmd byte, stdout, stderr io.Writer) int {
	c, ok := epmdConnect(o, stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	if _, err := c.Write([]byte{0, 1, cmd}); err != nil {
		fmt.Fprint(stdout, "epmd: Can't write to epmd\n")
		return 1
	}
	var hdr [4]byte
	if n, _ := c.Read(hdr[:]); n != 4 {
		if !o.silent {
			fmt.Fprint(stdout, "epmd: no response from local epmd\n")
		}
		return 1
	}
	body, _ := io.ReadAll(c)
	if !o.silent {
		port := int32(uint32(hdr[0])<<24 | uint32(hdr[1])<<16 | uint32(hdr[2])<<8 | uint32(hdr[3]))
		out := fmt.Appendf(nil, "epmd: up and running on port %d with data:\n", port)
		stdout.Write(append(out, body...))
	}
	return 0
}

// readFill reads up to len(b) bytes, as epmd's read_fill: it returns the
// count, 0 at EOF, -1 on an error.
func readFill(c net.Conn, b []byte) int {
	n, err := io.ReadFull(c, b)
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return -1
	}
	return n
}

func epmdKill(o epmdOptions, stdout, stderr io.Writer) int {
	c, ok := epmdConnect(o, stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	if _, err := c.Write([]byte{0, 1, 'k'}); err != nil {
		fmt.Fprint(stdout, "epmd: Can't write to epmd\n")
		return 1
	}
	b := make([]byte, 2)
	switch n := readFill(c, b); {
	case n == 2 && string(b) == "OK":
		fmt.Fprint(stdout, "Killed\n")
		return 0
	case n == 2:
		fmt.Fprint(stdout, "Killing not allowed - living nodes in database.\n")
		return 1
	case n < 0:
		fmt.Fprint(stdout, "epmd: failed to read answer from local epmd\n")
		return 1
	default:
		fmt.Fprintf(stdout, "epmd: local epmd responded with <%s>\n", b[:n])
		return 1
	}
}

func epmdStop(o epmdOptions, name string, stdout, stderr io.Writer) int {
	if len(name) > 1000 {
		fmt.Fprint(stdout, "epmd: Name too long!")
		return 1
	}
	c, ok := epmdConnect(o, stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	if _, err := c.Write(epmd.AppendFrame(nil, append([]byte{'s'}, name...))); err != nil {
		fmt.Fprint(stdout, "epmd: Can't write to epmd\n")
		return 1
	}
	b := make([]byte, 7)
	switch n := readFill(c, b); {
	case n == 7:
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	case n < 0:
		fmt.Fprint(stdout, "epmd: failed to read answer from local epmd\n")
		return 1
	default:
		fmt.Fprintf(stdout, "epmd: local epmd responded with <%s>\n", b[:n])
		return 1
	}
}

// epmdUsage prints OTP epmd's usage text and returns its exit code.
func epmdUsage(stderr io.Writer) int {
	fmt.Fprint(stderr, epmdUsageText)
	return 1
}

const epmdUsageText = `usage: epmd [-d|-debug] [DbgExtra...] [-address List]
            [-port No] [-daemon] [-relaxed_command_check]
       epmd [-d|-debug] [-port No] [-names|-kill|-stop name]

See the Erlang epmd manual page for info about the usage.

Regular options
    -address List
        Let epmd listen only on the comma-separated list of IP
        addresses (and on the loopback interface).
    -port No
        Let epmd listen to another port than default 4369
    -d
    -debug
        Enable debugging. This will give a log to
        the standard error stream. It will shorten
        the number of saved used node names to 5.

        If you give more than one debug flag you may
        get more debugging information.
    -daemon
        Start epmd detached (as a daemon)
    -relaxed_command_check
        Allow this instance of epmd to be killed with
        epmd -kill even if there are registered nodes.
        Also allows forced unregister (epmd -stop).
    -systemd
        Wait for socket from systemd. The option makes sense
        when started from .socket unit.

DbgExtra options
    -packet_timeout Seconds
        Set the number of seconds a connection can be
        inactive before epmd times out and closes the
        connection (default 60).

    -delay_accept Seconds
        To simulate a busy server you can insert a
        delay between epmd gets notified about that
        a new connection is requested and when the
        connections gets accepted.

    -delay_write Seconds
        Also a simulation of a busy server. Inserts
        a delay before a reply is sent.

Interactive options
    -names
        List names registered with the currently running epmd
    -kill
        Kill the currently running epmd
        (only allowed if -names show empty database or
        -relaxed_command_check was given when epmd was started).
    -stop Name
        Forcibly unregisters a name with epmd
        (only allowed if -relaxed_command_check was given when 
        epmd was started).
`
