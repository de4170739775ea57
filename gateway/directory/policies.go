package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Shared policies. A policy pushed, activated or rolled back at any
// gateway of the site is published as its state (d/policies/<name>: the
// module's SHA-256 and the configuration), which every gateway's watch
// sees; its module is stored once, content-addressed, in chunks of
// chunkSize (blobs/<sha256>/<i>): a Go policy of a few MiB would exceed
// etcd's request limit (1.5 MiB by default) in one value.

// PutPolicy publishes a policy's state, storing its module first.
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

// putBlob stores a module's chunks. It writes them all every time: a
// chunk is named by the module's hash, so writing it again changes
// nothing, and a set of chunks planted under that hash before is
// overwritten rather than believed.
func (d *Directory) putBlob(ctx context.Context, ps PolicyState, module []byte) error {
	if len(module) > maxModule {
		return fmt.Errorf("directory: module %s: %d bytes, over %d", ps.SHA256, len(module), maxModule)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*requestTimeout)
	defer cancel()
	for i := 0; i < ps.Chunks; i++ {
		chunk := module[i*chunkSize : min((i+1)*chunkSize, len(module))]
		if _, err := d.cli.Put(ctx, d.blobKey(ps.SHA256, i), string(chunk)); err != nil {
			return fmt.Errorf("directory: module %s chunk %d: %w", ps.SHA256, i, err)
		}
	}
	return nil
}

// Module fetches a shared policy's module, chunk by chunk, and checks it
// against its hash. A state that announces more than maxModule bytes, or
// a chunk over chunkSize, is refused before anything is read.
func (d *Directory) Module(ctx context.Context, ps PolicyState) ([]byte, error) {
	if ps.Size <= 0 || ps.Size > maxModule || ps.Chunks != (ps.Size+chunkSize-1)/chunkSize {
		return nil, fmt.Errorf("directory: module %s: %d bytes in %d chunks: not a module this gateway takes", ps.SHA256, ps.Size, ps.Chunks)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*requestTimeout)
	defer cancel()
	module := make([]byte, 0, ps.Size)
	for i := range ps.Chunks {
		resp, err := d.cli.Get(ctx, d.blobKey(ps.SHA256, i))
		if err != nil {
			return nil, fmt.Errorf("directory: module %s: %w", ps.SHA256, err)
		}
		if len(resp.Kvs) != 1 {
			return nil, fmt.Errorf("directory: module %s: chunk %d is missing", ps.SHA256, i)
		}
		v := resp.Kvs[0].Value
		if want := min(chunkSize, ps.Size-len(module)); len(v) != want {
			return nil, fmt.Errorf("directory: module %s: chunk %d of %d bytes, want %d", ps.SHA256, i, len(v), want)
		}
		module = append(module, v...)
	}
	if sum := sha256.Sum256(module); hex.EncodeToString(sum[:]) != ps.SHA256 {
		return nil, fmt.Errorf("directory: module %s: its %d bytes do not match its hash", ps.SHA256, len(module))
	}
	return module, nil
}
