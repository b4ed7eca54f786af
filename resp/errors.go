package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// Error texts of the connection and server commands, exactly as Redis 7
// writes them.
const (
	errSyntax     = "ERR syntax error"
	errNotInteger = "ERR value is not an integer or out of range"
	errDBRange    = "ERR DB index is out of range"
	errNoAuth     = "NOAUTH Authentication required."
	errWrongPass  = "WRONGPASS invalid username-password pair or user is disabled."
	errNoPassword = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errTimeout    = "TRYAGAIN the request timed out; it may or may not have taken effect"
	errShutdown   = "TRYAGAIN the server is shutting down"
)

// writeError turns an error from the coordinator (or a handler) into Redis
// error text. The prefix is chosen on purpose (DESIGN.md "Commands"):
// clients retry TRYAGAIN and NOREPLICAS, so a missed quorum, an unreachable
// coordinator, a timeout or a shutdown use them; a malformed context or a
// bad database index is final (ERR).
func (srv *Server) writeError(w *Writer, err error) {
	var qe *coordinator.QuorumError
	switch {
	case errors.As(err, &qe) && qe.Op == "write":
		w.Error(fmt.Sprintf("NOREPLICAS Not enough good replicas to write: %d of %d acknowledged (the write may still have been stored)", qe.Got, qe.Need))
	case errors.As(err, &qe):
		w.Error(fmt.Sprintf("TRYAGAIN Not enough replicas answered the read: %d of %d", qe.Got, qe.Need))
	case errors.Is(err, coordinator.ErrUnreachable):
		w.Error("TRYAGAIN the node that coordinates this key is unreachable")
	case errors.Is(err, context.DeadlineExceeded):
		w.Error(errTimeout)
	case errors.Is(err, context.Canceled):
		w.Error(errShutdown)
	case errors.Is(err, version.ErrBadContext):
		w.Error("ERR invalid context")
	case isDBRangeError(err):
		w.Error(errDBRange)
	default:
		w.Error("ERR " + err.Error())
	}
}

// isDBRangeError recognises the coordinator's "db N out of range" error,
// which has no sentinel yet; handlers check the index first, so this is a
// fallback.
func isDBRangeError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "coordinator: db ") && strings.HasSuffix(msg, "out of range")
}
