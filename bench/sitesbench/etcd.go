package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/distgate/distgate/bench/internal/benchutil"
	"github.com/distgate/distgate/internal/freeport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdCluster is three etcd members on loopback: the site directory of
// every site of the benchmark, each under its own prefix.
type etcdCluster struct {
	members []*child
	clients []string
}

// startEtcd starts a three-member cluster with short heartbeats and
// elections and waits until it has a leader.
func (b *bench) startEtcd() (*etcdCluster, error) {
	c := &etcdCluster{}
	var initial, peers []string
	for i := range 3 {
		cp, err := freeport.Link()
		if err != nil {
			return nil, err
		}
		pp, err := freeport.Link()
		if err != nil {
			return nil, err
		}
		c.clients = append(c.clients, fmt.Sprintf("http://127.0.0.1:%d", cp))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", pp))
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, peers[i]))
	}
	for i := range 3 {
		m, err := benchutil.StartChild(fmt.Sprintf("etcd m%d", i+1), nil, false, b.o.etcd,
			"--name", fmt.Sprintf("m%d", i+1), "--data-dir", filepath.Join(b.dir, fmt.Sprintf("etcd%d", i+1)),
			"--listen-client-urls", c.clients[i], "--advertise-client-urls", c.clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "sitesbench", "--heartbeat-interval", "50", "--election-timeout", "500",
			"--log-level", "error", "--unsafe-no-fsync")
		if err != nil {
			c.stop()
			return nil, err
		}
		c.members = append(c.members, m)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.clients, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.stop()
		return nil, err
	}
	defer cli.Close()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, c.clients[0])
		cancel()
		if err == nil && st.Leader != 0 {
			return c, nil
		}
	}
	c.stop()
	return nil, fmt.Errorf("etcd: no leader after 30 s:\n%s", c.members[0].Out)
}

func (c *etcdCluster) stop() {
	for _, m := range c.members {
		m.Stop()
	}
}
