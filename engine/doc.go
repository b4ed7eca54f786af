// Package engine stores a node's data on disk: for every (db, key) one record
// holding the key's sibling set (version.Siblings: vector clock, HLC timestamp,
// writer, expiry, tombstone flag and value of each concurrent version), plus
// durable hints for sloppy quorum and small node metadata. It is a thin layer
// over cockroachdb/pebble and knows nothing of the network, the ring or
// quorums: the coordinator decides what to write, the engine makes it
// durable and merges it atomically with what is there.
//
// # Key layout
//
// Every pebble key starts with a namespace byte:
//
//	data: 0x01 | slot (2 bytes, big-endian) | db (1 byte) | user key
//	hint: 0x02 | len(target) (2 bytes, big-endian) | target | seq (8 bytes, big-endian)
//	meta: 0x03 | name
//
// The slot is the Redis Cluster hash slot of the user key (ring.Slot: CRC16
// with {hash tags}, mod 16384), so one slot, or one slot of one db, is a contiguous key
// range that ScanSlot walks with one bounded iterator. The db is part of a
// record's identity but not of its slot. The value of a data key is the
// record encoding of version.Siblings (Siblings.AppendBinary, version.Decode).
// Open rewrites records of an older encoding in the current one
// (version.Outdated), so a store upgraded in place holds the same bytes, and
// digests, as a replica that received the same versions afresh.
//
// # Writes and durability
//
// Merge reads the stored siblings, merges the new ones in (version.Merge),
// and writes the result only if it changed, under a per-key lock (1024
// striped mutexes), so concurrent merges of one key never lose a version and
// re-sending what is already stored costs a read and no write. Every write
// goes through pebble's write-ahead log. Under FsyncAlways a Merge returns
// only after the log is synced (concurrent writers share one fsync through
// pebble's commit pipeline), so an acknowledged write survives a crash of the
// process or machine. Under FsyncEverySec writes are synced by a background
// goroutine once a second, so a machine crash loses at most about a second;
// under FsyncNo the operating system decides. Without a sync, pebble's log
// writer hands records to the operating system from a background goroutine,
// so a process crash (kill -9) can also lose the last few milliseconds.
// FlushDB, FlushAll and PutMeta are always synced; hint writes follow the
// policy; hint deletions and background expiry writes are never synced,
// because losing one only brings back something harmless.
//
// Blind writes (a SET's version supersedes all the key holds) have a way of
// their own, SupersedeMany: the store gives the version its clock and
// builds the record from the stored record's bytes
// (version.Decoder.AppendSuccessor), the same bytes UpdateMany would write
// without the decoding and rebuilding on the heap, which had been most of
// what a SET cost beyond pebble's commit.
//
// # Record cache
//
// A bounded in-memory cache (Config.RecordCacheSize) holds recently read or
// written records, absent keys included, in their encoded form, so that Get
// and the read half of Merge usually cost a hash lookup instead of a walk of
// pebble's memtable skiplist. Each of its shards indexes its entries with an
// open-addressing table of its own (table.go) rather than a Go map, for the
// cache misses a map's own structure costs. It never holds anything pebble does not: every
// change to a data record (Merge, expiry, FlushDB, FlushAll) updates or
// clears it under the same per-key lock, after pebble has the change. Writing
// to the data key space other than through these methods would make it stale.
//
// # Key counts
//
// The store counts, per db and slot, the records whose last writer is a
// value, and those of them with an expiry time (SlotKeys, counts.go), so
// that DBSIZE and CLUSTER COUNTKEYSINSLOT read counters instead of decoding
// every record: only a slot holding values with an expiry time, whose
// visibility depends on the clock, still has to be scanned. The counts
// change with the record under the key's lock, are rebuilt at Open by
// reading every record once (which also warms the record cache), and after
// a FLUSHDB that failed part way are reported untrustworthy until the next
// Open.
//
// # Slot digests
//
// For anti-entropy the store also keeps one 64-bit digest per slot, the XOR
// of a fixed hash (xxhash) of every record's pebble key and bytes
// (SlotDigests, ScanSlotDigests, digest.go): canonical encodings make equal
// contents hash equal on every replica, and XOR lets each record change
// update its slot's digest in constant time, in the same places as the key
// counts. Reclaimable and PastGrace tell anti-entropy which records it must
// not copy between replicas (dead past the tombstone grace, or so old that
// a replica lacking one may have purged its delete).
//
// # Expiry and tombstones
//
// Readers see expired versions at once as not live (Version.Live,
// Siblings.Visible): the engine returns versions as stored and never filters.
// A background cycle, every ExpireInterval, only reclaims space: it examines
// at most ExpireBudget records, continuing where the last cycle stopped, so
// its pause is bounded whatever the data size. After a whole pass that found
// nothing to do, the next pass waits, longer each time up to 30 s, until
// one finds work again (expirePacer). It reads only the slots of a database
// that hold a mortal record, one with a TTL or a tombstone in any version
// (counted with the key counts, counts.go), each through iterator bounds of
// its own, and passes over the rest: other records never need it, and
// reading them, big values and all, was the walk's whole cost on a store
// with few TTLs. It turns each expired value
// into a tombstone that keeps the version's clock, timestamp and writer (and
// drops the value bytes), so that an older copy of the value arriving from a
// replica is dominated instead of resurrected, and it removes a record once
// every version in it has been dead for TombstoneGrace, counting from the
// later of the version's timestamp and its expiry. Each action is applied
// under the key's lock and only if the record is unchanged since it was
// examined, so expiry never races a concurrent Merge.
//
// # Concurrency and ownership
//
// A Store is safe for concurrent use. Slices passed to it are not retained.
// Everything it returns (siblings, keys, hint and meta values) is a private
// copy the caller may keep and modify, with one exception: the Value bytes
// of versions returned by Get, Merge and Update are shared with the record
// cache (decoding them in place saves a copy per read). They never change,
// so they may be kept, but they must never be written to; decoded Values
// have no spare capacity, so appending to one copies it. Merge's result may
// also share memory with its input. Close waits for calls in progress and
// for the background goroutines; afterwards every method returns ErrClosed.
//
// # What it must never do
//
// It must never write into a cached record's bytes, which returned Values
// alias, nor panic or allocate beyond a record's size on stored bytes: a
// record that does not decode is reported as a *CorruptError wrapping
// version.ErrCorrupt, and the record is left in place. It must never store a
// sibling set that it could not read back (Merge rejects one with
// ErrInvalidSiblings), never resurrect a version by purging its tombstone
// before TombstoneGrace, and never hold a lock across keys except in FlushDB
// and FlushAll. The one panic is pebble's Fatalf (a failed write to the
// write-ahead log, after which pebble cannot continue), which pebble's own
// default logger turns into an exit.
package engine
