package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ringstore/ringstore/version"
)

// Hint is a write held for a replica that was down (sloppy quorum), to be
// handed off when Target is back.
type Hint struct {
	Target   string // node ID of the intended replica
	DB       int
	Key      []byte
	Siblings version.Siblings
	Seq      uint64 // identifies the hint; increases with every PutHint
}

// PutHint stores a hint for target, synced under FsyncAlways. Every call adds
// a hint of its own, with a new sequence number, even for a key that already
// has one: hints are never merged, because handing off several is as correct
// (the target merges them) and cheaper than a read-merge-write here.
func (s *Store) PutHint(target string, db int, key []byte, sib version.Siblings) error {
	if err := s.checkDB(db); err != nil {
		return err
	}
	if len(target) == 0 || len(target) > maxHintTarget {
		return errHintTarget
	}
	if len(sib) == 0 {
		return fmt.Errorf("%w: empty hint", ErrInvalidSiblings)
	}
	if err := checkSiblings(sib); err != nil {
		return err
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()

	seq := s.hintSeq.Add(1)
	k := appendHintKey(nil, target, seq)
	v := []byte{byte(db)}
	v = binary.AppendUvarint(v, uint64(len(key)))
	v = append(v, key...)
	v = sib.AppendBinary(v)
	// Count first, so that a concurrent DeleteHint of this hint never sees a
	// count of zero; undo it if the write fails.
	s.addHintCount(target, 1)
	if err := s.db.Set(k, v, s.wo); err != nil {
		s.addHintCount(target, -1)
		return fmt.Errorf("engine: put hint for %q: %w", target, err)
	}
	s.stats.hintsWritten.Add(1)
	return nil
}

func (s *Store) addHintCount(target string, d int) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	if n := s.hintCounts[target] + d; n > 0 {
		s.hintCounts[target] = n
	} else {
		delete(s.hintCounts, target)
	}
}

// decodeHint decodes a stored hint value, which the result does not alias.
func decodeHint(target string, seq uint64, val []byte) (Hint, error) {
	h := Hint{Target: target, Seq: seq}
	if len(val) < 1 {
		return Hint{}, fmt.Errorf("%w: empty hint", version.ErrCorrupt)
	}
	h.DB = int(val[0])
	n, w := binary.Uvarint(val[1:])
	if w <= 0 || n > uint64(len(val)-1-w) {
		return Hint{}, fmt.Errorf("%w: bad hint key length", version.ErrCorrupt)
	}
	rest := bytes.Clone(val[1+w:])
	h.Key = rest[:n:n]
	sib, err := version.Decode(rest[n:])
	if err != nil {
		return Hint{}, err
	}
	h.Siblings = sib
	return h, nil
}

// Hints returns up to limit hints for target (all when limit <= 0), oldest
// first. The result is the caller's. A hint that does not decode is an error
// wrapping version.ErrCorrupt that names its sequence number; DeleteHint with
// that Target and Seq removes it.
func (s *Store) Hints(target string, limit int) ([]Hint, error) {
	if len(target) == 0 || len(target) > maxHintTarget {
		return nil, errHintTarget
	}
	if !s.gate.enter() {
		return nil, ErrClosed
	}
	defer s.gate.exit()
	prefix := appendHintPrefix(nil, target)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keySuccessor(prefix)})
	if err != nil {
		return nil, fmt.Errorf("engine: hints for %q: %w", target, err)
	}
	var out []Hint
	for valid := iter.First(); valid && (limit <= 0 || len(out) < limit); valid = iter.Next() {
		t, seq, ok := parseHintKey(iter.Key())
		if !ok || t != target {
			continue
		}
		val, verr := iter.ValueAndErr()
		if verr != nil {
			err = verr
			break
		}
		h, herr := decodeHint(target, seq, val)
		if herr != nil {
			err = fmt.Errorf("hint seq %d: %w", seq, herr)
			break
		}
		out = append(out, h)
	}
	if err := errors.Join(err, iter.Error(), iter.Close()); err != nil {
		return nil, fmt.Errorf("engine: hints for %q: %w", target, err)
	}
	return out, nil
}

// DeleteHint removes the hint h.Target, h.Seq (other fields are ignored); a
// hint already gone is not an error. The delete is not synced: if a crash
// undoes it, the hint is handed off again, which merging makes harmless.
func (s *Store) DeleteHint(h Hint) error {
	if len(h.Target) == 0 || len(h.Target) > maxHintTarget {
		return errHintTarget
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()
	k := appendHintKey(nil, h.Target, h.Seq)
	// hintMu makes the existence check and the delete one step for the count.
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	_, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: delete hint %q seq %d: %w", h.Target, h.Seq, err)
	}
	closer.Close()
	if err := s.db.Delete(k, pebble.NoSync); err != nil {
		return fmt.Errorf("engine: delete hint %q seq %d: %w", h.Target, h.Seq, err)
	}
	if n := s.hintCounts[h.Target] - 1; n > 0 {
		s.hintCounts[h.Target] = n
	} else {
		delete(s.hintCounts, h.Target)
	}
	s.stats.hintsDeleted.Add(1)
	return nil
}

// HintCounts returns the number of stored hints per target (targets with none
// are absent). The map is the caller's.
func (s *Store) HintCounts() (map[string]int, error) {
	if !s.gate.enter() {
		return nil, ErrClosed
	}
	defer s.gate.exit()
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	out := make(map[string]int, len(s.hintCounts))
	for t, n := range s.hintCounts {
		out[t] = n
	}
	return out, nil
}

// loadHints counts the stored hints and finds the last sequence number, at
// Open.
func (s *Store) loadHints() error {
	s.hintCounts = make(map[string]int)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{nsHint}, UpperBound: []byte{nsHint + 1}})
	if err != nil {
		return fmt.Errorf("engine: load hints: %w", err)
	}
	var last uint64
	for valid := iter.First(); valid; valid = iter.Next() {
		target, seq, ok := parseHintKey(iter.Key())
		if !ok {
			s.log.Warn("ignoring malformed hint key", "key", iter.Key())
			continue
		}
		s.hintCounts[target]++
		last = max(last, seq)
	}
	if err := errors.Join(iter.Error(), iter.Close()); err != nil {
		return fmt.Errorf("engine: load hints: %w", err)
	}
	s.hintSeq.Store(last)
	return nil
}
