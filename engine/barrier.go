package engine

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/ringstore/ringstore/version"
)

// Flush barriers.
//
// A flush that must hold across a ring (FLUSHALL or FLUSHDB sent to every
// member) cannot rely on deleting records alone: copies of the flushed
// versions are still in flight or elsewhere (replica writes racing the
// flush, hints, read repair, anti-entropy from a member that has not
// flushed yet), and merging one would bring it back. So a flush records a
// barrier, an HLC reading, per database, durably and before it deletes:
// from then on Update drops every incoming version of that database
// written before the barrier. The coordinators observe the barrier, so
// their later writes are stamped after it.

// barrierMeta is the metadata record: one little-endian uint64 per
// database.
const barrierMeta = "flush-barriers"

// loadBarriers reads the barriers at Open.
func (s *Store) loadBarriers() error {
	s.barriers = make([]atomic.Uint64, s.cfg.Databases)
	b, ok, err := s.GetMeta(barrierMeta)
	if err != nil || !ok {
		return err
	}
	for db := 0; db < len(s.barriers) && 8*(db+1) <= len(b); db++ {
		s.barriers[db].Store(binary.LittleEndian.Uint64(b[8*db:]))
	}
	return nil
}

// FlushBefore empties db (every database when db < 0) and from then on
// drops every version of it written before barrier that a merge brings in.
// The barrier is stored, synced, before anything is deleted, and never moves
// back: a flush with an older barrier keeps the newer one.
func (s *Store) FlushBefore(db int, barrier version.HLC) error {
	if db >= 0 {
		if err := s.checkDB(db); err != nil {
			return err
		}
	}
	s.barrierMu.Lock()
	for d := range s.barriers {
		if db < 0 || d == db {
			if barrier > version.HLC(s.barriers[d].Load()) {
				s.barriers[d].Store(uint64(barrier))
			}
		}
	}
	rec := make([]byte, 8*len(s.barriers))
	for d := range s.barriers {
		binary.LittleEndian.PutUint64(rec[8*d:], s.barriers[d].Load())
	}
	err := s.PutMeta(barrierMeta, rec)
	s.barrierMu.Unlock()
	if err != nil {
		return fmt.Errorf("engine: flush: record the barrier: %w", err)
	}
	if db < 0 {
		return s.FlushAll()
	}
	return s.FlushDB(db)
}

// Barrier returns db's flush barrier (0: none).
func (s *Store) Barrier(db int) version.HLC {
	if db < 0 || db >= len(s.barriers) {
		return 0
	}
	return version.HLC(s.barriers[db].Load())
}

// afterBarrier returns the versions of in written at or after db's
// barrier: in itself when none is older, else a new set.
func (s *Store) afterBarrier(db int, in version.Siblings) version.Siblings {
	b := s.Barrier(db)
	if b == 0 {
		return in
	}
	keep := 0
	for i := range in {
		if in[i].Timestamp >= b {
			keep++
		}
	}
	if keep == len(in) {
		return in
	}
	out := make(version.Siblings, 0, keep)
	for _, v := range in {
		if v.Timestamp >= b {
			out = append(out, v)
		}
	}
	return out
}
