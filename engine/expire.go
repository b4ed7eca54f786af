package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// expireLoop runs an expiry cycle every ExpireInterval until Close, except
// while an expirePacer holds the next pass back.
func (s *Store) expireLoop() {
	t := time.NewTicker(s.cfg.ExpireInterval)
	defer t.Stop()
	pace := expirePacer{step: s.cfg.ExpireInterval}
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if pace.holds(now) {
				continue
			}
			passEnded, idle := s.expireCycle()
			// The wait counts from the cycle's end: one that read large
			// records for a while does not use it up.
			pace.cycled(time.Now(), passEnded, idle)
		}
	}
}

// maxIdlePassWait is the longest an expiry walk waits, after passes that
// found nothing to do, before it starts the next one.
const maxIdlePassWait = 30 * time.Second

// expirePacer spaces out expiry passes that find nothing to do. Expired
// values are invisible to reads at once, so the walk only reclaims space;
// yet a pass reads every record of the slots it visits (those holding a
// record with a TTL or a tombstone), and a record's block is read whole:
// one 200 MB value kept an idle node at a full core, decompressing it every
// cycle (also after a DEL, until compaction drops the shadowed value).
// After a pass that found nothing, the next one waits twice as long as the
// last wait (from one cycle up to maxIdlePassWait); the first pass that
// finds something brings the walk back to every cycle. Between passes,
// writes do not wake it: a key set to expire is invisible once it has,
// whenever the walk gets to it.
type expirePacer struct {
	step time.Duration // ExpireInterval: the first wait
	wait time.Duration // the current wait between idle passes; 0: none
	next time.Time     // no new pass before this
}

// holds reports whether no cycle should run at now.
func (p *expirePacer) holds(now time.Time) bool { return now.Before(p.next) }

// cycled records a cycle run at now: whether it ended a pass, and whether
// that pass found nothing to do.
func (p *expirePacer) cycled(now time.Time, passEnded, idle bool) {
	switch {
	case !passEnded:
	case !idle:
		p.wait, p.next = 0, time.Time{}
	default:
		p.wait = min(max(2*p.wait, p.step), maxIdlePassWait)
		p.next = now.Add(p.wait)
	}
}

// expireTask is a record an expiry cycle decided to rewrite or remove.
type expireTask struct {
	db    int
	key   []byte // pebble key
	raw   []byte // the record as examined; the action applies only if unchanged
	next  []byte // the rewritten record, or nil to remove it
	drops bool   // the action drops expired value bytes
	// from and to are the record's class (counts.go) before and after.
	from, to recordClass
}

// expireCycle examines up to ExpireBudget records, continuing from where the
// previous cycle stopped and wrapping around at the end of the data, so that
// successive cycles walk, in turn, every slot of a database that holds a
// mortal record (every slot while the counts are broken). In each record it
// turns expired values into tombstones that keep their clocks (a replica's
// copy of the value, same clock, then loses to the tombstone and older ones
// are dominated, so nothing is resurrected) and removes records all of
// whose versions have been dead for TombstoneGrace. It reads through an
// iterator without locks and then applies each action under the key's lock,
// only if the record is still exactly as examined.
//
// passEnded reports that the cycle reached the end of the data (the next
// one starts a new pass), and idle that the pass it ended found nothing to
// do.
func (s *Store) expireCycle() (passEnded, idle bool) {
	s.expireMu.Lock()
	defer s.expireMu.Unlock()
	tasks, wrapped := s.examineForExpiry()
	for i := range tasks {
		s.applyExpiry(&tasks[i])
	}
	return wrapped, s.expireIdle
}

// idleExpireDivisor slows the walk after a whole pass that found nothing to
// do. Expired values are invisible to reads at once, so the walk only
// reclaims space, and a store with TTLs none of which has expired would
// otherwise decode ExpireBudget records every cycle: ~4% of a node's CPU in
// profiles under load, when the walk read every record. Like Redis's active
// expiry, the effort follows what is found: the first cycle that finds work
// walks at full speed again.
const idleExpireDivisor = 16

