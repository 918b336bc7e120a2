package crashtest

import (
	"errors"
	"fmt"
)

// Kinds of violation.
const (
	// KindTorn: a value is not its state after any prefix of its
	// transactions (a torn, mixed or unreadable value).
	KindTorn = "torn"
	// KindLost: an acknowledged transaction is not in its value (rolled
	// back or lost).
	KindLost = "lost"
	// KindDuplicate: two acknowledged transactions carry the same sequence
	// number on one value — one overwrote the other (a lost update).
	KindDuplicate = "duplicate-ack"
	// KindBadAck: an acknowledgement log holds a line that names no
	// transaction of the model.
	KindBadAck = "bad-ack"
	// KindLeftover: a journal or temporary file is left after recovery.
	KindLeftover = "leftover"
	// KindWorker: a worker saw a violation while running, or failed in a
	// way other than being killed.
	KindWorker = "worker"
	// KindRecovery: the final recovery failed.
	KindRecovery = "recovery"
)

// Violation is one broken promise found by the harness.
type Violation struct {
	Kind   string `json:"kind"`
	Key    string `json:"key,omitempty"`
	Detail string `json:"detail"`
}

func (v Violation) String() string {
	if v.Key == "" {
		return v.Kind + ": " + v.Detail
	}
	return fmt.Sprintf("%s %s: %s", v.Kind, v.Key, v.Detail)
}

// ErrViolation marks a worker's error that is a violation of a promise
// rather than a failure of the worker itself.
var ErrViolation = errors.New("violation")
