// Package antientropy makes the replicas of every slot converge in the
// background, whatever read repair and hinted handoff missed: Dynamo's
// replica synchronization. Each store keeps a digest per slot (engine's
// SlotDigests: the XOR of a hash of every record, updated at each write),
// which plays the part of a Merkle tree's root per slot; a round fetches a
// peer's 16384 slot digests in one call, and for each slot they share
// whose digests differ it descends to the records: it fetches the peer's
// per-record digests (OpSlotKeys, paged), finds the records the two
// replicas do not hold alike, and repairs each by merging: the peer's
// siblings into this node's store, and the result back to the peer. A
// slot in sync therefore costs 8 bytes on the wire and no disk read, and a
// slot out of sync costs one pass over its records on each side.
//
// Why not a deeper tree per slot: slots are already 1/16384 of the key
// space, so a differing slot holds few records at sizes this store is made
// for, and a flat list of per-record digests finds exactly the differing
// ones in one exchange. Keeping the digest incremental instead of building
// trees per round (as Cassandra's validation compactions do) means rounds
// read nothing while replicas agree.
//
// A round runs every Config.Interval. Only the node with the smaller ID of
// a pair starts the comparison (the repair goes both ways), only when both
// are up and hold the data of the current ring (Snapshot.Ready: no range
// transfer in progress), and only over the slots whose preference lists
// name both. Repairs are throttled (Config.RepairsPerSecond) so that the
// background work leaves the disks and the network to client traffic. The
// throttle is a fixed rate, not Dynamo's admission control by foreground
// latency, and it does not cover the slot scans and page fetches, which
// cost one pass over a differing slot on each side. A slot is compared a
// page of record digests (4096) at a time from each side, repairing as the
// walk goes, so a huge hash-tagged slot costs two pages of memory.
//
// Records whose versions have all been dead for longer than the tombstone
// grace are left out of repairs (Store.Reclaimable): each replica's expiry
// removes them in its own time, and copying one back would undo that. So is
// a record that one replica lacks and whose versions were all written
// before the grace (Store.PastGrace): the replica may have purged the
// tombstone of a delete, and copying the old value would resurrect it.
// Such records are counted (KeysLeft); read repair can still bring one
// back when the key is read, the resurrection Dynamo avoids by keeping
// nodes from being away longer than the grace.
// Until both replicas have removed it, its slot compares as different and
// is scanned at each round. A ring change during a round ends the round.
// A FLUSHALL or FLUSHDB empties only the node it runs on (they write no
// tombstones), so anti-entropy brings the other replicas' copies back.
//
// It must never write anything but a merge (version.Merge is commutative
// and idempotent, so a repair that races a client write, or another
// repair, loses nothing), never compare with a node that is still pulling
// its slots, and never let a peer's malformed reply panic or allocate
// beyond the reply's size.
package antientropy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// Store is what anti-entropy needs of a node's store (engine.Store).
type Store interface {
	// SlotDigests returns the digests of slots from..to, and false when
	// they do not match the records.
	SlotDigests(from, to uint16) ([]uint64, bool)
	// ScanSlotDigests visits every record of slot in (db, key) order after
	// (afterDB, after) (after nil: from the start) with its digest.
	ScanSlotDigests(slot uint16, afterDB int, after []byte, fn func(db int, key []byte, hash uint64) bool) error
	// Get returns the key's stored siblings, nil when absent.
	Get(db int, key []byte) (version.Siblings, error)
	// Merge merges in with the stored siblings and returns the result.
	Merge(db int, key []byte, in version.Siblings) (version.Siblings, error)
	// Reclaimable reports whether every version of sib has been dead for
	// longer than the tombstone grace: a record expiry removes, which a
	// repair must not copy back.
	Reclaimable(sib version.Siblings) bool
	// PastGrace reports whether every version of sib was written longer
	// than the tombstone grace ago: a replica lacking it may have purged
	// the tombstone of its delete, so a repair must not copy it there.
	PastGrace(sib version.Siblings) bool
}

