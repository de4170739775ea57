//go:build !unix

package wasm

// checkCacheDir checks nothing on systems without Unix permissions
// (Windows): the ACLs of the cache directory, which holds native code the
// engine runs, are not read.
func checkCacheDir(dir string) error { return nil }
