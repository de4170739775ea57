// Package benchutil holds what the benchmark programs under bench/ share:
// reading a process's CPU time and memory from /proc, the load average,
// child processes started and stopped with their output kept, and a
// driver of EPMD lookups over short connections. Their daemons' ports come
// from internal/freeport.
//
// It is Linux-only in practice: the /proc readers fail elsewhere.
package benchutil
