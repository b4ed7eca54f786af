package engine

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringstore/ringstore/version"
)

// UpdateMany is Update for several keys of db in one step: with every key
// locked, fn(i, cur) is called for each keys[i] in order, cur being what is
// stored or, for a key repeated earlier in keys, what the earlier entry
// left, and every record that changed goes to pebble in one batch. So the
// keys change atomically, as an MSET does on Redis: no reader sees some of
// them changed and others not, and a crash keeps all or none. It is also
// cheaper than one Update per key, because pebble's commit (batch, commit
// pipeline, WAL record) is paid once; BenchmarkUpdateMany measures it.
// Under FsyncAlways the batch is synced before UpdateMany returns.
//
// An error from fn, an fn result that cannot be stored, a merge over
// version.MaxSiblings or a stored record that does not decode (a
// *CorruptError) ends the call with nothing written. fn runs with the keys
// locked: it must be quick and must not call the Store. Like Update's, its
// cur must not be kept or modified.
func (s *Store) UpdateMany(db int, keys [][]byte, fn func(i int, cur version.Siblings) (version.Siblings, error)) error {
	return s.updateMany(db, keys, func(i int, e *manyEntry) error { return s.mergeEntry(db, e, i, fn) }, nil)
}

// SupersedeMany is UpdateMany for blind writes, such as a SET's: keys[i]
// gets vers[i], stamped base+i, whose clock the call sets to the key's
// stored clock (or, for a key repeated earlier in keys, the earlier entry's)
// incremented at vers[i].Writer; base is stamp(), called with every key
// locked, before the first version is built (once, unless keys is empty or
// the call fails before that). So it is UpdateMany with an fn returning
// Siblings{v}, v so made, and stores the same bytes, but a key whose record
// is cached and of one version (most keys) costs no decoding of it onto the
// heap nor a new clock there (version.Decoder.AppendSuccessor): that was
// over a tenth of a pipelined SET's CPU. Neither keys nor vers is modified or kept after the
// call. If recs is not nil (it has len(keys) elements), a successful call
// sets recs[i] to the record entry i wrote, bytes the caller must not
// modify: a caller that must send the versions elsewhere decodes them.
func (s *Store) SupersedeMany(db int, keys [][]byte, vers []version.Version, stamp func() version.HLC, recs [][]byte) error {
	if len(keys) != len(vers) || (recs != nil && len(recs) != len(keys)) {
		return fmt.Errorf("engine: SupersedeMany of %d keys with %d versions and %d records", len(keys), len(vers), len(recs))
	}
	var base version.HLC
	return s.updateMany(db, keys, func(i int, e *manyEntry) error {
		if i == 0 {
			base = stamp()
		}
		v := vers[i]
		v.Timestamp = base + version.HLC(i)
		kr, prev, ok := s.ids.AppendSuccessor(e.k, e.oldRecord(), v)
		if ok {
			e.kr, e.write = kr, true
			e.oldClass, e.newClass = classAbsent, classifyVersion(&v)
			if e.oldKR != nil {
				e.oldClass = classifyVersion(&prev)
			}
			return nil
		}
		return s.mergeEntry(db, e, i, func(_ int, cur version.Siblings) (version.Siblings, error) {
			v.Clock = cur.Clock().Increment(v.Writer, v.Timestamp)
			return version.Siblings{v}, nil
		})
	}, recs)
}

// mergeEntry is UpdateMany's way with entry i: decode what it holds, merge
// what fn returns, and encode the result if it differs.
func (s *Store) mergeEntry(db int, e *manyEntry, i int, fn func(i int, cur version.Siblings) (version.Siblings, error)) error {
	old, err := s.decode(db, e.key, e.oldRecord())
	if err != nil {
		return err
	}
	in, err := fn(i, old)
	if err != nil {
		return err
	}
	merged, changed, err := s.merge(db, e.key, old, in)
	if err != nil {
		return err
	}
	if !changed {
		e.kr = e.oldKR
		return nil
	}
	// The key and the record in one exactly sized buffer, for the cache
	// (e.k has no room after the key).
	e.kr, e.write = merged.AppendBinary(e.k), true
	e.oldClass, e.newClass = classify(old), classify(merged)
	return nil
}

