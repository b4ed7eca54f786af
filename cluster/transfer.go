package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// TransferConfig configures a node's range transfers (Transfers). A zero
// field takes the default named in its comment.
type TransferConfig struct {
	// NodeID is this node's ID. Required.
	NodeID string
	// N is the replication factor: the length of a preference list. Default 3.
	N int
	// Databases is the number of databases to pull. Default 16.
	Databases int
	// PageBytes is the byte budget of one page. Default 256 KiB; at most
	// MaxPageBytes.
	PageBytes int
	// PageInterval is the least time between the starts of two page
	// requests: transfers pull at most PageBytes per PageInterval, from one
	// node at a time, so that a join under load leaves the disks and the
	// network to client traffic. Default 10ms (about 25 MiB/s).
	PageInterval time.Duration
	// RetryInterval is how long a range waits after every source failed
	// before it is tried again. Default 2s.
	RetryInterval time.Duration
	// CallTimeout bounds one page request. Default 10s.
	CallTimeout time.Duration
	// Logger receives transfer progress, bound to this node. Default: none.
	Logger *slog.Logger
	// Dropper removes the records of slots this node no longer holds, once
	// that is safe (see transfer_purge.go). Default: none, and nothing is
	// ever removed.
	Dropper SlotDropper
	// PurgeDelay is how long the conditions for a purge must have held,
	// and no page have been served by this node, before it drops the slots
	// it lost. Default 5s.
	PurgeDelay time.Duration
	// Held records the slots this node holds each time it is synced, so
	// that after a restart it pulls only the slots it gained while down
	// instead of every slot (see transfer_held.go). Default: none, and a
	// restart pulls every slot.
	Held HeldStore
}

// DefaultTransferConfig returns a TransferConfig with every default filled
// in; the caller sets NodeID.
func DefaultTransferConfig() TransferConfig {
	var c TransferConfig
	c.fillDefaults()
	return c
}