// Peers makes the calls a round needs; *cluster.Transport implements it.
type Peers interface {
	Call(ctx context.Context, node string, op cluster.Op, payload []byte) ([]byte, error)
	Read(ctx context.Context, node string, db int, key []byte) (version.Siblings, error)
	Write(ctx context.Context, node string, db int, key []byte, sib version.Siblings, hintFor string) error
}

// Config configures anti-entropy. A zero field takes the default named in
// its comment.
type Config struct {
	// NodeID is this node's ID. Required.
	NodeID string
	// N is the replication factor: the length of a preference list. Default 3.
	N int
	// Interval is the pause between the end of a round and the start of
	// the next. Default 30s.
	Interval time.Duration
	// RepairsPerSecond bounds the records repaired per second. Default 2000.
	RepairsPerSecond int
	// CallTimeout bounds one peer call. Default 10s.
	CallTimeout time.Duration
	// Logger receives round summaries, bound to this node. Default: none.
	Logger *slog.Logger
}

func (c *Config) fillDefaults() {
	if c.N == 0 {
		c.N = 3
	}
	if c.Interval == 0 {
		c.Interval = 30 * time.Second
	}
	if c.RepairsPerSecond == 0 {
		c.RepairsPerSecond = 2000
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with c at once. Zero fields are valid.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("antientropy: NodeID is required"))
	}
	if c.N < 0 || c.Interval < 0 || c.RepairsPerSecond < 0 || c.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("antientropy: N, Interval, RepairsPerSecond and CallTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

// Stats are the counters of an AntiEntropy, read with atomic loads.
type Stats struct {
	Rounds         atomic.Int64 // rounds run
	SlotsCompared  atomic.Int64 // shared slots whose digests were compared
	SlotsDiffering atomic.Int64 // of those, slots whose digests differed
	KeysDiffering  atomic.Int64 // records found held differently
	KeysPulled     atomic.Int64 // repairs that changed this node's copy
	KeysPushed     atomic.Int64 // repairs that sent the merged copy to the peer
	KeysLeft       atomic.Int64 // records one side lacks, left alone as older than the tombstone grace
	Failures       atomic.Int64 // failed calls or repairs (retried next round)
}

// AntiEntropy runs rounds until Close.
type AntiEntropy struct {
	cfg      Config
	log      *slog.Logger
	store    Store
	peers    Peers
	snapshot func() *cluster.Snapshot
	stats    Stats
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	slotPage int // record digests read at a time per side (defaultSlotPage)

	// Owned by the round goroutine: when the next repair may start.
	nextRepair time.Time
}

// Start validates cfg and runs a round every cfg.Interval (the first one
// sooner, see run), over the ring that snapshot returns (the current
// Membership snapshot).
func Start(cfg Config, store Store, peers Peers, snapshot func() *cluster.Snapshot) (*AntiEntropy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	a := &AntiEntropy{cfg: cfg, store: store, peers: peers, snapshot: snapshot, slotPage: defaultSlotPage}
	a.log = cfg.Logger.With("node", cfg.NodeID, "component", "antientropy")
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.wg.Go(a.run)
	return a, nil
}

// Close stops the rounds and waits for the one in progress to give up.
func (a *AntiEntropy) Close() {
	a.cancel()
	a.wg.Wait()
}

// Stats returns the live counters.
func (a *AntiEntropy) Stats() *Stats { return &a.stats }

// run runs the rounds. The first comes after a random part of half an
// interval: a restarted node (which pulls only the slots it gained, see
// cluster's transfer_held.go) catches up on what it lost in the crash
// sooner, and nodes started together do not compare in step.
func (a *AntiEntropy) run() {
	t := time.NewTimer(rand.N(a.cfg.Interval/2 + 1))
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			a.round(a.ctx)
			t.Reset(a.cfg.Interval)
		}
	}
}

// round compares this node with every peer it starts comparisons with.
func (a *AntiEntropy) round(ctx context.Context) {
	a.stats.Rounds.Add(1)
	s := a.snapshot()
	if s == nil || s.Table == nil || !s.Ready(a.cfg.NodeID) {
		return
	}
	start := time.Now()
	for _, p := range a.plan(s) {
		if ctx.Err() != nil {
			return
		}
		differ, repaired, err := a.compareWith(ctx, p.node, p.slots, s.Log)
		if err != nil {
			a.stats.Failures.Add(1)
			a.log.Debug("anti-entropy with a peer stopped", "peer", p.node, "err", err)
		}
		if differ > 0 {
			a.log.Info("anti-entropy repaired", "peer", p.node, "slots_differing", differ, "keys", repaired, "took", time.Since(start))
		}
	}
}

