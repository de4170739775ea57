package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/distgate/distgate/gateway"
)

// configFlags are the flags every command that reads the configuration
// shares.
type configFlags struct {
	config  string
	dataDir string
}

func (c *configFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "configuration `file` (YAML); embedded defaults without it")
	fs.StringVar(&c.dataDir, "data", "", "data `directory` (overrides data_dir)")
}

// load reads the configuration and applies the defaults.
func (c *configFlags) load() (gateway.Config, error) {
	var cfg gateway.Config
	if c.config != "" {
		var err error
		if cfg, err = gateway.LoadConfig(c.config); err != nil {
			return cfg, err
		}
	}
	if c.dataDir != "" {
		cfg.DataDir = c.dataDir
	}
	return cfg.WithDefaults(), nil
}

// runMain runs the gateway until SIGINT or SIGTERM.
func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs)
	debug := fs.Bool("debug", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintf(stderr, "distgate run: %v\n", err)
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	raiseFileLimit(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "distgate run: %v\n", err)
		return 1
	}
	defer closeWithin(g, logger, shutdownTimeout)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return 0
	case <-g.Killed():
		return 0
	case err := <-g.Err():
		logger.Error("stopped", "err", err)
		return 1
	}
}

// shutdownTimeout bounds how long `distgate run` waits for the gateway to
// close after SIGTERM, SIGINT or epmd -kill: it interrupts policy calls
// and ends relays at once, so this is only a bound for the unforeseen.
const shutdownTimeout = 3 * time.Second

// closeWithin closes g, giving up after d: the process exits then anyway,
// and with it whatever Close still waits for.
func closeWithin(g *gateway.Gateway, log *slog.Logger, d time.Duration) {
	done := make(chan struct{})
	go func() {
		g.Close()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Error("the gateway did not close in time: exiting anyway", "waited", d)
	}
}

// idMain prints the gateway's public identity, creating it on first use.
func idMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("id", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintf(stderr, "distgate id: %v\n", err)
		return 2
	}
	id, err := gateway.LoadOrCreateIdentity(cfg.DataDir, cfg.Site, timeNow())
	if err != nil {
		fmt.Fprintf(stderr, "distgate id: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, id.ID)
	return 0
}

func timeNow() time.Time { return time.Now() }