func (c *TransferConfig) fillDefaults() {
	if c.N == 0 {
		c.N = 3
	}
	if c.Databases == 0 {
		c.Databases = 16
	}
	if c.PageBytes == 0 {
		c.PageBytes = 256 << 10
	}
	if c.PageInterval == 0 {
		c.PageInterval = 10 * time.Millisecond
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 2 * time.Second
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.PurgeDelay == 0 {
		c.PurgeDelay = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with c at once. Zero fields are valid.
func (c TransferConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("cluster: "+format, a...)) }
	if c.NodeID == "" {
		bad("transfer NodeID is required")
	}
	if c.N < 0 || c.Databases < 0 || c.Databases > 256 {
		bad("transfer N and Databases must be positive (Databases at most 256), got %d and %d", c.N, c.Databases)
	}
	if c.PageBytes < 0 || c.PageBytes > MaxPageBytes {
		bad("PageBytes must be 1..%d, got %d", MaxPageBytes, c.PageBytes)
	}
	if c.PageInterval < 0 || c.RetryInterval < 0 || c.CallTimeout < 0 || c.PurgeDelay < 0 {
		bad("transfer intervals and timeouts must not be negative")
	}
	return errors.Join(errs...)
}

// Caller makes one peer call and waits for its reply; Transport implements it.
type Caller interface {
	Call(ctx context.Context, node string, op Op, payload []byte) ([]byte, error)
}

// TransferStats are a Transfers' counters, read with atomic loads.
type TransferStats struct {
	SlotsPending  atomic.Int64 // slots this node must still pull for its current table
	RangesPending atomic.Int64 // runs of those slots with the same sources
	SlotsPulled   atomic.Int64 // slots whose pull finished
	Records       atomic.Int64 // records received and merged
	Bytes         atomic.Int64 // page bytes received
	Pages         atomic.Int64 // pages received
	PagesFailed   atomic.Int64 // page requests that failed (retried)
	SlotsPurged   atomic.Int64 // slots this node stopped holding whose records it dropped
	RecordsPurged atomic.Int64 // records dropped with them
	Purges        atomic.Int64 // purges run
}

// Transfers pulls the records of the slots this node newly holds: it reads
// each new Snapshot, works out the slots whose preference list names this
// node now but did not in the table it last planned for, and pulls each run
// of them, page by page (OpSlotPage), from a node that held them then or
// holds them now, merging every record into the Store. When nothing is
// left to pull for a table it announces so (the synced callback,
// Membership.SetSynced), which makes the node Ready. Once every member is
// Ready it drops the records of the slots it no longer holds (the purge,
// see transfer_purge.go). Safe for concurrent use.
type Transfers struct {
	cfg    TransferConfig
	log    *slog.Logger
	store  coordinator.Store
	call   Caller
	synced func(LogDigest)
	snaps  <-chan *Snapshot
	stats  TransferStats
	ids    version.Decoder
	ctx    context.Context // cancelled by Close, so a page call in flight ends
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the run goroutine.
	restored  *heldSlots  // the last run's held slots, until the first plan
	savedHeld []byte      // the held-slots record last written (or read)
	savedFor  *ring.Table // the table savedHeld was checked against
	snap      *Snapshot
	table     *ring.Table // the table last planned for; nil before the first
	planned   LogDigest
	need      [ring.NumSlots]bool
	ranges    []*pullRange
	lastPage  time.Time

	// The purge: slots held in an earlier table and not in the current
	// one, and when to drop them. Owned by the run goroutine.
	lost       [ring.NumSlots]bool
	nLost      int
	safeSince  time.Time // since when purgeSafe has held for safeLog
	safeLog    LogDigest
	purgeAt    time.Time // when maybePurge runs next; zero: not before a new Snapshot
	purgeRetry time.Time // no purge before this, after a failed one

	// Pages this node serves (PageHandler), read by the run goroutine.
	serving    atomic.Int64
	lastServed atomic.Int64 // Unix nanoseconds at the end of the last page
}

// pullRange is a run of slots to pull with the same candidate sources, and
// how far its pull got.
type pullRange struct {
	from, to uint16
	sources  []string // nodes that held or hold these slots, in order of preference
	next     int      // the source to ask next
	failures int      // consecutive failed requests
	retryAt  time.Time
	// The cursor: the next page starts at database db, slot slot, after
	// key after (nil: at the slot's first key).
	db    int
	slot  uint16
	after []byte
}

// StartTransfers validates cfg and starts pulling into store, driven by
// the Snapshots received on snaps (Membership.Subscribe), until Close or
// until snaps is closed. synced is called, from Transfers' goroutine, with
// the log of each Snapshot for which nothing is left to pull.
func StartTransfers(cfg TransferConfig, store coordinator.Store, call Caller, snaps <-chan *Snapshot, synced func(LogDigest)) (*Transfers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	t := &Transfers{cfg: cfg, store: store, call: call, synced: synced, snaps: snaps}
	t.log = cfg.Logger.With("node", cfg.NodeID, "component", "transfer")
	if t.restored = t.loadHeld(); t.restored != nil {
		t.savedHeld = encodeHeld(t.restored)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Go(t.run)
	return t, nil
}

// Close stops pulling and waits for the goroutine; a page in flight is
// abandoned (its pull starts again from its cursor on the next start, or
// from scratch after a restart).
func (t *Transfers) Close() {
	t.cancel()
	t.wg.Wait()
}

// Stats returns the live counters.
func (t *Transfers) Stats() *TransferStats { return &t.stats }

func (t *Transfers) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wake <-chan time.Time
		now := time.Now()
		d, pull := t.nextPull(now)
		if !t.purgeAt.IsZero() && (!pull || t.purgeAt.Sub(now) < d) {
			d = max(t.purgeAt.Sub(now), 0)
		}
		if pull || !t.purgeAt.IsZero() {
			timer.Reset(d)
			wake = timer.C
		}
		select {
		case <-t.ctx.Done():
			return
		case s, ok := <-t.snaps:
			if !ok {
				return
			}
			t.apply(s)
		case <-wake:
			now := time.Now()
			if d, ok := t.nextPull(now); ok && d == 0 {
				t.pullPage(now)
			}
			t.maybePurge(now)
		}
	}
}