// peerPlan is a peer to compare with and the slots both hold.
type peerPlan struct {
	node  string
	slots []uint16
}

// plan lists the peers this node compares with under s: those with a
// greater ID (the other half compare with this node) that are up and
// synced, with the slots whose preference list names both.
func (a *AntiEntropy) plan(s *cluster.Snapshot) []peerPlan {
	self := a.cfg.NodeID
	byPeer := map[string]*peerPlan{}
	var buf [16]string
	for sl := range ring.NumSlots {
		slot := uint16(sl)
		pl := s.Table.PreferenceList(buf[:0], slot, a.cfg.N)
		if !slices.Contains(pl, self) {
			continue
		}
		for _, id := range pl {
			if id <= self || !s.Up(id) || !s.Ready(id) {
				continue
			}
			p := byPeer[id]
			if p == nil {
				p = &peerPlan{node: id}
				byPeer[id] = p
			}
			p.slots = append(p.slots, slot)
		}
	}
	out := make([]peerPlan, 0, len(byPeer))
	for _, p := range byPeer {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y peerPlan) int {
		if x.node < y.node {
			return -1
		}
		return 1
	})
	return out
}

// compareWith compares the given slots (ascending) with node's copies and
// repairs what differs; it returns the number of slots that differed and
// of records repaired.
func (a *AntiEntropy) compareWith(ctx context.Context, node string, slots []uint16, log cluster.LogDigest) (differ, repaired int, err error) {
	if len(slots) == 0 {
		return 0, 0, nil
	}
	from, to := slots[0], slots[len(slots)-1]
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	p, err := a.peers.Call(cctx, node, cluster.OpSlotDigests, appendDigestsReq(nil, from, to))
	cancel()
	if err != nil {
		return 0, 0, fmt.Errorf("antientropy: digests of %s: %w", node, err)
	}
	theirs, err := decodeDigests(p, from, to)
	if err != nil {
		return 0, 0, fmt.Errorf("antientropy: digests of %s: %w", node, err)
	}
	ours, trusted := a.store.SlotDigests(from, to)
	for _, slot := range slots {
		if !a.stillCurrent(log) {
			// The ring changed: these slots may no longer be shared, or
			// already purged; the next round plans afresh.
			return differ, repaired, nil
		}
		i := int(slot - from)
		a.stats.SlotsCompared.Add(1)
		if trusted && theirs.Trusted && ours[i] == theirs.Slot[i] {
			continue
		}
		n, err := a.repairSlot(ctx, node, slot)
		repaired += n
		if n > 0 || err != nil {
			differ++
			a.stats.SlotsDiffering.Add(1)
		}
		if err != nil {
			return differ, repaired, err
		}
	}
	return differ, repaired, nil
}

// stillCurrent reports whether the ring is still the one of log, which the
// round planned for (always, without a snapshot source: the tests').
func (a *AntiEntropy) stillCurrent(log cluster.LogDigest) bool {
	if a.snapshot == nil {
		return true
	}
	s := a.snapshot()
	return s != nil && s.Log == log
}

