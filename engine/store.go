package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("engine: closed")

// ErrDBRange is wrapped by errors for a db outside [0, Config.Databases).
var ErrDBRange = errors.New("engine: db index out of range")

// numStripes is the number of per-key write locks. Two keys share a lock only
// when their hashes collide modulo numStripes, which costs a little
// parallelism and never correctness.
const numStripes = 1024

// stripe is a mutex padded to a cache line so that neighbours do not
// false-share.
type stripe struct {
	sync.Mutex
	_ [64 - 8]byte
}

// Store is a pebble database of sibling sets, one record per (db, key), plus
// hints and node metadata. All methods are safe for concurrent use. Slices
// passed in are not retained; slices returned belong to the caller, except
// the Value bytes of returned versions, which are read-only (see Get).
type Store struct {
	cfg   Config
	log   *slog.Logger
	db    *pebble.DB
	wo    *pebble.WriteOptions // for data and hint writes, per cfg.Fsync
	cache *recordCache         // nil when disabled
	seed  maphash.Seed
	gate  gate

	locks [numStripes]stripe // serialize read-merge-write per key

	bufs sync.Pool // of *buffer, for building pebble keys
	many sync.Pool // of *manyBuffers, UpdateMany's and SupersedeMany's

	// ids lends every decoded record the node ID strings of earlier ones:
	// all records name the same few nodes.
	ids version.Decoder

	stats   counters
	counts  keyCounts   // visible-key counts per db and slot (counts.go)
	digests slotDigests // per-slot record digests for anti-entropy (digest.go)

	hintMu     sync.Mutex     // guards hintCounts
	hintCounts map[string]int // hints stored per target
	hintSeq    atomic.Uint64  // last hint sequence number handed out

	expireMu     sync.Mutex // serializes expiry cycles; guards expireCursor
	expireCursor []byte     // pebble key the next expiry cycle starts from; nil = start
	expireFound  int        // guarded by expireMu: actions planned in the current pass
	expireIdle   bool       // guarded by expireMu: the last whole pass planned none

	syncedWrites atomic.Uint64 // stats.writes() as of the last periodic sync
	compacting   atomic.Int64  // flushes waiting for (or in) the post-flush compaction

	stop chan struct{} // closed by Close to stop the background goroutines
	wg   sync.WaitGroup

	closeMu sync.Mutex // guards closed
	closed  bool
}

type buffer struct{ b []byte }

// maxPooledBuffer is the largest buffer returned to the pool, so that one huge
// value does not stay pinned in it.
const maxPooledBuffer = 64 << 10

func (s *Store) getBuf() *buffer { return s.bufs.Get().(*buffer) }

func (s *Store) putBuf(b *buffer) {
	if cap(b.b) <= maxPooledBuffer {
		b.b = b.b[:0]
		s.bufs.Put(b)
	}
}

