package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcd for the site tests is etcd's own server, pinned in go.mod as a tool
// (like Pebble) and built once per test run: a real cluster of separate
// processes, whose leader can be killed.
var etcdBuild struct {
	sync.Once
	path string
	err  error
}

func etcdBin(t testing.TB) string {
	t.Helper()
	etcdBuild.Do(func() {
		out := filepath.Join(binDir, "etcd")
		cmd := exec.Command("go", "build", "-o", out, "go.etcd.io/etcd/server/v3")
		cmd.Dir = repoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			etcdBuild.err = fmt.Errorf("go build etcd: %v\n%s", err, b)
			return
		}
		etcdBuild.path = out
	})
	if etcdBuild.err != nil {
		t.Fatal(etcdBuild.err)
	}
	return etcdBuild.path
}

// etcdMember is one member of a test cluster.
type etcdMember struct {
	name, dir       string
	client, peerURL string
	args            []string
	proc            *proc
}

// etcdCluster is a cluster of three etcd processes on one address.
type etcdCluster struct {
	members []*etcdMember
	t       testing.TB
}

// startEtcd starts a three-member cluster listening on ip, with short
// heartbeats and elections (a killed leader is replaced in about a
// second), and waits until it has a leader.
func startEtcd(t testing.TB, ip string) *etcdCluster {
	t.Helper()
	bin := etcdBin(t)
	c := &etcdCluster{t: t}
	var initial []string
	for i := range 3 {
		m := &etcdMember{name: fmt.Sprintf("m%d", i+1), dir: filepath.Join(t.TempDir(), "etcd")}
		m.client = fmt.Sprintf("http://%s:%d", ip, freePort(t))
		m.peerURL = fmt.Sprintf("http://%s:%d", ip, freePort(t))
		initial = append(initial, m.name+"="+m.peerURL)
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.args = []string{bin, "--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "distgate-e2e", "--heartbeat-interval", "50", "--election-timeout", "500",
			"--log-level", "error", "--unsafe-no-fsync"}
		m.start(t)
	}
	c.waitLeader(t)
	return c
}

func (m *etcdMember) start(t testing.TB) {
	m.proc = startProc(t, nil, m.args[0], m.args[1:]...)
}

// endpoints are the client URLs.
func (c *etcdCluster) endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.client)
	}
	return out
}

// client returns a client of the cluster, closed with the test.
func (c *etcdCluster) client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// leader returns the member that leads now, or nil.
func (c *etcdCluster) leader(t testing.TB) *etcdMember {
	t.Helper()
	cli := c.client(t)
	for _, m := range c.members {
		if m.proc.exited(0) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.client)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return m
		}
	}
	return nil
}

func (c *etcdCluster) waitLeader(t testing.TB) *etcdMember {
	t.Helper()
	var l *etcdMember
	waitUntil(t, "an etcd leader", 30, func() bool { l = c.leader(t); return l != nil })
	return l
}

// kill stops a member at once (SIGKILL).
func (m *etcdMember) kill() {
	m.proc.cmd.Process.Signal(syscall.SIGKILL)
	m.proc.exited(10 * time.Second)
}

// restart starts a stopped member again on its data directory, for the
// rest of the test that started the cluster (t).
func (m *etcdMember) restart(t testing.TB) {
	args := append([]string(nil), m.args...)
	for i, a := range args {
		if a == "new" {
			args[i] = "existing"
		}
	}
	m.args = args
	m.start(t)
}

// keyExists reports whether etcd has a key now.
func keyExists(t testing.TB, cli *clientv3.Client, key string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key, clientv3.WithCountOnly())
	if err != nil {
		t.Logf("etcd get %s: %v", key, err)
		return false
	}
	return resp.Count > 0
}

// keyValue returns a key's value now ("" when absent).
func keyValue(t testing.TB, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}
