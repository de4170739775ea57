package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/distgate/distgate/gateway/datadir"
)

// adminFlags locate the admin API and its token.
type adminFlags struct {
	configFlags
	admin string
	token string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	a.configFlags.register(fs)
	fs.StringVar(&a.admin, "admin", "", "admin API `address` (host:port or unix:/path); from the config by default")
	fs.StringVar(&a.token, "token", "", "admin `token`; $DISTGATE_TOKEN, else <data_dir>/admin.token")
}

// adminClient talks to a gateway's admin API.
type adminClient struct {
	addr  string // as configured: host:port or unix:/path
	base  string
	token string
	http  *http.Client
}

func (a *adminFlags) client() (*adminClient, error) {
	cfg, err := a.load()
	if err != nil {
		return nil, err
	}
	addr := a.admin
	if addr == "" {
		addr = cfg.Admin.Listen
	}
	tok := a.token
	if tok == "" {
		tok = os.Getenv("DISTGATE_TOKEN")
	}
	if tok == "" && cfg.DataDir == "" {
		return nil, fmt.Errorf("admin token: %w (or give the token with -token or $DISTGATE_TOKEN)", datadir.ErrNoDataDir)
	}
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(cfg.DataDir, datadir.AdminToken))
		if err != nil {
			return nil, fmt.Errorf("admin token: %w (give the gateway's configuration with -config FILE, which names its data_dir and admin.listen; or -data DIR, -token, $DISTGATE_TOKEN)", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	c := &adminClient{addr: addr, base: "http://" + addr, token: tok, http: &http.Client{Timeout: 30 * time.Second}}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		c.base = "http://distgate"
		c.http.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}
	}
	return c, nil
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *adminClient) do(method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("admin API: %w (is the gateway running? give its configuration with -config FILE, or -admin ADDR)", err)
	}
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("admin API: %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin API: decoding the answer: %w", err)
	}
	return nil
}