// Open opens (creating if needed) the store described by cfg: it fills
// defaults for zero fields, validates, opens pebble and starts the background
// expiry goroutine (and, under FsyncEverySec, the once-a-second WAL sync).
func Open(cfg Config) (*Store, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger // the caller binds its fields (component, node)

	cache := pebble.NewCache(cfg.CacheSize)
	defer cache.Unref() // pebble holds its own reference while open
	opts := &pebble.Options{
		FS:                         cfg.FS,
		Cache:                      cache,
		MemTableSize:               cfg.MemTableSize,
		FormatMajorVersion:         pebble.FormatNewest,
		Logger:                     pebbleLogger{log},
		CompactionConcurrencyRange: func() (int, int) { return 1, 2 },
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Let L0 hold more flushed memtables before compacting them into the
	// lower levels: a workload that overwrites a working set (redis-benchmark
	// -r, counters, sessions) then compacts several versions of a key in one
	// go instead of rewriting the whole set at every fourth flush. Reads pay
	// little for the extra files: most are served by the record cache, and
	// the rest skip a file by its bloom filter. Measured with SET -P 16 over
	// 100k keys: 5.0 us of server CPU per request against 5.3-6.2 with
	// pebble's default of 4 (a 64 MiB memtable, or no compression, did not
	// help).
	opts.L0CompactionThreshold = 16
	opts.L0StopWritesThreshold = 64
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: open %s: %w", cfg.Dir, err)
	}

	s := &Store{
		cfg:    cfg,
		log:    log,
		db:     db,
		wo:     pebble.NoSync,
		seed:   maphash.MakeSeed(),
		cache:  newRecordCache(cfg.RecordCacheSize),
		counts: keyCounts{dbs: make([]atomic.Pointer[slotTallies], cfg.Databases)},
		gate:   gate{drained: make(chan struct{})},
		stop:   make(chan struct{}),
	}
	if cfg.Fsync == FsyncAlways {
		s.wo = pebble.Sync
	}
	s.bufs.New = func() any { return &buffer{b: make([]byte, 0, 256)} }
	if err := s.loadHints(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if err := s.loadRecords(); err != nil {
		return nil, errors.Join(err, db.Close())
	}

	s.wg.Go(s.expireLoop)
	if cfg.Fsync == FsyncEverySec {
		s.wg.Go(s.syncLoop)
	}
	return s, nil
}

// ownRecord decodes a scanned record of db into siblings the caller owns,
// with a copy of its key: one allocation holds both the key and the record
// the siblings alias. A record that does not decode is a *CorruptError.
func (s *Store) ownRecord(db int, k, val []byte) ([]byte, version.Siblings, error) {
	buf := make([]byte, len(k)+len(val))
	key, raw := buf[:len(k):len(k)], buf[len(k):]
	copy(key, k)
	copy(raw, val)
	sib, err := s.ids.Decode(raw)
	if err != nil {
		return key, nil, &CorruptError{DB: db, Key: key, Err: err}
	}
	return key, sib, nil
}

// loadRecords reads every record once at Open: it counts the keys
// (counts.go), and it loads the records into the record cache and marks the
// cache complete when they all fit (a fresh store trivially does), so that a
// restarted node whose data fits in memory keeps answering misses without
// pebble. Once a record does not fit, the cache stays incomplete and what was
// loaded is merely warm; the counting goes on to the end. A record in an
// older format (version.Outdated) is rewritten in the current one on the way
// (upgrade), so that the digests, which hash record bytes, compare equal with
// replicas that wrote the same versions afresh.
func (s *Store) loadRecords() error {
	l := recordLoad{s: s, warm: s.cache != nil, up: upgrade{s: s, batchBytes: s.cfg.upgradeBatchBytes}}
	if l.up.batchBytes <= 0 {
		l.up.batchBytes = upgradeBatchBytes
	}
	defer l.up.close()
	if l.warm {
		l.lost = s.cache.lost.Load()
	}
	for from := []byte{nsData}; from != nil; {
		var err error
		if from, err = l.scan(from); err != nil {
			return err
		}
	}
	if err := l.up.finish(); err != nil {
		return err
	}
	if l.warm {
		s.cache.setComplete()
	}
	return nil
}

// recordLoad is the state of loadRecords.
type recordLoad struct {
	s    *Store
	warm bool   // every record so far is in the record cache
	lost uint64 // the cache's count of lost entries when the load began
	up   upgrade
}

// scan loads the records from the key from on. It stops early, returning
// the key to go on from, when it has just committed a batch of upgraded
// records: a pebble iterator holds on to the sstables it started with, so
// one iterator over the whole upgrade would keep the old records' files on
// disk, as much again as the data, until the end.
func (l *recordLoad) scan(from []byte) (next []byte, err error) {
	s := l.s
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: from, UpperBound: []byte{nsData + 1}})
	if err != nil {
		return nil, fmt.Errorf("engine: open: read the records: %w", err)
	}
	defer func() {
		if cerr := iter.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("engine: open: read the records: %w", cerr))
		}
	}()
	for ok := iter.First(); ok; ok = iter.Next() {
		val, err := iter.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("engine: open: read the records: %w", err)
		}
		k := iter.Key()
		db, _, isData := parseDataKey(k)
		if !isData {
			continue // not a record this store wrote: nothing to count or cache
		}
		// A record that does not decode counts as no key, as reads see it,
		// and stays as it is; it counts as mortal, so that the expiry walk
		// comes to it and reports it.
		sib, decodeErr := s.ids.Decode(val)
		committed := false
		if decodeErr == nil && version.Outdated(val) {
			if val, committed, err = l.up.record(k, sib); err != nil {
				return nil, err
			}
		}
		s.digests.replace(k, nil, val)
		class := classAbsent | classMortal // corrupt: for the expiry walk to report
		if decodeErr == nil {
			class = classify(sib)
		}
		s.counts.move(db, dataKeySlot(k), classAbsent, class)
		if l.warm {
			s.cache.put(s.hash(k), keyed(k, val), len(k))
			l.warm = s.cache.lost.Load() == l.lost
		}
		if committed {
			return append(bytes.Clone(k), 0), nil // k's successor
		}
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("engine: open: read the records: %w", err)
	}
	return nil, nil
}

