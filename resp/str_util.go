package resp

import (
	"errors"
	"strconv"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// Reply texts of the string and key commands, exactly as Redis 7 writes
// them (errors.go has the ones shared with other commands).
const (
	txtWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	txtNotFloat    = "ERR value is not a valid float"
	txtIncrOver    = "ERR increment or decrement would overflow"
	txtDecrOver    = "ERR decrement would overflow"
	txtNaN         = "ERR increment would produce NaN or Infinity"
	txtOffsetRange = "ERR offset is out of range"
	txtTooBig      = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	txtBitOffset   = "ERR bit offset is not an integer or out of range"
	txtBitValue    = "ERR bit is not an integer or out of range"
	txtNoKey       = "ERR no such key"
	txtSameObject  = "ERR source and destination objects are the same"
	txtIntRange    = "ERR value is out of range, value must between -2147483648 and 2147483647"
	txtBadCursor   = "ERR invalid cursor"
)

// replyText is an error whose text is the exact Redis reply. An Update
// function returns one to abort without writing; replyErr writes it as is.
type replyText string

func (e replyText) Error() string { return string(e) }

// replyErr writes err: Redis text for a replyText, and srv.writeError's
// mapping for anything from the coordinator.
func (srv *Server) replyErr(w *Writer, err error) {
	var t replyText
	if errors.As(err, &t) {
		w.Error(string(t))
		return
	}
	srv.writeError(w, err)
}

// expireTimeText is Redis's "invalid expire time" error for the named command.
func expireTimeText(cmd string) string {
	return "ERR invalid expire time in '" + cmd + "' command"
}

// arityText is Redis's wrong-number-of-arguments error, for the commands
// (MSET, MSETNX) whose argument count is checked past the table's arity.
func arityText(cmd string) string {
	return "ERR wrong number of arguments for '" + cmd + "' command"
}

// parseIntArg parses an integer argument for a command whose option is an
// int in Redis (getIntFromObjectOrReply): strict syntax, then the int range.
// It returns the error text to reply, or "".
func parseIntArg(b []byte) (int, string) {
	v, ok := parseRedisInt(b)
	if !ok {
		return 0, errNotInteger
	}
	if v < -1<<31 || v > 1<<31-1 {
		return 0, txtIntRange
	}
	return int(v), ""
}

// eqFold reports whether the argument b equals the lower-case ASCII word
// under ASCII case folding. Like Redis's strcasecmp on its NUL-terminated
// argument strings, bytes after a NUL in b are ignored.
func eqFold(b []byte, lower string) bool {
	if len(b) < len(lower) || (len(b) > len(lower) && b[len(lower)] != 0) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// stringValue is the Value of a new or rewritten string.
func stringValue(data []byte, expireAt int64) coordinator.Value {
	return coordinator.Value{Kind: version.KindString, Data: data, ExpireAt: expireAt}
}

// isString reports whether a visible value is a string.
func isString(v coordinator.Value) bool { return v.Kind == version.KindString }

// typeName is what TYPE answers and SCAN TYPE filters by.
func typeName(k version.Kind) string {
	switch k {
	case version.KindString:
		return "string"
	}
	return "unknown"
}

// appendInt is strconv.AppendInt in base 10, for values stored as strings.
func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