// apply takes in a new Snapshot: a new table is planned for; any Snapshot
// may make a waiting range's sources reachable.
func (t *Transfers) apply(s *Snapshot) {
	t.snap = s
	if t.table == nil || s.Log != t.planned {
		t.plan(s.Table)
		t.planned = s.Log
	}
	t.finishIfDone()
	t.armPurge(time.Now())
}

// plan marks the slots to pull under table next and regroups them into
// ranges, keeping the progress of ranges that did not change. A slot is to
// be pulled when next's preference list names this node and either the
// previous table's did not, or it was still to be pulled. On the first
// table after a start, the slots held when last synced, if recorded
// (transfer_held.go), stand in for the previous table's. When this node
// knew of no other member before (its first table with no such record, or
// a ring of its own that just merged with another), every slot it holds is
// pulled: what it had may be a fraction of what the others have.
func (t *Transfers) plan(next *ring.Table) {
	self := t.cfg.NodeID
	prev := t.table
	alone := prev == nil || prev.Len() == 0 || (prev.Len() == 1 && prev.Has(self))
	// After a restart, the slots held when last synced stand in for the
	// previous table (transfer_held.go).
	restored := t.restored
	t.restored = nil
	if prev == nil && restored != nil && !restored.alone {
		alone = false
	} else {
		restored = nil
	}
	old := map[[2]uint16]*pullRange{}
	for _, r := range t.ranges {
		old[[2]uint16{r.from, r.to}] = r
	}
	t.ranges = t.ranges[:0]
	var cur *pullRange
	var pbuf, nbuf [16]string
	for s := range ring.NumSlots {
		slot := uint16(s)
		nl := next.PreferenceList(nbuf[:0], slot, t.cfg.N)
		var pl []string
		if prev != nil {
			pl = prev.PreferenceList(pbuf[:0], slot, t.cfg.N)
		}
		holds := slices.Contains(nl, self)
		heldBefore := slices.Contains(pl, self)
		if restored != nil {
			heldBefore = restored.slots[slot]
		}
		t.markLost(slot, holds, heldBefore, alone)
		t.need[slot] = holds && (t.need[slot] || alone || !heldBefore)
		if !t.need[slot] {
			cur = nil
			continue
		}
		// Sources: the previous holders first (they have had the data
		// longest), then the current ones.
		var src []string
		for _, id := range slices.Concat(pl, nl) {
			if id != self && !slices.Contains(src, id) {
				src = append(src, id)
			}
		}
		if cur != nil && cur.to == slot-1 && slices.Equal(cur.sources, src) {
			cur.to = slot
			continue
		}
		cur = &pullRange{from: slot, to: slot, sources: src, slot: slot}
		t.ranges = append(t.ranges, cur)
	}
	for i, r := range t.ranges {
		if o := old[[2]uint16{r.from, r.to}]; o != nil && slices.Equal(o.sources, r.sources) {
			t.ranges[i] = o
		}
	}
	t.table = next
	t.updatePending()
	if len(t.ranges) > 0 {
		t.log.Info("range transfer planned", "ranges", len(t.ranges), "slots", t.stats.SlotsPending.Load(), "members", next.Len())
	}
}

func (t *Transfers) updatePending() {
	n := 0
	for _, r := range t.ranges {
		n += int(r.to) - int(r.from) + 1
	}
	t.stats.SlotsPending.Store(int64(n))
	t.stats.RangesPending.Store(int64(len(t.ranges)))
}

// finishIfDone announces the current table synced when nothing is left.
func (t *Transfers) finishIfDone() {
	if len(t.ranges) == 0 && t.snap != nil && t.synced != nil {
		if t.table != t.savedFor && t.saveHeld() {
			t.savedFor = t.table // else tried again at the next snapshot
		}
		t.synced(t.snap.Log)
	}
}