// upgrade rewrites the records of a scan that are in an older format, in
// batches.
type upgrade struct {
	s          *Store
	batchBytes int
	b          *pebble.Batch
	count      int
}

// upgradeBatchBytes is the size at which an upgrade commits its batch.
const upgradeBatchBytes = 4 << 20

// record queues the rewrite of the record stored under k, which holds sib,
// in the current format, and returns the new bytes and whether the batch
// they went into was just committed.
func (u *upgrade) record(k []byte, sib version.Siblings) (rec []byte, committed bool, err error) {
	rec = sib.AppendBinary(nil)
	if u.b == nil {
		u.b = u.s.db.NewBatch()
	}
	if err := u.b.Set(k, rec, nil); err != nil {
		return nil, false, fmt.Errorf("engine: open: upgrade a record: %w", err)
	}
	u.count++
	if u.b.Len() < u.batchBytes {
		return rec, false, nil
	}
	if err := u.b.Commit(pebble.NoSync); err != nil {
		return nil, false, fmt.Errorf("engine: open: upgrade the records: %w", err)
	}
	u.b.Reset()
	u.s.log.Info("rewriting records in the current format", "records", u.count)
	return rec, true, nil
}

// finish commits and syncs what is left of the rewrites.
func (u *upgrade) finish() error {
	if u.b == nil {
		return nil
	}
	if err := u.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("engine: open: upgrade the records: %w", err)
	}
	u.s.log.Info("records rewritten in the current format", "records", u.count)
	return nil
}

// close releases the batch of an upgrade that did not finish.
func (u *upgrade) close() {
	if u.b != nil {
		u.b.Close()
		u.b = nil
	}
}

// Close stops the background goroutines and waits for them and for calls in
// progress (a ScanSlot callback included), syncs the WAL and closes pebble.
// Close and every other method return ErrClosed afterwards.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	s.gate.close()
	close(s.stop)
	s.wg.Wait()
	var errs []error
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		errs = append(errs, fmt.Errorf("engine: sync on close: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("engine: close: %w", err))
	}
	return errors.Join(errs...)
}

func (s *Store) checkDB(db int) error {
	if db < 0 || db >= s.cfg.Databases {
		return fmt.Errorf("%w: %d not in [0, %d)", ErrDBRange, db, s.cfg.Databases)
	}
	return nil
}

// hash is the hash of a pebble key, which picks its stripe lock and cache
// shard.
func (s *Store) hash(k []byte) uint64 { return maphash.Bytes(s.seed, k) }

func (s *Store) stripe(h uint64) *stripe { return &s.locks[h%numStripes] }

// Get returns the stored siblings of key in db, or nil when there are none.
// Versions are returned as stored, tombstones and expired ones included:
// callers filter with Siblings.Visible or Siblings.Live. The result is the
// caller's except for its Value bytes, which are shared with the record
// cache: they never change, and must never be modified. A record that does
// not decode is a *CorruptError.
func (s *Store) Get(db int, key []byte) (version.Siblings, error) {
	sib, _, err := s.GetRecord(db, key)
	return sib, err
}

// GetRecord is Get that also returns the record the siblings were decoded
// from (nil: absent), which is the cache's, as CachedRecord's is: a
// coordinator compares a replica's answer with it, to skip decoding an
// answer that is the same record.
func (s *Store) GetRecord(db int, key []byte) (version.Siblings, []byte, error) {
	if err := s.checkDB(db); err != nil {
		return nil, nil, err
	}
	if !s.gate.enter() {
		return nil, nil, ErrClosed
	}
	defer s.gate.exit()
	kb := s.getBuf()
	defer s.putBuf(kb)
	kb.b = appendDataKey(kb.b[:0], db, key)
	h := s.hash(kb.b)
	if rec, ok := s.cache.get(h, kb.b); ok {
		if len(rec) == 0 {
			return nil, nil, nil
		}
		sib, err := s.decode(db, key, rec)
		return sib, rec, err
	}
	// Fill the cache under the key's lock, so that no Merge can slip in
	// between the read and the fill.
	mu := s.stripe(h)
	mu.Lock()
	defer mu.Unlock()
	sib, kr, err := s.load(db, key, h, kb.b)
	if kr == nil {
		return sib, nil, err
	}
	return sib, kr[len(kb.b):], err
}

