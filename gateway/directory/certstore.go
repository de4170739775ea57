package directory

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Storage is certmagic's storage on etcd, shared by the gateways of a
// site, with etcd's locks: a public name's certificate is ordered once
// per site, by whichever gateway takes the name's lock first; the others
// find it in storage once they get the lock. A value is stored with its
// modification time in front (8 bytes, Unix nanoseconds, big-endian).
type Storage struct {
	cli      *clientv3.Client
	base     string        // <site prefix>certs/
	locks    string        // <site prefix>locks/
	lockTTL  time.Duration // a holder that dies frees its locks after this
	mu       sync.Mutex    // guards held
	held     map[string]*heldLock
	nowNanos func() int64
}

type heldLock struct {
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

var _ certmagic.Storage = (*Storage)(nil)

// NewStorage returns the certificate storage of a site's directory.
func NewStorage(d *Directory) *Storage {
	return &Storage{
		cli: d.cli, base: d.base + certsPrefix, locks: d.base + locksPrefix, lockTTL: max(d.cfg.TTL, 5*time.Second),
		held: map[string]*heldLock{}, nowNanos: func() int64 { return time.Now().UnixNano() },
	}
}

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(s.nowNanos()))
	if _, err := s.cli.Put(ctx, s.base+key, string(append(v, value...))); err != nil {
		return fmt.Errorf("certificate storage: store %s: %w", key, err)
	}
	return nil
}

func (s *Storage) get(ctx context.Context, key string) ([]byte, time.Time, error) {
	resp, err := s.cli.Get(ctx, s.base+key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("certificate storage: load %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, time.Time{}, fmt.Errorf("certificate storage: %s: %w", key, fs.ErrNotExist)
	}
	v := resp.Kvs[0].Value
	if len(v) < 8 {
		return nil, time.Time{}, fmt.Errorf("certificate storage: %s: a value of %d bytes", key, len(v))
	}
	return v[8:], time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}

// Load implements certmagic.Storage.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.get(ctx, key)
	return v, err
}

// Delete implements certmagic.Storage: the key, or every key under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	resp, err := s.cli.Delete(ctx, s.base+key)
	if err == nil && resp.Deleted == 0 {
		resp, err = s.cli.Delete(ctx, s.base+strings.TrimSuffix(key, "/")+"/", clientv3.WithPrefix())
		if err == nil && resp.Deleted == 0 {
			return fmt.Errorf("certificate storage: %s: %w", key, fs.ErrNotExist)
		}
	}
	if err != nil {
		return fmt.Errorf("certificate storage: delete %s: %w", key, err)
	}
	return nil
}

// Exists implements certmagic.Storage.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List implements certmagic.Storage.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	prefix := s.base + strings.TrimSuffix(dir, "/") + "/"
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("certificate storage: list %s: %w", dir, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), prefix)
		if !recursive {
			rel, _, _ = strings.Cut(rel, "/")
		}
		k := path.Join(dir, rel)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("certificate storage: %s: %w", dir, fs.ErrNotExist)
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	v, mod, err := s.get(ctx, key)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: mod, Size: int64(len(v)), IsTerminal: true}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return certmagic.KeyInfo{}, err
	}
	resp, lerr := s.cli.Get(ctx, s.base+strings.TrimSuffix(key, "/")+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if lerr != nil || resp.Count == 0 {
		return certmagic.KeyInfo{}, err
	}
	return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
}

// Lock implements certmagic.Locker with an etcd mutex held by a session
// of its own: a gateway that dies holding it frees it when the session's
// lease ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	session, err := concurrency.NewSession(s.cli, concurrency.WithTTL(int(s.lockTTL/time.Second)), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return fmt.Errorf("certificate storage: lock %s: %w", name, err)
	}
	m := concurrency.NewMutex(session, s.locks+name)
	if err := m.Lock(ctx); err != nil {
		session.Close()
		return fmt.Errorf("certificate storage: lock %s: %w", name, err)
	}
	s.mu.Lock()
	s.held[name] = &heldLock{session: session, mutex: m}
	s.mu.Unlock()
	return nil
}

// Unlock implements certmagic.Locker.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("certificate storage: unlock %s: not held", name)
	}
	err := h.mutex.Unlock(ctx)
	h.session.Close()
	if err != nil {
		return fmt.Errorf("certificate storage: unlock %s: %w", name, err)
	}
	return nil
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "etcd:" + s.base }