// updateMany is UpdateMany and SupersedeMany: with every key locked, for
// each entry in order, it finds the record the entry starts from (oldKR)
// and calls step, which sets the entry's new record (kr) and, if that
// differs, write and the two records' classes; then it writes the changed
// records in one batch and brings the cache, counts and digests up to date.
// recs, if not nil, gets each entry's record once the batch is written, or
// once it is clear that nothing is to be written.
func (s *Store) updateMany(db int, keys [][]byte, step func(i int, e *manyEntry) error, recs [][]byte) error {
	if err := s.checkDB(db); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()

	sc := s.manyScratch(len(keys))
	defer s.putManyScratch(sc)
	ents := sc.ents
	size := 0
	for _, key := range keys {
		size += dataPrefixLen + len(key)
	}
	kbuf := slices.Grow(sc.kbuf[:0], size) // one buffer for every pebble key
	sc.kbuf = kbuf
	for i, key := range keys {
		start := len(kbuf)
		kbuf = appendDataKey(kbuf, db, key)
		ents[i] = manyEntry{key: key, k: kbuf[start:len(kbuf):len(kbuf)]}
		ents[i].h = s.hash(ents[i].k)
	}

	// Stripes are locked in ascending order, the order lockAll uses, so
	// that two batches, or a batch and a FLUSHDB, never wait on each other
	// in a cycle.
	stripes := slices.Grow(sc.stripes[:0], len(ents))[:len(ents)]
	sc.stripes = stripes
	for i := range ents {
		stripes[i] = uint32(ents[i].h % numStripes)
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		s.locks[i].Lock()
	}
	defer func() {
		for _, i := range stripes {
			s.locks[i].Unlock()
		}
	}()

	earlier := newEarlierEntries(ents)
	changed := 0
	for i := range ents {
		e := &ents[i]
		if j := earlier.of(i); j >= 0 {
			e.oldKR = ents[j].kr
		} else {
			kr, err := s.loadRecord(db, e.key, e.h, e.k)
			if err != nil {
				return err
			}
			e.oldKR = kr
		}
		if err := step(i, e); err != nil {
			return err
		}
		if e.write {
			changed++
		}
	}
	if changed == 0 {
		entryRecords(ents, recs)
		return nil
	}

	if len(ents) > 1 {
		// Readers without the locks must not see some keys changed and
		// others not while the cache is brought up to date (see hold).
		for i := range ents {
			if ents[i].write {
				s.cache.hold(ents[i].h)
			}
		}
	}
	// A key repeated in keys is set more than once in the batch; the last
	// set wins in pebble as it does in the cache below.
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.commitMany(b, ents); err != nil {
		// As in Update: what pebble holds is unknown (or, if the batch
		// could not be built, unchanged), so the cache must read it again;
		// this also releases the held entries.
		for i := range ents {
			s.cache.forget(ents[i].h, ents[i].k)
		}
		if len(ents) == 1 {
			return fmt.Errorf("engine: write db %d key %q: %w", db, ents[0].key, err)
		}
		return fmt.Errorf("engine: write %d keys of db %d: %w", changed, db, err)
	}
	// In key order, each entry replacing what the one before it left, so
	// that the cache, counts and digests end where one Update per key
	// would have left them.
	for i := range ents {
		e := &ents[i]
		if !e.write {
			continue
		}
		s.cache.put(e.h, e.kr, len(e.k))
		s.counts.move(db, dataKeySlot(e.k), e.oldClass, e.newClass)
		s.digests.replaceKeyed(e.k, e.oldKR, e.kr)
		s.stats.recordsWritten.Add(1)
	}
	entryRecords(ents, recs)
	return nil
}