// CachedRecord returns key's stored record in db, encoded (nil: absent), if
// the record cache can answer without reading pebble; ok is false when
// only Get can. It serves a replica read whose reply is the record itself
// (coordinator.CachedReader), with no decode. The bytes are the cache's,
// shared and never modified: they may be kept, but not changed.
func (s *Store) CachedRecord(db int, key []byte) (rec []byte, ok bool) {
	if s.checkDB(db) != nil || !s.gate.enter() {
		return nil, false
	}
	defer s.gate.exit()
	kb := s.getBuf()
	defer s.putBuf(kb)
	kb.b = appendDataKey(kb.b[:0], db, key)
	kr, ok, held := s.cache.lookup(s.hash(kb.b), kb.b)
	switch {
	case ok && len(kr) > len(kb.b):
		return kr[len(kb.b):], true
	case ok:
		return nil, true // known absent
	case held:
		return nil, false // being replaced: Get waits for it
	}
	return nil, s.cache.knownAbsent()
}

// load returns the stored siblings of pebble key k (the record of db, key,
// with hash h) and the record bytes they were decoded from, preceded by k
// (nil: absent), as the cache holds them: decoding the cached record or
// else the one in pebble, which it caches. Value bytes of the result are the
// cache's, see Get, and so is kr, which must not be modified. The key's
// stripe lock must be held.
func (s *Store) load(db int, key []byte, h uint64, k []byte) (sib version.Siblings, kr []byte, err error) {
	if kr, ok := s.cachedRecord(h, k); ok {
		if kr == nil {
			return nil, nil, nil
		}
		sib, err := s.decode(db, key, kr[len(k):])
		return sib, kr, err
	}
	return s.readRecord(db, key, h, k)
}

// loadRecord is load without the decoding, for a caller that reads the
// record itself: k followed by the record (nil: absent), the cache's bytes.
func (s *Store) loadRecord(db int, key []byte, h uint64, k []byte) ([]byte, error) {
	if kr, ok := s.cachedRecord(h, k); ok {
		return kr, nil
	}
	_, kr, err := s.readRecord(db, key, h, k)
	return kr, err
}

// cachedRecord is the cache's entry for pebble key k: k followed by its
// record, nil for a key known to be absent; false on a miss.
func (s *Store) cachedRecord(h uint64, k []byte) ([]byte, bool) {
	kr, ok, _ := s.cache.lookup(h, k)
	if !ok || len(kr) == len(k) {
		return nil, ok
	}
	return kr, true
}

// readRecord is load of a key the cache missed: known absent, or read from
// pebble, decoded (so that the cache only ever holds records that decode)
// and cached.
func (s *Store) readRecord(db int, key []byte, h uint64, k []byte) (sib version.Siblings, kr []byte, err error) {
	if s.cache.knownAbsent() {
		return nil, nil, nil
	}
	s.stats.pebbleReads.Add(1)
	val, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		s.cache.put(h, keyed(k, nil), len(k))
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("engine: get db %d key %q: %w", db, key, err)
	}
	kr = keyed(k, val)
	closer.Close() // a pebble Get closer never fails
	sib, err = s.ids.Decode(kr[len(k):])
	if err != nil {
		// Not cached: every read reports it until the record is replaced.
		return nil, nil, &CorruptError{DB: db, Key: bytes.Clone(key), Err: err}
	}
	s.cache.put(h, kr, len(k))
	return sib, kr, nil
}

