package engine

import (
	"errors"
	"fmt"

	"github.com/ringstore/ringstore/version"
)

// CorruptError reports a stored record that does not decode. It wraps an error
// that wraps version.ErrCorrupt, so errors.Is(err, version.ErrCorrupt) holds.
// A scan that stops on one can resume after Key.
type CorruptError struct {
	DB  int
	Key []byte
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("engine: record db %d key %q: %v", e.DB, e.Key, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrInvalidSiblings is returned by Merge and PutHint for a sibling set that
// could not be stored and read back: malformed clocks, over-long writer IDs,
// too many siblings, or versions that are not a canonical sibling set.
var ErrInvalidSiblings = errors.New("engine: invalid sibling set")

// maxWriterLen is the longest node ID (writer or clock entry) version.Decode
// accepts, which is also where version.Decoder.AppendSuccessor leaves a
// writer to the general way (TestSupersedeManyRefuses fails if the two
// part).
const maxWriterLen = 256

// checkSiblings reports why s cannot be stored, or nil. Storing only sets
// that pass keeps every record decodable: version.Decode rejects exactly
// these.
func checkSiblings(s version.Siblings) error {
	if len(s) > version.MaxSiblings {
		return fmt.Errorf("%w: %d siblings (max %d)", ErrInvalidSiblings, len(s), version.MaxSiblings)
	}
	for i := range s {
		v := &s[i]
		if !v.Clock.Valid() {
			return fmt.Errorf("%w: version %d has a malformed clock", ErrInvalidSiblings, i)
		}
		for _, e := range v.Clock {
			if len(e.Node) > maxWriterLen {
				return fmt.Errorf("%w: version %d clock node ID is %d bytes (max %d)", ErrInvalidSiblings, i, len(e.Node), maxWriterLen)
			}
		}
		if len(v.Writer) > maxWriterLen {
			return fmt.Errorf("%w: version %d writer is %d bytes (max %d)", ErrInvalidSiblings, i, len(v.Writer), maxWriterLen)
		}
	}
	if len(s) > 1 && !version.Merge(s[:1], s[1:]).Equal(s) {
		return fmt.Errorf("%w: not a canonical sibling set", ErrInvalidSiblings)
	}
	return nil
}
