package wasm

import (
	"errors"
	"fmt"
	"time"

	"github.com/distgate/distgate/abi"
)

// ErrInvalidModule is wrapped by the errors of Install and Activate when a
// module or its configuration is refused; the message says what is wrong.
var ErrInvalidModule = errors.New("invalid policy module")

// ErrNoPolicy is returned (wrapped) by decisions and admin calls naming a
// policy that is not installed, or whose active version failed to load.
var ErrNoPolicy = errors.New("no such policy")

// ErrBackoff is returned (wrapped) by decisions refused without calling a
// policy that crashed CrashesBeforeBackoff times in a row, until its
// backoff ends.
var ErrBackoff = errors.New("policy is backing off after repeated crashes")

// ErrClosed is returned by an Engine after Close.
var ErrClosed = errors.New("wasm: engine closed")

// TrapError reports a call that trapped or exited: an unreachable, an
// out-of-bounds access, a stack overflow, a Go panic, an allocation past
// the memory cap. The instance is discarded.
type TrapError struct {
	Policy  string
	Version int
	Cause   error
}

// Error implements error.
func (e *TrapError) Error() string {
	return fmt.Sprintf("wasm: policy %s v%d trapped: %v", e.Policy, e.Version, e.Cause)
}

// Unwrap returns the cause.
func (e *TrapError) Unwrap() error { return e.Cause }

// TimeoutError reports a call cut off at its deadline. The instance is
// discarded.
type TimeoutError struct {
	Policy  string
	Version int
	Limit   time.Duration
}

// Error implements error.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("wasm: policy %s v%d ran past its %v deadline", e.Policy, e.Version, e.Limit)
}

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// ResultError reports a call that returned an error code or a result the
// host cannot use. The instance is kept. It wraps errors.ErrUnsupported
// for abi.CodeUnsupported, and the decoding error for garbage.
type ResultError struct {
	Policy  string
	Version int
	Code    abi.Code // abi.CodeOK when the result itself was garbage
	Cause   error
}

// Error implements error.
func (e *ResultError) Error() string {
	if e.Code != abi.CodeOK {
		return fmt.Sprintf("wasm: policy %s v%d answered %v", e.Policy, e.Version, e.Code)
	}
	return fmt.Sprintf("wasm: policy %s v%d returned garbage: %v", e.Policy, e.Version, e.Cause)
}

// Unwrap returns errors.ErrUnsupported for abi.CodeUnsupported, else the
// decoding error.
func (e *ResultError) Unwrap() error {
	if e.Code == abi.CodeUnsupported {
		return errors.ErrUnsupported
	}
	return e.Cause
}