// decode decodes a cached record (empty: absent). The result aliases rec,
// which is safe because cached bytes are never modified.
func (s *Store) decode(db int, key, rec []byte) (version.Siblings, error) {
	if len(rec) == 0 {
		return nil, nil
	}
	sib, err := s.ids.Decode(rec)
	if err != nil {
		// Unreachable while the cache holds only records that decoded.
		return nil, &CorruptError{DB: db, Key: bytes.Clone(key), Err: err}
	}
	return sib, nil
}

// Merge merges in with the stored siblings of key in db (version.Merge),
// stores the result if it differs from what was stored, and returns it.
// Concurrent Merges of one key are serialized, so none is lost. Under
// FsyncAlways the write is synced before Merge returns. The result is the
// caller's, as Get's is (Value bytes are shared and read-only); it may share
// memory with in. An in that cannot be stored is
// ErrInvalidSiblings; a stored record that does not decode is a *CorruptError
// and is left untouched.
func (s *Store) Merge(db int, key []byte, in version.Siblings) (version.Siblings, error) {
	return s.Update(db, key, func(version.Siblings) (version.Siblings, error) { return in, nil })
}

// Update reads the stored siblings of key in db, calls fn with them (nil
// when absent; fn must not keep or modify them), and merges what fn returns
// as Merge would, all under the key's lock, so a write that depends on what
// is stored costs one read. An error from fn is returned as is and nothing
// is written. fn runs with the key locked: it must be quick and must not
// call the Store.
func (s *Store) Update(db int, key []byte, fn func(cur version.Siblings) (version.Siblings, error)) (version.Siblings, error) {
	if err := s.checkDB(db); err != nil {
		return nil, err
	}
	if !s.gate.enter() {
		return nil, ErrClosed
	}
	defer s.gate.exit()
	kb := s.getBuf()
	defer s.putBuf(kb)
	kb.b = appendDataKey(kb.b[:0], db, key)
	h := s.hash(kb.b)

	mu := s.stripe(h)
	mu.Lock()
	defer mu.Unlock()
	old, oldKR, err := s.load(db, key, h, kb.b)
	if err != nil {
		return nil, err
	}
	in, err := fn(old)
	if err != nil {
		return nil, err
	}
	merged, changed, err := s.merge(db, key, old, in)
	if err != nil || !changed {
		return merged, err
	}
	// A fresh buffer, exactly sized, of the key and the record (AppendBinary
	// finds no room after the key): after the write it becomes the cache's.
	kr := merged.AppendBinary(kb.b[:len(kb.b):len(kb.b)])
	enc := kr[len(kb.b):]
	if err := s.db.Set(kb.b, enc, s.wo); err != nil {
		s.cache.forget(h, kb.b)
		return nil, fmt.Errorf("engine: write db %d key %q: %w", db, key, err)
	}
	s.cache.put(h, kr, len(kb.b))
	s.counts.move(db, dataKeySlot(kb.b), classify(old), classify(merged))
	s.digests.replaceKeyed(kb.b, oldKR, kr)
	s.stats.recordsWritten.Add(1)
	return merged, nil
}

// merge is the merge step of Update and UpdateMany: in, checked, merged
// with old. changed is false, and merged is old, when the merge leaves old
// as it was, which then needs no write.
func (s *Store) merge(db int, key []byte, old, in version.Siblings) (merged version.Siblings, changed bool, err error) {
	if err := checkSiblings(in); err != nil {
		return nil, false, err
	}
	merged = version.Merge(old, in)
	if len(merged) == len(old) && merged.Equal(old) {
		s.stats.mergesUnchanged.Add(1)
		return old, false, nil
	}
	if len(merged) > version.MaxSiblings {
		return nil, false, fmt.Errorf("%w: merge of db %d key %q gives %d siblings (max %d)",
			ErrInvalidSiblings, db, key, len(merged), version.MaxSiblings)
	}
	return merged, true, nil
}

