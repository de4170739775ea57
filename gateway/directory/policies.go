package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Shared policies. A policy pushed, activated or rolled back at any
// gateway of the site is published as its state (d/policies/<name>: the
// module's SHA-256 and the configuration), which every gateway's watch
// sees; its module is stored once, content-addressed, in chunks of
// chunkSize (blobs/<sha256>/<i>): a Go policy of a few MiB would exceed
// etcd's request limit (1.5 MiB by default) in one value.

// PutPolicy publishes a policy's state, storing its module first unless
// the site already has it.
func (d *Directory) PutPolicy(ctx context.Context, name string, module, config []byte) error {
	sum := sha256.Sum256(module)
	ps := PolicyState{
		Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(module),
		Chunks: (len(module) + chunkSize - 1) / chunkSize, Config: config, By: d.cfg.Self.ID, At: time.Now().UTC(),
	}
	if err := d.putBlob(ctx, ps, module); err != nil {
		return err
	}
	return d.putPolicyState(ctx, ps)
}

// RemovePolicy publishes a policy's removal: every gateway removes it.
func (d *Directory) RemovePolicy(ctx context.Context, name string) error {
	return d.putPolicyState(ctx, PolicyState{Name: name, Removed: true, By: d.cfg.Self.ID, At: time.Now().UTC()})
}

func (d *Directory) putPolicyState(ctx context.Context, ps PolicyState) error {
	b, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	if len(b) > maxRecord {
		return fmt.Errorf("directory: policy %s: a configuration of %d bytes does not fit a record of %d", ps.Name, len(ps.Config), maxRecord)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if _, err := d.cli.Put(ctx, d.base+policiesPrefix+ps.Name, string(b)); err != nil {
		return fmt.Errorf("directory: policy %s: %w", ps.Name, err)
	}
	return nil
}

func (d *Directory) blobKey(sum string, i int) string {
	return d.base + blobsPrefix + sum + "/" + fmt.Sprintf("%06d", i)
}

// putBlob stores a module's chunks, unless all are there.
func (d *Directory) putBlob(ctx context.Context, ps PolicyState, module []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 4*requestTimeout)
	defer cancel()
	resp, err := d.cli.Get(ctx, d.base+blobsPrefix+ps.SHA256+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("directory: module %s: %w", ps.SHA256, err)
	}
	if resp.Count == int64(ps.Chunks) {
		return nil
	}
	for i := 0; i < ps.Chunks; i++ {
		chunk := module[i*chunkSize : min((i+1)*chunkSize, len(module))]
		if _, err := d.cli.Put(ctx, d.blobKey(ps.SHA256, i), string(chunk)); err != nil {
			return fmt.Errorf("directory: module %s chunk %d: %w", ps.SHA256, i, err)
		}
	}
	return nil
}

// Module fetches a shared policy's module and checks it against its hash.
func (d *Directory) Module(ctx context.Context, ps PolicyState) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*requestTimeout)
	defer cancel()
	prefix := d.base + blobsPrefix + ps.SHA256 + "/"
	resp, err := d.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("directory: module %s: %w", ps.SHA256, err)
	}
	kvs := resp.Kvs
	sort.Slice(kvs, func(i, j int) bool { return bytes.Compare(kvs[i].Key, kvs[j].Key) < 0 })
	var module []byte
	for i, kv := range kvs {
		n, err := strconv.Atoi(strings.TrimPrefix(string(kv.Key), prefix))
		if err != nil || n != i {
			return nil, fmt.Errorf("directory: module %s: chunk %q out of place", ps.SHA256, kv.Key)
		}
		module = append(module, kv.Value...)
	}
	if sum := sha256.Sum256(module); hex.EncodeToString(sum[:]) != ps.SHA256 || len(module) != ps.Size {
		return nil, fmt.Errorf("directory: module %s: %d bytes in %d chunks do not match its hash", ps.SHA256, len(module), len(kvs))
	}
	return module, nil
}
