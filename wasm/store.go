package wasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Version is one uploaded version of a policy: a module and the
// configuration it was installed with.
type Version struct {
	Policy    string    `json:"-"`
	Seq       int       `json:"seq"`    // 1, 2, ... in the order of installation; 0 = none
	SHA256    string    `json:"sha256"` // hex SHA-256 of the module
	Size      int       `json:"size"`   // bytes of the module
	Config    []byte    `json:"config,omitempty"`
	Installed time.Time `json:"installed"`
}

// index is a policy's index.json: its kept versions, oldest first, and
// which one is active.
type index struct {
	Active   int       `json:"active"`
	Next     int       `json:"next"`
	Versions []Version `json:"versions"`
}

func (x *index) find(seq int) (Version, bool) {
	for _, v := range x.Versions {
		if v.Seq == seq {
			return v, true
		}
	}
	return Version{}, false
}

// store keeps policies in a directory:
//
//	<dir>/<name>/index.json      the index, replaced atomically
//	<dir>/<name>/<sha256>.wasm   the modules of the kept versions
//
// With dir "", it keeps them in memory. The engine serializes its calls.
type store struct {
	dir     string
	keep    int
	indexes map[string]*index
	modules map[string][]byte // in memory only: by <name>/<sha256>
}

// openStore reads the indexes under dir.
func openStore(dir string, keep int) (*store, error) {
	s := &store{dir: dir, keep: keep, indexes: map[string]*index{}, modules: map[string][]byte{}}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wasm: store: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wasm: store: %w", err)
	}
	for _, ent := range ents {
		if !ent.IsDir() || checkName(ent.Name()) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ent.Name(), "index.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wasm: store: %w", err)
		}
		x := new(index)
		if err := json.Unmarshal(b, x); err != nil {
			return nil, fmt.Errorf("wasm: store: %s/index.json: %w", ent.Name(), err)
		}
		for i := range x.Versions {
			x.Versions[i].Policy = ent.Name()
		}
		s.indexes[ent.Name()] = x
	}
	return s, nil
}

// names returns the stored policies, sorted.
func (s *store) names() []string {
	names := make([]string, 0, len(s.indexes))
	for n := range s.indexes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// next returns the sequence number the next version of name gets.
func (s *store) next(name string) int {
	if x := s.indexes[name]; x != nil {
		return x.Next
	}
	return 1
}

// add stores a new version and makes it active, then drops the oldest
// versions beyond the keep count.
func (s *store) add(v Version, module []byte) error {
	x := s.indexes[v.Policy]
	if x == nil {
		x = &index{Next: 1}
	}
	if v.Seq != x.Next {
		return fmt.Errorf("wasm: store: %s: version %d, want %d", v.Policy, v.Seq, x.Next)
	}
	if err := s.putModule(v.Policy, v.SHA256, module); err != nil {
		return err
	}
	nx := &index{Active: v.Seq, Next: v.Seq + 1, Versions: append(slices.Clone(x.Versions), v)}
	for len(nx.Versions) > s.keep && len(nx.Versions) > 1 {
		nx.Versions = nx.Versions[1:]
	}
	return s.writeIndex(v.Policy, nx)
}

// activate makes a kept version active.
func (s *store) activate(name string, seq int) error {
	x := s.indexes[name]
	if x == nil {
		return fmt.Errorf("wasm: store: %s: %w", name, ErrNoPolicy)
	}
	nx := *x
	nx.Active = seq
	return s.writeIndex(name, &nx)
}

// module returns the module of v, checked against its hash.
func (s *store) module(v Version) ([]byte, error) {
	var b []byte
	if s.dir == "" {
		b = s.modules[v.Policy+"/"+v.SHA256]
	} else {
		var err error
		if b, err = os.ReadFile(filepath.Join(s.dir, v.Policy, v.SHA256+".wasm")); err != nil {
			return nil, fmt.Errorf("wasm: store: %w", err)
		}
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != v.SHA256 {
		return nil, fmt.Errorf("wasm: store: %s v%d: module does not match its hash %s", v.Policy, v.Seq, v.SHA256)
	}
	return b, nil
}

// remove forgets a policy and deletes its files.
func (s *store) remove(name string) error {
	delete(s.indexes, name)
	if s.dir == "" {
		for k := range s.modules {
			if strings.HasPrefix(k, name+"/") {
				delete(s.modules, k)
			}
		}
		return nil
	}
	// Rename first, so that a crash leaves either the whole policy or none.
	dir := filepath.Join(s.dir, name)
	gone := filepath.Join(s.dir, fmt.Sprintf(".removed-%s-%d", name, time.Now().UnixNano()))
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("wasm: store: remove %s: %w", name, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}

func (s *store) putModule(name, sum string, module []byte) error {
	if s.dir == "" {
		s.modules[name+"/"+sum] = bytes.Clone(module)
		return nil
	}
	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("wasm: store: %w", err)
	}
	path := filepath.Join(dir, sum+".wasm")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeFileAtomic(path, module)
}

// writeIndex replaces the index of name and deletes the modules no kept
// version uses.
func (s *store) writeIndex(name string, x *index) error {
	used := map[string]bool{}
	for _, v := range x.Versions {
		used[v.SHA256] = true
	}
	if s.dir == "" {
		s.indexes[name] = x
		for k := range s.modules {
			if i := strings.LastIndexByte(k, '/'); k[:i] == name && !used[k[i+1:]] {
				delete(s.modules, k)
			}
		}
		return nil
	}
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return fmt.Errorf("wasm: store: %w", err)
	}
	dir := filepath.Join(s.dir, name)
	if err := writeFileAtomic(filepath.Join(dir, "index.json"), b); err != nil {
		return err
	}
	s.indexes[name] = x
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wasm: store: %w", err)
	}
	for _, ent := range ents {
		if sum, ok := strings.CutSuffix(ent.Name(), ".wasm"); ok && !used[sum] {
			os.Remove(filepath.Join(dir, ent.Name()))
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("wasm: store: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("wasm: store: write %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wasm: store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wasm: store: sync %s: %w", dir, err)
	}
	return nil
}

// checkName accepts policy names that are safe as directory names:
// 1 to 64 of a-z, 0-9, '.', '_', '-', not starting with '.' or '-'.
func checkName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("wasm: policy name %q: want 1 to 64 of a-z 0-9 . _ -, not starting with . or -", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("wasm: policy name %q: character %q not allowed (a-z 0-9 . _ -)", name, c)
		}
	}
	return nil
}
