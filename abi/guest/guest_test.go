package guest

import (
	"errors"
	"testing"

	"github.com/distgate/distgate/abi"
)

func newDispatcher(t *testing.T, p Policy, err error) *dispatcher {
	t.Helper()
	r := &dispatcher{newPolicy: func(config []byte) (Policy, error) {
		if string(config) != "cfg" {
			t.Errorf("config = %q", config)
		}
		return p, err
	}}
	return r
}

func call(r *dispatcher, msg []byte, f func(uint32) ([]byte, abi.Code)) ([]byte, abi.Code) {
	copy(r.alloc(uint32(len(msg))), msg)
	return f(uint32(len(msg)))
}

func TestLookup(t *testing.T) {
	r := newDispatcher(t, Policy{Lookup: func(req abi.LookupRequest) abi.Route {
		return abi.Via("site-"+req.Host, abi.TransportQUIC)
	}}, nil)
	if msg := r.init([]byte("cfg")); msg != nil {
		t.Fatalf("init: %s", msg)
	}
	req := abi.LookupRequest{Name: "db", Host: "eu"}
	out, code := call(r, req.Append(nil), r.lookup)
	if code != abi.CodeOK {
		t.Fatalf("lookup code %v", code)
	}
	route, err := abi.ParseRoute(out)
	if err != nil || route.Site != "site-eu" || route.Kind != abi.RouteVia {
		t.Fatalf("route = %+v, %v", route, err)
	}
	if _, code := call(r, []byte{1, 2, 3}, r.lookup); code != abi.CodeMalformed {
		t.Errorf("garbage request: code %v, want malformed", code)
	}
	if _, code := call(r, (&abi.AuthorizeRequest{}).Append(nil), r.authorize); code != abi.CodeUnsupported {
		t.Errorf("authorize without Authorize: code %v, want unsupported", code)
	}
	if _, code := r.lookup(1 << 20); code != abi.CodeMalformed {
		t.Errorf("length beyond the buffer: code %v, want malformed", code)
	}
}

func TestAuthorizePanics(t *testing.T) {
	r := newDispatcher(t, Policy{Authorize: func(req abi.AuthorizeRequest) abi.Decision { panic("boom") }}, nil)
	if msg := r.init([]byte("cfg")); msg != nil {
		t.Fatalf("init: %s", msg)
	}
	if _, code := call(r, (&abi.AuthorizeRequest{Action: abi.ActionList}).Append(nil), r.authorize); code != abi.CodeFailed {
		t.Errorf("panicking Authorize: code %v, want failed", code)
	}
}

func TestInitErrors(t *testing.T) {
	if msg := (&dispatcher{}).init(nil); string(msg) == "" {
		t.Error("init without Register succeeded")
	}
	r := newDispatcher(t, Policy{}, errors.New("bad glob"))
	if msg := r.init([]byte("cfg")); string(msg) != "bad glob" {
		t.Errorf("init with a failing constructor = %q", msg)
	}
	if _, code := call(r, (&abi.LookupRequest{}).Append(nil), r.lookup); code != abi.CodeFailed {
		t.Errorf("lookup after a failed init: code %v, want failed", code)
	}
	r = newDispatcher(t, Policy{}, nil)
	if msg := r.init([]byte("cfg")); msg == nil {
		t.Error("init of a policy with no decisions succeeded")
	}
}

func TestFilter(t *testing.T) {
	r := newDispatcher(t, Policy{Filter: func(req abi.FilterRequest) abi.Verdict {
		if req.Op == abi.OpSpawnRequest && req.Call.Module == "os" {
			return abi.DenyMessage("no os")
		}
		return abi.AllowMessage()
	}}, nil)
	if msg := r.init([]byte("cfg")); msg != nil {
		t.Fatalf("init: %s", msg)
	}
	req := abi.FilterRequest{Op: abi.OpSpawnRequest, Module: "erpc", Function: "execute_call", Arity: 4,
		Call: abi.Call{Via: abi.ViaErpc, Module: "os", Function: "cmd", Arity: 1}}
	out, code := call(r, req.Append(nil), r.filter)
	v, err := abi.ParseVerdict(out)
	if code != abi.CodeOK || err != nil || v.Action != abi.FilterDeny || v.Reason != "no os" {
		t.Fatalf("verdict = %+v, %v, %v", v, code, err)
	}
	if _, code := call(r, []byte{1, 5, 9}, r.filter); code != abi.CodeMalformed {
		t.Errorf("garbage request: code %v", code)
	}
	if _, code := call(r, (&abi.LookupRequest{}).Append(nil), r.lookup); code != abi.CodeUnsupported {
		t.Errorf("lookup of a filter-only policy: code %v", code)
	}
}