// ScanSlot calls fn for every record of db in slot, in key order, starting
// after the key after (nil: from the first; an empty non-nil slice: after the
// empty key), until fn returns false. It reads a point-in-time snapshot of the
// slot taken when it starts: writes made during the scan, fn's own included,
// are not seen. fn may call other Store methods except Close (Close waits for
// the scan to finish). The key and siblings passed to fn are fn's to keep. A
// record that does not decode stops the scan with a *CorruptError naming its
// key, so a caller can resume after it.
func (s *Store) ScanSlot(db int, slot uint16, after []byte, fn func(key []byte, sib version.Siblings) bool) error {
	if err := s.checkDB(db); err != nil {
		return err
	}
	if slot >= ring.NumSlots {
		return fmt.Errorf("engine: slot %d out of range [0, %d)", slot, ring.NumSlots)
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()

	prefix := appendSlotDBPrefix(nil, slot, db)
	lower := prefix
	if after != nil {
		lower = append(append(prefix[:len(prefix):len(prefix)], after...), 0)
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: keySuccessor(prefix)})
	if err != nil {
		return fmt.Errorf("engine: scan slot %d db %d: %w", slot, db, err)
	}
	var corrupt error
	err = scanRecords(iter, func(_ []byte, _ int, key, val []byte) bool {
		k, sib, derr := s.ownRecord(db, key, val)
		if derr != nil {
			corrupt = derr
			return false
		}
		return fn(k, sib)
	})
	if err = errors.Join(corrupt, err); err != nil {
		return fmt.Errorf("engine: scan slot %d db %d: %w", slot, db, err)
	}
	return nil
}

// scanRecords walks iter from the start, passing each data record's pebble
// key k, its database and user key, and its raw value (all valid only during
// the call) to fn until it returns false, then closes iter.
func scanRecords(iter *pebble.Iterator, fn func(k []byte, db int, key, val []byte) bool) error {
	var err error
	for valid := iter.First(); valid; valid = iter.Next() {
		k := iter.Key()
		db, key, ok := parseDataKey(k)
		if !ok {
			continue
		}
		val, verr := iter.ValueAndErr()
		if verr != nil {
			err = verr
			break
		}
		if !fn(k, db, key, val) {
			break
		}
	}
	return errors.Join(err, iter.Error(), iter.Close())
}

// ScanSlots calls fn for every record of db in the slots from..to
// (inclusive), in slot then key order, until fn returns false, through one
// iterator: walking thousands of mostly empty slots costs a seek each
// instead of an iterator each. Snapshot, ownership and corruption rules are
// ScanSlot's.
func (s *Store) ScanSlots(db int, from, to uint16, fn func(slot uint16, key []byte, sib version.Siblings) bool) error {
	if err := s.checkDB(db); err != nil {
		return err
	}
	if from > to || to >= ring.NumSlots {
		return fmt.Errorf("engine: slots %d..%d out of range [0, %d)", from, to, ring.NumSlots)
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()
	lower := appendSlotDBPrefix(nil, from, 0)[:3]
	upper := keySuccessor(appendSlotDBPrefix(nil, to, 0)[:3])
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("engine: scan slots %d..%d db %d: %w", from, to, db, err)
	}
	var prefix []byte
	var ferr error
scan:
	for slot := int(from); slot <= int(to); slot++ {
		prefix = appendSlotDBPrefix(prefix[:0], uint16(slot), db)
		for ok := iter.SeekGE(prefix); ok && bytes.HasPrefix(iter.Key(), prefix); ok = iter.Next() {
			k := iter.Key()[len(prefix):]
			val, verr := iter.ValueAndErr()
			if verr != nil {
				ferr = verr
				break scan
			}
			key, sib, derr := s.ownRecord(db, k, val)
			if derr != nil {
				ferr = derr
				break scan
			}
			if !fn(uint16(slot), key, sib) {
				break scan
			}
		}
	}
	if err := errors.Join(ferr, iter.Error(), iter.Close()); err != nil {
		return fmt.Errorf("engine: scan slots %d..%d db %d: %w", from, to, db, err)
	}
	return nil
}