// examineForExpiry is the reading half of a cycle: it examines up to
// ExpireBudget records from the cursor on and returns what to do with them,
// and whether it reached the end of the data (the pass ended). s.expireMu
// must be held.
func (s *Store) examineForExpiry() (tasks []expireTask, wrapped bool) {
	s.stats.expireCycles.Add(1)
	nowMs := s.cfg.Now().UnixMilli()
	graceMs := s.cfg.TombstoneGrace.Milliseconds()

	from := []byte{nsData}
	if s.expireCursor != nil {
		from = bytes.Clone(s.expireCursor)
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: from, UpperBound: []byte{nsData + 1}})
	if err != nil {
		s.log.Error("expiry cycle: new iterator", "err", err)
		return nil, false
	}
	// examined counts the records read; spent, the budget used: records,
	// and ranges found empty.
	examined, spent := 0, 0
	budget := s.cfg.ExpireBudget
	if s.expireIdle {
		budget = max(budget/idleExpireDivisor, 1)
	}
	// The walk reads only the slots of a database that hold a mortal
	// record (counts.go), each through iterator bounds of its own: a record
	// is read whole, value and all, so a walk of every record kept reading
	// a store's big values, TTL or not. (Bounds keep the iterator off the
	// records outside them; pebble may still load the data block that
	// follows a range's last record, so a big value right after a mortal
	// range is still read.) While the counts cannot be trusted it reads
	// everything.
	skip := !s.counts.broken.Load()
	done := false // the walk reached the end of the data
	for spent < budget {
		r, ok := s.nextExpiryRange(from, skip)
		if !ok {
			done = true
			break
		}
		iter.SetBounds(r.lo, r.hi)
		left := false // the budget ran out inside the range
		before := examined
		for valid := iter.First(); valid; valid = iter.Next() {
			k := iter.Key()
			db, key, ok := parseDataKey(k)
			if !ok {
				continue
			}
			examined++
			spent++
			// The next cycle starts after k: a record that cannot be
			// read is retried by the next pass, not the next cycle, so
			// that it cannot hold the walk up.
			s.expireCursor = append(append(s.expireCursor[:0], k...), 0)
			raw, err := iter.ValueAndErr()
			if err != nil {
				left = true
				break
			}
			if t, ok := s.examineRecord(db, key, k, raw, nowMs, graceMs); ok {
				tasks = append(tasks, t)
			}
			if spent >= budget {
				// Stop before Next, which would read (and load) one
				// record more.
				left = true
				break
			}
		}
		if left || iter.Error() != nil {
			break
		}
		if examined == before && !r.resumed {
			// A range whose records have gone since they were counted
			// costs a unit of the budget too, so that a cycle stays
			// bounded whatever the counts say. (The rest of the range the
			// last cycle stopped in is often empty: it ended on the
			// range's last record.)
			spent++
		}
		if from = r.after; from == nil {
			done = true
			break
		}
		s.expireCursor = append(s.expireCursor[:0], from...) // the walk goes on past the range
	}
	s.expireFound += len(tasks)
	if len(tasks) > 0 {
		s.expireIdle = false
	}
	if done && iter.Error() == nil {
		wrapped = true
		s.expireCursor = nil // reached the end: wrap around
		s.expireIdle = s.expireFound == 0
		s.expireFound = 0
	}
	if err := errors.Join(iter.Error(), iter.Close()); err != nil {
		s.log.Error("expiry cycle: iterate", "err", err)
	}
	s.stats.expireExamined.Add(uint64(examined))
	return tasks, wrapped
}

// expiryRange is a key range the expiry walk reads: [lo, hi), and where
// the walk goes on from after it (nil: the end of the data).
type expiryRange struct {
	lo, hi, after []byte
	resumed       bool // lo is inside the range: the walk stopped there
}

// nextExpiryRange returns the next range the walk reads, from the key from
// on: the rest of the slot and database that from is in, or the next ones,
// that hold a mortal record; or, when not skip, the rest of the data.
func (s *Store) nextExpiryRange(from []byte, skip bool) (expiryRange, bool) {
	end := []byte{nsData + 1}
	if !skip {
		return expiryRange{lo: from, hi: end}, true
	}
	// from's slot and db, from a key or a prefix of one: as if padded with
	// zeros, the first slot and db at or after it.
	var p [dataPrefixLen]byte
	copy(p[:], from)
	slot, db := int(p[1])<<8|int(p[2]), int(p[3])
	if p[0] != nsData || slot >= ring.NumSlots {
		return expiryRange{}, false
	}
	next, nextDB, found := s.counts.nextMortal(uint16(slot), db)
	if !found {
		return expiryRange{}, false
	}
	r := expiryRange{lo: appendSlotDBPrefix(nil, next, nextDB)}
	switch {
	case nextDB+1 < MaxDatabases:
		r.hi = appendSlotDBPrefix(nil, next, nextDB+1)
	case int(next)+1 < ring.NumSlots:
		r.hi = appendSlotDBPrefix(nil, next+1, 0)
	default:
		r.hi = end
	}
	if r.hi[0] != nsData+1 {
		r.after = r.hi
	}
	if bytes.Compare(from, r.lo) > 0 {
		r.lo, r.resumed = from, true // go on after the cursor
	}
	return r, true
}

