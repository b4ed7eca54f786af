package engine

import (
	"fmt"
	"log/slog"
	"sync/atomic"
)

// Stats are cumulative counters since Open.
type Stats struct {
	RecordsWritten   uint64 // Merge calls that stored a changed record
	MergesUnchanged  uint64 // Merge calls whose input added nothing (no write)
	PebbleReads      uint64 // record lookups the record cache could not answer
	ExpireCycles     uint64 // background expiry cycles run
	ExpireExamined   uint64 // records examined by expiry cycles (at most ExpireBudget a cycle)
	ExpiredPurged    uint64 // records whose expired values were dropped (made tombstones, or removed)
	TombstonesPurged uint64 // records removed because every version was dead past TombstoneGrace
	ExpireSkipped    uint64 // expiry actions skipped because the record changed meanwhile
	CorruptRecords   uint64 // undecodable records seen by expiry (left in place; counted once per pass)
	HintsWritten     uint64
	HintsDeleted     uint64
	SlotsDropped     uint64 // slots removed by DropSlots (counted once per call that named them)
	RecordsDropped   uint64 // records removed by DropSlots
}

type counters struct {
	recordsWritten   atomic.Uint64
	mergesUnchanged  atomic.Uint64
	pebbleReads      atomic.Uint64
	expireCycles     atomic.Uint64
	expireExamined   atomic.Uint64
	expiredPurged    atomic.Uint64
	tombstonesPurged atomic.Uint64
	expireSkipped    atomic.Uint64
	corruptRecords   atomic.Uint64
	hintsWritten     atomic.Uint64
	hintsDeleted     atomic.Uint64
	slotsDropped     atomic.Uint64
	recordsDropped   atomic.Uint64
}

// writes counts every kind of write, so that a change means the WAL may hold
// unsynced data.
func (c *counters) writes() uint64 {
	return c.recordsWritten.Load() + c.expiredPurged.Load() + c.tombstonesPurged.Load() +
		c.hintsWritten.Load() + c.hintsDeleted.Load()
}

// Stats returns the current counters. It works after Close too.
func (s *Store) Stats() Stats {
	c := &s.stats
	return Stats{
		RecordsWritten:   c.recordsWritten.Load(),
		MergesUnchanged:  c.mergesUnchanged.Load(),
		PebbleReads:      c.pebbleReads.Load(),
		ExpireCycles:     c.expireCycles.Load(),
		ExpireExamined:   c.expireExamined.Load(),
		ExpiredPurged:    c.expiredPurged.Load(),
		TombstonesPurged: c.tombstonesPurged.Load(),
		ExpireSkipped:    c.expireSkipped.Load(),
		CorruptRecords:   c.corruptRecords.Load(),
		HintsWritten:     c.hintsWritten.Load(),
		HintsDeleted:     c.hintsDeleted.Load(),
		SlotsDropped:     c.slotsDropped.Load(),
		RecordsDropped:   c.recordsDropped.Load(),
	}
}

// pebbleLogger sends pebble's log lines to slog: Infof at Debug, Errorf at
// Error. Fatalf logs and panics: pebble calls it only when it cannot continue
// (a failed WAL write), and its own default exits the process.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}