// FlushDB removes every record of db with point deletions, synced. Merges
// of db wait until it is done, so none straddles it.
func (s *Store) FlushDB(db int) error {
	if err := s.checkDB(db); err != nil {
		return err
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()
	if s.cfg.Databases == 1 {
		return s.flushData()
	}
	// Point deletions, not one range deletion per slot: 16384 range
	// tombstones would slow every later read until compaction removed them
	// (measured: GET throughput fell 4x after a few FLUSHDBs). This costs
	// O(keys in db), as FLUSHDB does on Redis.
	s.lockAll()
	defer s.unlockAll()
	err := s.deleteDB(db)
	s.cache.clear() // even after a failed commit: some of it may have applied
	if err != nil {
		// As with the cache: which records went is unknown.
		s.counts.broken.Store(true)
		s.digests.broken.Store(true)
		return fmt.Errorf("engine: flush db %d: %w", db, err)
	}
	s.counts.reset(db)
	return nil
}

// deleteDB deletes every data record of db in batches, the last one synced.
// s must be locked (lockAll).
func (s *Store) deleteDB(db int) error {
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{nsData}, UpperBound: []byte{nsData + 1}})
	if err != nil {
		return err
	}
	defer iter.Close()
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	var prefix []byte
	for slot := range uint16(ring.NumSlots) {
		prefix = appendSlotDBPrefix(prefix[:0], slot, db)
		for ok := iter.SeekGE(prefix); ok && bytes.HasPrefix(iter.Key(), prefix); ok = iter.Next() {
			val, err := iter.ValueAndErr()
			if err != nil {
				return err
			}
			// Counted out before the commit: a failed commit marks the
			// digests broken anyway.
			s.digests.replace(iter.Key(), val, nil)
			if err := b.Delete(iter.Key(), nil); err != nil {
				return err
			}
			if b.Count() >= 4096 {
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
				b.Close()
				b = s.db.NewBatch()
			}
		}
	}
	if err := iter.Error(); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// FlushAll removes every record of every db with one range deletion, synced.
// Hints and metadata stay.
func (s *Store) FlushAll() error {
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()
	return s.flushData()
}

func (s *Store) flushData() error {
	s.lockAll()
	defer s.unlockAll()
	err := s.db.DeleteRange([]byte{nsData}, []byte{nsData + 1}, pebble.Sync)
	s.cache.clear()
	if err != nil {
		s.counts.broken.Store(true)
		s.digests.broken.Store(true)
		return fmt.Errorf("engine: flush all: %w", err)
	}
	for db := range s.counts.dbs {
		s.counts.reset(db)
	}
	for i := range s.digests.slots {
		s.digests.slots[i].Store(0)
	}
	s.cache.setComplete() // pebble holds no record now
	s.compactAfterFlush()
	return nil
}

// compactAfterFlush compacts the data key space in the background after a
// range deletion, so the range tombstone and the data under it go away
// instead of taxing every later read. One compaction at a time; a flush
// during it asks for one more.
func (s *Store) compactAfterFlush() {
	if s.compacting.Add(1) > 1 {
		return // the running one will go again
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			n := s.compacting.Load()
			if err := s.db.Compact(ctx, []byte{nsData}, []byte{nsData + 1}, false); err != nil && ctx.Err() == nil {
				s.log.Warn("compaction after flush failed", "err", err)
			}
			if s.compacting.CompareAndSwap(n, 0) || ctx.Err() != nil {
				return
			}
		}
	}()
}

func (s *Store) lockAll() {
	for i := range s.locks {
		s.locks[i].Lock()
	}
}

func (s *Store) unlockAll() {
	for i := range s.locks {
		s.locks[i].Unlock()
	}
}

// syncLoop syncs the WAL once a second (FsyncEverySec) when anything was
// written since the last sync.
func (s *Store) syncLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var synced uint64
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		w := s.stats.writes()
		if w == synced {
			continue
		}
		if err := s.db.LogData(nil, pebble.Sync); err != nil {
			s.log.Error("periodic WAL sync failed", "err", err)
			continue
		}
		synced = w
		s.syncedWrites.Store(w)
	}
}

// gate admits calls until it is closed, and lets close wait for the calls in
// progress. Unlike an RWMutex it lets a call re-enter (a ScanSlot callback
// calling Get) while close waits.
type gate struct {
	n       atomic.Int64 // calls in progress, plus gateClosed once closed
	once    sync.Once
	drained chan struct{} // closed when closed and no call is in progress
}

const gateClosed = 1 << 62

func (g *gate) enter() bool {
	if g.n.Add(1) >= gateClosed {
		g.exit()
		return false
	}
	return true
}

func (g *gate) exit() {
	if g.n.Add(-1) == gateClosed {
		g.once.Do(func() { close(g.drained) })
	}
}

// close stops admitting calls and waits for those in progress. Call it once.
func (g *gate) close() {
	if g.n.Add(gateClosed) == gateClosed {
		g.once.Do(func() { close(g.drained) })
	}
	<-g.drained
}
