package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/gateway/pki"
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

// loadSiteAndDataDir reads only site and data_dir from the configuration
// file, ignoring every other key, and applies the defaults: what `id`
// needs from a file that does not validate yet.
func (c *configFlags) loadSiteAndDataDir() (gateway.Config, error) {
	b, err := os.ReadFile(c.config)
	if err != nil {
		return gateway.Config{}, fmt.Errorf("config: %w", err)
	}
	var f struct {
		Site    string `yaml:"site"`
		DataDir string `yaml:"data_dir"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return gateway.Config{}, fmt.Errorf("config %s: %w", c.config, err)
	}
	cfg := gateway.Config{Site: f.Site, DataDir: f.DataDir}
	if err := cfg.Validate(); err != nil {
		return gateway.Config{}, fmt.Errorf("config %s: %w", c.config, err)
	}
	// As LoadConfig: a relative data_dir is relative to the file.
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(filepath.Dir(c.config), cfg.DataDir)
	}
	if c.dataDir != "" {
		cfg.DataDir = c.dataDir
	}
	return cfg.WithDefaults(), nil
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
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		fmt.Fprintf(stderr, "distgate run: %v\n", err)
		return 1
	}
	defer unlock()
	raiseFileLimit(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger, Version: version})
	if err != nil {
		fmt.Fprintf(stderr, "distgate run: %v\n", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintln(stderr, "distgate run: another epmd or gateway holds that address; two gateways on one host need their own epmd.listen, admin.listen (127.0.0.1:4370 by default), links ports and data_dir")
		}
		return 1
	}
	defer closeWithin(g, logger, shutdownTimeout)
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
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
	if err != nil && cf.config != "" {
		// The identity needs only site and data_dir: a file that is not
		// ready to run yet (a peer's identity still a placeholder, say)
		// still tells them.
		lenient, lerr := cf.loadSiteAndDataDir()
		if lerr != nil {
			fmt.Fprintf(stderr, "distgate id: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "distgate id: warning: %v\n", err)
		fmt.Fprintf(stderr, "distgate id: warning: `distgate run` will refuse this file until that is fixed; a peer's identity is what `distgate id -config FILE` prints on that peer. The identity below is for site %q, data_dir %s.\n", lenient.Site, lenient.DataDir)
		cfg, err = lenient, nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "distgate id: %v\n", err)
		return 2
	}
	id, err := pki.LoadOrCreateIdentity(cfg.DataDir, cfg.Site, timeNow())
	if err != nil {
		fmt.Fprintf(stderr, "distgate id: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, id.ID)
	return 0
}

func timeNow() time.Time { return time.Now() }