// entryRecords sets recs[i], if recs is not nil, to the record entry i
// left (nil: absent), the cache's bytes, never modified.
func entryRecords(ents []manyEntry, recs [][]byte) {
	for i := range recs {
		recs[i] = nil
		if kr := ents[i].kr; kr != nil {
			recs[i] = kr[len(ents[i].k):]
		}
	}
}

// commitMany sets the records of the entries that changed in b and commits
// it.
func (s *Store) commitMany(b *pebble.Batch, ents []manyEntry) error {
	for i := range ents {
		if e := &ents[i]; e.write {
			if err := b.Set(e.k, e.kr[len(e.k):], nil); err != nil {
				return err
			}
		}
	}
	return b.Commit(s.wo)
}

// manyBuffers is an UpdateMany's or SupersedeMany's working memory,
// recycled between calls: a pipelined run of SETs is one call, and
// allocating its entries (then about 190 bytes a key) was a quarter of the
// bytes a SET allocated.
type manyBuffers struct {
	ents    []manyEntry
	kbuf    []byte
	stripes []uint32
}

// maxKeptMany and maxKeptManyKeys bound the buffers kept for the next call:
// keys, and bytes of pebble keys.
const (
	maxKeptMany     = 1024
	maxKeptManyKeys = 64 << 10
)

// manyScratch returns buffers with room for n entries, zeroed.
func (s *Store) manyScratch(n int) *manyBuffers {
	sc, _ := s.many.Get().(*manyBuffers)
	if sc == nil {
		sc = &manyBuffers{}
	}
	sc.ents = slices.Grow(sc.ents[:0], n)[:n]
	return sc
}

// putManyScratch recycles sc, dropping what its entries point to.
func (s *Store) putManyScratch(sc *manyBuffers) {
	if cap(sc.ents) > maxKeptMany || cap(sc.kbuf) > maxKeptManyKeys {
		return
	}
	clear(sc.ents)
	s.many.Put(sc)
}

// manyEntry is one key of an UpdateMany or SupersedeMany.
type manyEntry struct {
	key, k   []byte // user key; pebble key
	h        uint64
	oldKR    []byte // k followed by the record before this entry: stored, or an earlier entry's; nil when absent
	kr       []byte // k followed by the record after it; nil when absent
	write    bool   // kr differs from oldKR
	oldClass recordClass
	newClass recordClass // with oldClass, set when write is
}

// oldRecord is the record the entry starts from (empty: absent).
func (e *manyEntry) oldRecord() []byte {
	if e.oldKR == nil {
		return nil
	}
	return e.oldKR[len(e.k):]
}

// earlierEntries finds, for an entry of a batch, the last earlier entry of
// the same key. A short batch (a pipeline's worth) is searched linearly,
// comparing hashes first; a long one uses a map, where the linear search
// would be quadratic.
type earlierEntries struct {
	ents  []manyEntry
	byKey map[string]int
}

const earlierLinearMax = 32

func newEarlierEntries(ents []manyEntry) *earlierEntries {
	e := &earlierEntries{ents: ents}
	if len(ents) > earlierLinearMax {
		e.byKey = make(map[string]int, len(ents))
	}
	return e
}

// of returns the index of the last entry before i with ents[i]'s key, or -1.
// With the map, the calls must come in order of i.
func (e *earlierEntries) of(i int) int {
	k := e.ents[i].k
	if e.byKey != nil {
		j, ok := e.byKey[string(k)]
		e.byKey[string(k)] = i
		if !ok {
			return -1
		}
		return j
	}
	h := e.ents[i].h
	for j := i - 1; j >= 0; j-- {
		if e.ents[j].h == h && bytes.Equal(e.ents[j].k, k) {
			return j
		}
	}
	return -1
}
