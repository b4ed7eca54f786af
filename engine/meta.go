package engine

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

var errMetaName = errors.New("engine: meta name must not be empty")

// GetMeta returns the metadata value stored under name, and whether there is
// one. The value is the caller's.
func (s *Store) GetMeta(name string) ([]byte, bool, error) {
	if name == "" {
		return nil, false, errMetaName
	}
	if !s.gate.enter() {
		return nil, false, ErrClosed
	}
	defer s.gate.exit()
	val, closer, err := s.db.Get(appendMetaKey(nil, name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("engine: get meta %q: %w", name, err)
	}
	defer closer.Close()
	return append([]byte{}, val...), true, nil
}

// PutMeta stores val under name, synced whatever the fsync policy: metadata
// (node ID, ring log) is small, rare and must not be lost.
func (s *Store) PutMeta(name string, val []byte) error {
	if name == "" {
		return errMetaName
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()
	if err := s.db.Set(appendMetaKey(nil, name), val, pebble.Sync); err != nil {
		return fmt.Errorf("engine: put meta %q: %w", name, err)
	}
	return nil
}