// repairSlot finds the records of slot that this node and node do not
// hold alike and repairs each; it returns how many it repaired.
func (a *AntiEntropy) repairSlot(ctx context.Context, node string, slot uint16) (int, error) {
	local := newDigests(func(after cursor) ([]entry, bool, error) {
		var es []entry
		more := false
		err := a.store.ScanSlotDigests(slot, after.DB, after.Key, func(db int, key []byte, h uint64) bool {
			if len(es) == a.slotPage {
				more = true
				return false
			}
			es = append(es, entry{DB: db, Key: key, Hash: h})
			return true
		})
		if err != nil {
			return nil, false, fmt.Errorf("antientropy: slot %d: %w", slot, err)
		}
		return es, more, nil
	})
	remote := newDigests(func(after cursor) ([]entry, bool, error) {
		return a.fetchPage(ctx, node, keysReq{Slot: slot, After: after, MaxEntries: a.slotPage})
	})
	repaired := 0
	err := walkDiff(local, remote, func(c cursor) error {
		a.stats.KeysDiffering.Add(1)
		if err := a.throttle(ctx); err != nil {
			return err
		}
		err := a.repairKey(ctx, node, c.DB, c.Key)
		if err == nil {
			repaired++
			return nil
		}
		a.stats.Failures.Add(1)
		var pe peerError
		if errors.As(err, &pe) || ctx.Err() != nil {
			return err
		}
		// One record that cannot be repaired here (corrupt, too many
		// siblings, a database this node does not have) must not stop the
		// comparison of every later slot.
		a.log.Debug("anti-entropy skipped a record", "peer", node, "db", c.DB, "key", c.Key, "err", err)
		return nil
	})
	return repaired, err
}

// defaultSlotPage is the number of record digests read at a time from each
// side when comparing a slot.
const defaultSlotPage = 4096

// fetchPage reads one page of node's record digests.
func (a *AntiEntropy) fetchPage(ctx context.Context, node string, q keysReq) ([]entry, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	p, err := a.peers.Call(cctx, node, cluster.OpSlotKeys, q.appendBinary(nil))
	cancel()
	if err != nil {
		return nil, false, peerError{fmt.Errorf("antientropy: slot %d of %s: %w", q.Slot, node, err)}
	}
	es, more, err := decodeKeysReply(p, q)
	if err != nil {
		return nil, false, peerError{fmt.Errorf("antientropy: slot %d of %s: %w", q.Slot, node, err)}
	}
	return es, more, nil
}

// peerError is a failed call to the peer: the comparison with it stops,
// where a failure of one record's local repair only skips that record.
type peerError struct{ err error }

func (e peerError) Error() string { return e.err.Error() }
func (e peerError) Unwrap() error { return e.err }

// repairKey merges node's copy of (db, key) into this node's and sends the
// result back if node's copy lacks any of it. A copy whose versions have
// all been dead past the tombstone grace counts as absent: expiry removes
// it on each replica in its own time, and copying it back would undo that.
func (a *AntiEntropy) repairKey(ctx context.Context, node string, db int, key []byte) error {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	defer cancel()
	theirs, err := a.peers.Read(cctx, node, db, key)
	if err != nil {
		return peerError{fmt.Errorf("antientropy: read db %d key %q from %s: %w", db, key, node, err)}
	}
	ours, err := a.store.Get(db, key)
	if err != nil {
		return fmt.Errorf("antientropy: read db %d key %q: %w", db, key, err)
	}
	// A record only one side has, written before the tombstone grace, may
	// be a delete the other side has purged: leave it (see Store.PastGrace).
	if (len(ours) == 0 && a.store.PastGrace(theirs)) || (len(theirs) == 0 && a.store.PastGrace(ours)) {
		a.stats.KeysLeft.Add(1)
		return nil
	}
	merged := ours
	if len(theirs) > 0 && !a.store.Reclaimable(theirs) {
		merged, err = a.store.Merge(db, key, theirs)
		if err != nil {
			return fmt.Errorf("antientropy: merge db %d key %q: %w", db, key, err)
		}
		if !merged.Equal(ours) {
			a.stats.KeysPulled.Add(1)
		}
	}
	if len(merged) > 0 && !merged.Equal(theirs) && !a.store.Reclaimable(merged) {
		if err := a.peers.Write(cctx, node, db, key, merged, ""); err != nil {
			return peerError{fmt.Errorf("antientropy: write db %d key %q to %s: %w", db, key, node, err)}
		}
		a.stats.KeysPushed.Add(1)
	}
	return nil
}

// throttle waits until the next repair may start under RepairsPerSecond.
func (a *AntiEntropy) throttle(ctx context.Context) error {
	now := time.Now()
	gap := time.Second / time.Duration(a.cfg.RepairsPerSecond)
	if a.nextRepair.Before(now) {
		a.nextRepair = now
	}
	wait := a.nextRepair.Sub(now)
	a.nextRepair = a.nextRepair.Add(gap)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