// examineRecord decides what the walk does with the record raw of db and
// key, stored under k: a task, or nothing (false).
func (s *Store) examineRecord(db int, key, k, raw []byte, nowMs, graceMs int64) (expireTask, bool) {
	sib, err := s.ids.Decode(raw) // aliases raw only during this step
	if err != nil {
		// Warn once; every later pass would repeat it.
		level := slog.LevelDebug
		if s.stats.corruptRecords.Add(1) == 1 {
			level = slog.LevelWarn
		}
		s.log.Log(context.Background(), level, "expiry: corrupt record left in place", "db", db, "key", key, "err", err)
		return expireTask{}, false
	}
	next, remove, drops := planExpiry(sib, nowMs, graceMs)
	if next == nil && !remove {
		return expireTask{}, false
	}
	t := expireTask{db: db, key: bytes.Clone(k), raw: bytes.Clone(raw), drops: drops, from: classify(sib)}
	if !remove {
		t.next = next.AppendBinary(nil)
		t.to = classify(next)
	}
	return t, true
}

// Reclaimable reports whether every version of sib has been dead (a delete,
// or an expired value) for longer than TombstoneGrace by the store's clock:
// a record the expiry cycle removes. Anti-entropy must not copy one back onto
// a replica whose expiry already removed it, or the replicas would hand it
// back and forth until their expiry passes happened to meet.
func (s *Store) Reclaimable(sib version.Siblings) bool {
	_, remove, _ := planExpiry(sib, s.cfg.Now().UnixMilli(), s.cfg.TombstoneGrace.Milliseconds())
	return remove
}

// PastGrace reports whether every version of sib was written longer than
// TombstoneGrace ago by the store's clock. A replica that lacks such a
// record may have held a delete of it whose tombstone it has since purged,
// so anti-entropy must not copy the record onto it: that would bring the
// deleted value back (Dynamo's resurrection), where a missing recent record
// is simply a write the replica missed.
func (s *Store) PastGrace(sib version.Siblings) bool {
	if len(sib) == 0 {
		return false
	}
	cut := s.cfg.Now().UnixMilli() - s.cfg.TombstoneGrace.Milliseconds()
	for i := range sib {
		if sib[i].Timestamp.Millis() >= cut {
			return false
		}
	}
	return true
}

// planExpiry decides what expiry does to a record at nowMs: next is the
// record with every expired value turned into a tombstone (nil if there is
// none), remove says every version is dead and has been for graceMs, and
// drops says expired value bytes go away.
//
// A version is dead from its HLC timestamp (a tombstone) or its expiry,
// whichever is later, so that a value that expired long after it was written
// still keeps a tombstone for the full grace period.
func planExpiry(sib version.Siblings, nowMs, graceMs int64) (next version.Siblings, remove, drops bool) {
	remove = len(sib) > 0
	for i := range sib {
		v := &sib[i]
		if v.Live(nowMs) {
			remove = false
			continue
		}
		if !v.Tombstone {
			drops = true
		}
		if max(v.Timestamp.Millis(), v.ExpireAt) > nowMs-graceMs {
			remove = false
		}
	}
	if remove || !drops {
		return nil, remove, drops
	}
	next = make(version.Siblings, len(sib))
	for i, v := range sib {
		if !v.Tombstone && !v.Live(nowMs) {
			// Same clock, timestamp and writer: the order among siblings and
			// every dominance relation stay as they were.
			v.Tombstone = true
			v.Value = nil
		}
		next[i] = v
	}
	return next, false, true
}

// applyExpiry performs t under the key's lock if the record is unchanged.
func (s *Store) applyExpiry(t *expireTask) {
	_, key, _ := parseDataKey(t.key)
	h := s.hash(t.key)
	mu := s.stripe(h)
	mu.Lock()
	defer mu.Unlock()
	val, closer, err := s.db.Get(t.key)
	if errors.Is(err, pebble.ErrNotFound) {
		s.stats.expireSkipped.Add(1)
		return
	}
	if err != nil {
		s.log.Error("expiry: read", "db", t.db, "key", key, "err", err)
		return
	}
	same := bytes.Equal(val, t.raw)
	closer.Close()
	if !same {
		s.stats.expireSkipped.Add(1)
		return
	}
	// Losing one of these writes in a crash only brings back a record that is
	// already dead, so they need no sync.
	if t.next == nil {
		err = s.db.Delete(t.key, pebble.NoSync)
	} else {
		err = s.db.Set(t.key, t.next, pebble.NoSync)
	}
	if err != nil {
		s.cache.forget(h, t.key)
		s.log.Error("expiry: write", "db", t.db, "key", key, "err", err)
		return
	}
	// The rewritten record (nil: gone) replaces the cached one; dropping the
	// entry instead would end the cache's completeness.
	s.cache.put(h, keyed(t.key, t.next), len(t.key))
	s.counts.move(t.db, dataKeySlot(t.key), t.from, t.to)
	s.digests.replace(t.key, t.raw, t.next)
	if t.drops {
		s.stats.expiredPurged.Add(1)
	}
	if t.next == nil {
		s.stats.tombstonesPurged.Add(1)
	}
}
