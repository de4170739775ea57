// Package e2e holds distgate's end-to-end tests: real `erl` nodes, the
// stock `epmd` binary as a client and as a baseline, and distgate run as a
// separate process, all on loopback with private ports.
//
// The tests need Erlang/OTP (erl, erlc, epmd); `make test` installs it from
// Debian's packages. Without it they skip, except under CI=true, where a
// missing tool fails them.
package e2e
