package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distgate/distgate/gateway"
	"github.com/distgate/distgate/wasm"
)

const policyUsage = `usage:
  distgate policy push NAME MODULE.wasm [-config-file FILE]   upload a version and activate it
  distgate policy list                                          policies, versions (sha256), counters
  distgate policy activate NAME VERSION                         activate a kept version
  distgate policy rollback NAME                                 activate the version before the active one
  distgate policy test NAME NODE@HOST [-version N] [-accept inet_tcp,...] [-asker NODE]
                                                                dry-run a lookup against a version
  distgate policy logs NAME [-n 50]                             the policy's recent log lines
  distgate policy remove NAME                                   delete a policy and its versions
Common flags: -config FILE, -data DIR, -admin ADDR, -token TOKEN.
The gateway asks the policy named "lookup" for lookups and "authorize" for
authorizations (policy.lookup and policy.authorize in the config).
`

// policyMain manages a running gateway's policies through its admin API.
func policyMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("policy "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	configFile := fs.String("config-file", "", "the policy's configuration `file` (push)")
	version := fs.Int("version", 0, "the version to test (test); 0 = the active one")
	accept := fs.String("accept", "", "protocols the asker accepts (test)")
	asker := fs.String("asker", "", "the asking node (test)")
	n := fs.Int("n", 50, "how many lines (logs)")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	// Flags may come before or after the operands.
	var operands []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		operands = append(operands, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	want := map[string]int{"push": 2, "list": 0, "activate": 2, "rollback": 1, "test": 2, "logs": 1, "remove": 1}
	nargs, ok := want[verb]
	if !ok || len(operands) != nargs {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintf(stderr, "distgate policy: %v\n", err)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "distgate policy %s: %v\n", verb, err)
		return 1
	}
	show := func(v any) {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	}
	path := "/v1/policies/"
	if len(operands) > 0 {
		path += url.PathEscape(operands[0])
	}
	switch verb {
	case "push":
		module, err := os.ReadFile(operands[1])
		if err != nil {
			return fail(err)
		}
		var config []byte
		if *configFile != "" {
			if config, err = os.ReadFile(*configFile); err != nil {
				return fail(err)
			}
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("module", operands[1])
		fw.Write(module)
		if config != nil {
			fw, _ = mw.CreateFormFile("config", *configFile)
			fw.Write(config)
		}
		mw.Close()
		var v wasm.Version
		if err := c.do("POST", path, &body, mw.FormDataContentType(), &v); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s version %d active (sha256 %s, %d bytes)\n", operands[0], v.Seq, v.SHA256, v.Size)
	case "list":
		var views []gateway.PolicyView
		if err := c.do("GET", "/v1/policies", nil, "", &views); err != nil {
			return fail(err)
		}
		if *asJSON {
			show(views)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tROLE\tVERSION\tACTIVE\tSHA256\tSIZE\tINSTALLED\tCALLS\tFAILURES\tTESTS\tP99")
		for _, p := range views {
			for _, v := range p.Versions {
				active := ""
				if p.Active != nil && p.Active.Seq == v.Seq {
					active = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%v\n", p.Name, p.Role, v.Seq, active, v.SHA256[:16], v.Size,
					v.Installed.Format("2006-01-02 15:04:05"), p.Stats.Calls, p.Stats.Failures, p.Stats.Tests, p.DecisionP99.Round(time.Microsecond))
			}
			if p.Error != "" {
				fmt.Fprintf(tw, "%s\t\t\t\terror: %s\n", p.Name, p.Error)
			}
		}
		tw.Flush()
	case "activate":
		seq, err := strconv.Atoi(operands[1])
		if err != nil {
			return fail(fmt.Errorf("version %q is not a number", operands[1]))
		}
		var v wasm.Version
		if err := c.do("POST", path+"/activate", strings.NewReader(fmt.Sprintf(`{"version": %d}`, seq)), "application/json", &v); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s version %d active\n", operands[0], v.Seq)
	case "rollback":
		var v wasm.Version
		if err := c.do("POST", path+"/rollback", nil, "", &v); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s version %d active\n", operands[0], v.Seq)
	case "test":
		t := gateway.PolicyTest{Node: operands[1], Asker: *asker, Version: *version}
		if *accept != "" {
			t.Accept = strings.Split(*accept, ",")
		}
		b, _ := json.Marshal(t)
		var rv gateway.RouteView
		if err := c.do("POST", path+"/test", bytes.NewReader(b), "application/json", &rv); err != nil {
			return fail(err)
		}
		if *asJSON {
			show(rv)
			return 0
		}
		fmt.Fprintf(stdout, "%s -> %s", operands[1], rv.Kind)
		switch rv.Kind {
		case "via":
			fmt.Fprintf(stdout, " site %s transport %q", rv.Site, rv.Transport)
		case "deny":
			fmt.Fprintf(stdout, ": %s", rv.Reason)
		case "local":
			for _, ep := range rv.Endpoints {
				fmt.Fprintf(stdout, " %s:%d", ep.Proto, ep.Port)
			}
		}
		if rv.LivenessMS != 0 || rv.TickMS != 0 || rv.Priority != 0 {
			fmt.Fprintf(stdout, " (liveness %d ms, tick %d ms, priority %d)", rv.LivenessMS, rv.TickMS, rv.Priority)
		}
		fmt.Fprintf(stdout, "  [%v]\n", rv.Took)
	case "logs":
		var out struct{ Lines []string }
		if err := c.do("GET", fmt.Sprintf("%s/logs?n=%d", path, *n), nil, "", &out); err != nil {
			return fail(err)
		}
		for _, l := range out.Lines {
			fmt.Fprintln(stdout, l)
		}
	case "remove":
		if err := c.do("DELETE", path, nil, "", nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s removed\n", operands[0])
	}
	return 0
}
