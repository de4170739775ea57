package gateway

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/distgate/distgate/wasm/wasmtest"
)

// build builds the policy modules of the tests, once per test process.
var build *wasmtest.Builder

// TestMain checks that every test's gateways, links and relays leave no
// goroutine behind once closed.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distgate-gateway-test")
	if err != nil {
		panic(err)
	}
	build = wasmtest.NewBuilder(dir)
	goleak.VerifyTestMain(m,
		// certmagic refreshes a storage lock file in a goroutine that
		// notices the lock is gone only at its next 5-second tick.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
		goleak.Cleanup(func(code int) {
			os.RemoveAll(dir)
			os.Exit(code)
		}))
}
