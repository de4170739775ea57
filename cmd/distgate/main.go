// Command distgate is an edge gateway for Erlang/Elixir distribution.
//
// The gateway and its EPMD:
//
//	distgate run [-config FILE] [-data DIR] [-debug]
//	        the gateway: the EPMD, links to peer gateways, proxy ports, the
//	        public edge, policies and the admin API (embedded defaults
//	        without -config: the EPMD on 127.0.0.1:4369)
//	distgate epmd [epmd flags]
//	        a drop-in for OTP's epmd: the same flags (-daemon, -names,
//	        -kill, -port, -address, -relaxed_command_check, ...),
//	        environment, output and exit codes
//	distgate id [-config FILE] [-data DIR]
//	        the gateway's identity, for peers to pin (created on first use)
//
// Asking an EPMD (this host's, or a gateway's remote query port with
// -remote HOST:PORT -cert F -key F [-ca F] [-server-name N] [-quic]):
//
//	distgate names [-port N] [-host H]
//	        every node with all its transports (classic NAMES from a
//	        stock epmd)
//	distgate lookup NAME@HOST [-port N] [-host H] [-accept inet_tls,inet_tcp]
//	        the endpoints of a node, by full name
//
// Through a running gateway's admin API (-config FILE, -data DIR,
// -admin ADDR, -token TOKEN):
//
//	distgate status [-json]
//	        links, proxy ports, relayed connections, certificates
//	        (-json: the schema of gateway/STATUS.md)
//	distgate events [-node NAME] [-follow] [-n 100] [-json]
//	        relayed connections established, ended (and why), refused;
//	        links up and down
//	distgate why NODE
//	        what the gateway knows of a node's last connections, in one
//	        screen
//	distgate ui [-no-open]
//	        a one-time login URL for the status page (opened in a
//	        browser where one can be)
//	distgate policy push NAME MODULE.wasm [-config-file FILE]
//	distgate policy list
//	distgate policy activate NAME VERSION
//	distgate policy rollback NAME
//	distgate policy test NAME NODE@HOST [-version N] [-accept ...] [-asker NODE]
//	distgate policy logs NAME [-n 50]
//	distgate policy remove NAME
//	        the gateway's WebAssembly policies: upload, list, switch
//	        versions, dry-run, read their logs, delete
//
// And distgate version prints the version.
//
// Started under the name "epmd" (a link or a copy), distgate behaves as
// OTP's epmd, so it can stand first in PATH or be given to `erl -epmd`.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	os.Exit(doMain(os.Args, os.Stdout, os.Stderr))
}

// subcommand returns the entry point of a subcommand, nil when unknown.
func subcommand(name string) func(args []string, stdout, stderr io.Writer) int {
	switch name {
	case "run":
		return runMain
	case "epmd":
		return func(args []string, stdout, stderr io.Writer) int { return epmdMain("epmd", args, stdout, stderr) }
	case "names":
		return namesMain
	case "lookup":
		return lookupMain
	case "id":
		return idMain
	case "status":
		return statusMain
	case "events":
		return eventsMain
	case "why":
		return whyMain
	case "ui":
		return uiMain
	case "policy":
		return policyMain
	case "version":
		return func(_ []string, stdout, _ io.Writer) int { fmt.Fprintln(stdout, "distgate", version); return 0 }
	}
	return nil
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func doMain(argv []string, stdout, stderr io.Writer) int {
	prog := filepath.Base(argv[0])
	args := argv[1:]
	// Under the name epmd, behave as epmd unless a subcommand is asked for.
	if prog == "epmd" && (len(args) == 0 || subcommand(args[0]) == nil) {
		return epmdMain(argv[0], args, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := subcommand(args[0])
	if cmd == nil {
		fmt.Fprintf(stderr, "distgate: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, strings.TrimLeft(`
distgate: an edge gateway for Erlang/Elixir distribution

usage:
  distgate run [-config FILE]          run the gateway (embedded defaults without -config)
  distgate epmd [epmd flags]           a drop-in for OTP's epmd (see: distgate epmd -help)
  distgate names [-port N]             list nodes with all their transports
  distgate lookup [-port N] NAME@HOST  show the endpoints of a node
  distgate id [-config FILE]           print this gateway's identity (peers pin it)
  distgate status [-config FILE]       links, proxy ports and relayed connections
  distgate events [-node N] [-follow]  relayed connections' lives (and why they ended), links up and down
  distgate why NODE                    what the gateway knows of a node's last connections
  distgate ui [-config FILE]           a one-time login URL for the status page (opened where it can be)
  distgate policy push|list|activate|rollback|test|logs|remove ...
                                       manage the gateway's WebAssembly policies
  distgate version                     print the version

Started as "epmd" (a link or a copy of this binary), distgate is OTP's epmd.
`, "\n"))
}
