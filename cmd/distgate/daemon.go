package main

import (
	"fmt"
	"io"
	"os"
)

// detach starts this same command line again, detached (daemonAttr: a new
// session on Unix, no console on Windows) with its standard files on the
// null device, and returns 0 at once, as `epmd -daemon` does. The child
// knows it is the daemon by daemonEnv.
func detach(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "epmd: cannot find own executable: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "epmd: %v\n", err)
		return 1
	}
	defer null.Close()
	dir, sys := daemonAttr()
	p, err := os.StartProcess(exe, os.Args, &os.ProcAttr{
		Dir:   dir,
		Env:   append(os.Environ(), daemonEnv+"=1"),
		Files: []*os.File{null, null, null},
		Sys:   sys,
	})
	if err != nil {
		fmt.Fprintf(stderr, "epmd: cannot start the daemon: %v\n", err)
		return 1
	}
	p.Release()
	return 0
}