// nextPull returns how long until the next page may be requested; false
// when nothing is to be pulled.
func (t *Transfers) nextPull(now time.Time) (time.Duration, bool) {
	if len(t.ranges) == 0 {
		return 0, false
	}
	at := t.ranges[0].retryAt
	for _, r := range t.ranges[1:] {
		if r.retryAt.Before(at) {
			at = r.retryAt
		}
	}
	at = later(at, t.lastPage.Add(t.cfg.PageInterval))
	return max(at.Sub(now), 0), true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pullPage requests one page for the first range that may be tried now,
// and merges it.
func (t *Transfers) pullPage(now time.Time) {
	i := slices.IndexFunc(t.ranges, func(r *pullRange) bool { return !r.retryAt.After(now) })
	if i < 0 {
		return
	}
	r := t.ranges[i]
	var up []string
	for _, id := range r.sources {
		if t.snap.Up(id) {
			up = append(up, id)
		}
	}
	if len(r.sources) == 0 {
		// No other node holds or held these slots (a ring of one): there
		// is nothing to pull.
		t.rangeDone(i)
		return
	}
	if len(up) == 0 {
		r.retryAt = now.Add(t.cfg.RetryInterval)
		return
	}
	t.lastPage = now
	src := up[r.next%len(up)]
	err := t.pullFrom(r, src)
	if err == nil {
		r.failures = 0
		if r.db >= t.cfg.Databases {
			t.rangeDone(i)
		}
		return
	}
	t.stats.PagesFailed.Add(1)
	r.failures++
	r.next++
	if r.failures >= len(up) {
		r.failures = 0
		r.retryAt = now.Add(t.cfg.RetryInterval)
		t.log.Warn("range transfer failed; retrying later", "from_slot", r.from, "to_slot", r.to, "source", src, "err", err, "retry_in", t.cfg.RetryInterval)
	} else {
		t.log.Debug("range transfer page failed; trying another source", "from_slot", r.from, "to_slot", r.to, "source", src, "err", err)
	}
}

// pullFrom requests r's next page from src, merges its records and moves
// r's cursor; the cursor's db reaches Databases when the range is done.
func (t *Transfers) pullFrom(r *pullRange, src string) error {
	req := pageRequest{From: r.from, To: r.to, DB: r.db, Slot: r.slot, After: r.after, MaxBytes: t.cfg.PageBytes}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.CallTimeout)
	reply, err := t.call.Call(ctx, src, OpSlotPage, req.appendBinary(nil))
	cancel()
	if err != nil {
		return err
	}
	recs, more, err := decodePage(reply, req, &t.ids)
	if err != nil {
		return fmt.Errorf("page from %s: %w", src, err)
	}
	for _, rec := range recs {
		if _, err := t.store.Merge(rec.DB, rec.Key, rec.Siblings); err != nil {
			return fmt.Errorf("merge a pulled record: %w", err)
		}
	}
	t.stats.Pages.Add(1)
	t.stats.Records.Add(int64(len(recs)))
	t.stats.Bytes.Add(int64(len(reply)))
	if !more {
		r.db = t.cfg.Databases
		return nil
	}
	last := recs[len(recs)-1]
	r.db, r.slot, r.after = last.DB, ring.Slot(last.Key), slices.Clone(last.Key)
	return nil
}

// rangeDone drops range i, whose slots are pulled.
func (t *Transfers) rangeDone(i int) {
	r := t.ranges[i]
	for s := int(r.from); s <= int(r.to); s++ {
		t.need[s] = false
	}
	t.stats.SlotsPulled.Add(int64(r.to) - int64(r.from) + 1)
	t.ranges = slices.Delete(t.ranges, i, i+1)
	t.updatePending()
	if len(t.ranges) == 0 {
		t.log.Info("range transfers done", "slots_pulled", t.stats.SlotsPulled.Load(), "records", t.stats.Records.Load())
	}
	t.finishIfDone()
	t.armPurge(time.Now())
}
