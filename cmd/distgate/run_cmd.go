package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/distgate/distgate/epmd"
)

// runMain runs the gateway. With no flags it runs on embedded defaults:
// the EPMD on 127.0.0.1:4369.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	epmdAddr := fs.String("epmd", "127.0.0.1:"+strconv.Itoa(envPort()), "`address` of the EPMD listener")
	relaxed := fs.Bool("relaxed", false, "allow epmd -kill with live nodes and epmd -stop")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	raiseFileLimit(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	_, portStr, err := net.SplitHostPort(*epmdAddr)
	if err != nil {
		fmt.Fprintf(stderr, "distgate run: -epmd %q: %v\n", *epmdAddr, err)
		return 2
	}
	port, _ := strconv.Atoi(portStr)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *epmdAddr)
	if err != nil {
		fmt.Fprintf(stderr, "distgate run: %v\n", err)
		return 1
	}
	srv := epmd.NewServer(epmd.Config{Port: port, Relaxed: *relaxed, Logger: logger})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("distgate running", "epmd", ln.Addr().String())
	select {
	case <-ctx.Done():
		srv.Close()
		return 0
	case err := <-errc:
		logger.Error("epmd stopped", "err", err)
		srv.Close()
		return 1
	}
}
