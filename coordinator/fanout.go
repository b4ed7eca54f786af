package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ringstore/ringstore/version"
)

// fanout is one quorum request's calls to its targets. The request's
// goroutine sends every call, waits on done until the quorum is decided
// (R or W answers, or too many failures), and detaches. The answers that come
// later are handled by whoever delivers them, a transport goroutine: a failed
// write leaves a hint, a read's late answers join the merge. The last answer
// or the detach, whichever is later, finishes the request (read repair) and
// recycles the fanout. So no goroutine waits per replica call or per
// request, and a request costs no allocation of its own.
type fanout struct {
	c    *Coordinator
	p    *plan
	db   int
	key  []byte
	sib  version.Siblings // a write's siblings; nil for a read
	read bool
	need int // R or W

	done chan struct{} // capacity 1: signalled once the quorum is decided

	mu        sync.Mutex
	ok, fail  int              // guarded by mu: answers counted
	last      error            // guarded by mu: the last failure
	merged    version.Siblings // guarded by mu: a read's merge of its answers
	got       []answer         // guarded by mu: a read's answers, for repair
	asked     int              // guarded by mu: calls issued (ok+fail of them answered)
	sent      uint64           // guarded by mu: bit i set once targets[i] was asked
	signalled bool             // guarded by mu: done was signalled
	detached  bool             // guarded by mu: the request's goroutine left
	noRepair  bool             // guarded by mu: the read failed or was abandoned
	localRec  []byte           // guarded by mu: this node's record, when its read has it
	localSib  version.Siblings // guarded by mu: localRec decoded
	gotBuf    [4]answer
}

// answer is one replica's successful answer to a read.
type answer struct {
	i   int // index in plan.targets
	sib version.Siblings
}

// startFanout returns a fanout for a request to p's targets, counted in
// c.bg until it finishes.
func (c *Coordinator) startFanout(p *plan, db int, key []byte, sib version.Siblings, read bool, need int) *fanout {
	f, _ := c.fanouts.Get().(*fanout)
	if f == nil {
		f = &fanout{c: c, done: make(chan struct{}, 1)}
	}
	f.p, f.db, f.key, f.sib, f.read, f.need = p, db, key, sib, read, need
	f.got = f.gotBuf[:0]
	c.bg.Add(1)
	return f
}

// reserve marks up to n targets not asked yet as asked, this node first
// (its answer costs no network), then in plan order, and appends their
// indexes to dst. Reserving before sending keeps the count of calls ahead of
// the answers, which may arrive before the Send method returns.
func (f *fanout) reserve(n int, dst []int) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reserveLocked(n, dst)
}

func (f *fanout) reserveLocked(n int, dst []int) []int {
	if p := f.p.selfIdx; n > 0 && p >= 0 && f.sent&(1<<p) == 0 {
		f.sent |= 1 << p
		f.asked++
		dst = append(dst, p)
		n--
	}
	for i := range f.p.targets {
		if n == 0 {
			break
		}
		if f.sent&(1<<i) == 0 {
			f.sent |= 1 << i
			f.asked++
			dst = append(dst, i)
			n--
		}
	}
	return dst
}

// Reply implements Replies: it counts one target's answer. A read that
// can no longer reach R with the calls still out asks one more target.
func (f *fanout) Reply(i int, sib version.Siblings, err error) {
	if err != nil {
		// Before counting, so that the fanout cannot finish (and be
		// recycled) while this failure is still being recorded.
		f.failed(i, err)
	}
	var more []int
	var moreBuf [1]int
	f.mu.Lock()
	if err != nil {
		f.fail++
		f.last = err
		if f.read && !f.signalled && f.asked-f.fail < f.need {
			more = f.reserveLocked(1, moreBuf[:0])
		}
	} else {
		f.ok++
		if f.read {
			f.got = append(f.got, answer{i, sib})
			f.merged = version.Merge(f.merged, sib)
		}
	}
	all := f.ok+f.fail == f.asked
	if !f.signalled && (f.ok >= f.need || all) {
		f.signalled = true
		f.done <- struct{}{}
	}
	finish := all && f.detached
	p, db, key := f.p, f.db, f.key
	f.mu.Unlock()
	if finish {
		f.finish()
		return
	}
	// After the unlock: the answer may be delivered before SendRead returns.
	for _, j := range more {
		f.c.ask(f, p, j, db, key, time.Now().Add(f.c.cfg.CallTimeout))
	}
}

// ReplyRecord implements RecordReplies: an answer equal to this node's own
// record (already read, see ask) is that record's siblings; any other is
// decoded here.
func (f *fanout) ReplyRecord(i int, rec []byte) {
	if len(rec) == 0 {
		f.Reply(i, nil, nil)
		return
	}
	f.mu.Lock()
	same := f.localRec != nil && bytes.Equal(rec, f.localRec)
	sib := f.localSib
	f.mu.Unlock()
	if same {
		f.Reply(i, sib, nil)
		return
	}
	sib, err := f.c.ids.Decode(rec)
	if err != nil {
		err = fmt.Errorf("coordinator: read on %s: %w", f.p.targets[i], err)
	}
	f.Reply(i, sib, err)
}

// failed records a target that did not answer.
func (f *fanout) failed(i int, err error) {
	c := f.c
	if !f.read {
		c.replicaWriteFailed(f.p, i, err, f.db, f.key, f.sib)
		return
	}
	c.stats.ReplicaFailed.Add(1)
	if i != f.p.selfIdx {
		c.report(f.p.targets[i], err)
	}
}

// detach is called once by the request's goroutine when it stops waiting;
// abandoned says it gives up on the request (its client left). It returns
// the answers so far and, for a read, their merge, and it finishes the
// request if every answer is in. f must not be used afterwards.
func (f *fanout) detach(abandoned bool) (ok, need int, merged version.Siblings, last error) {
	f.mu.Lock()
	f.detached = true
	ok, need, merged, last = f.ok, f.need, f.merged, f.last
	f.noRepair = abandoned || ok < need
	all := f.ok+f.fail == f.asked
	f.mu.Unlock()
	if all {
		f.finish()
	}
	return ok, need, merged, last
}

// finish runs after the last answer and the detach: read repair, then
// recycling.
func (f *fanout) finish() {
	c := f.c
	if f.read && !f.noRepair {
		c.repair(f.p, f.db, f.key, f.merged, f.got)
	}
	clear(f.gotBuf[:])
	select {
	case <-f.done: // a signal the request's goroutine did not take
	default:
	}
	*f = fanout{c: c, done: f.done}
	c.fanouts.Put(f)
	c.bg.Done()
}

// repair sends merged to every target whose answer lacked part of it (read
// repair). The writes run in the background.
func (c *Coordinator) repair(p *plan, db int, key []byte, merged version.Siblings, got []answer) {
	for _, a := range got {
		// Equal first: nearly every answer is the merge itself, and
		// comparing costs no allocation where merging does.
		if a.sib.Equal(merged) || version.Merge(a.sib, merged).Equal(a.sib) {
			continue // already holds everything
		}
		c.stats.ReadRepairs.Add(1)
		if a.i == p.selfIdx {
			if _, err := c.store.Merge(db, key, merged); err != nil {
				c.cfg.Logger.Debug("read repair failed", "node", c.cfg.NodeID, "err", err)
			}
			continue
		}
		c.bg.Add(1)
		c.cfg.Transport.SendWrite(p.targets[a.i], db, key, merged, "", time.Now().Add(c.cfg.CallTimeout), repairReplies{c, p}, a.i)
	}
}

// repairReplies logs the answers of read-repair writes.
type repairReplies struct {
	c *Coordinator
	p *plan
}

func (r repairReplies) Reply(i int, _ version.Siblings, err error) {
	if err != nil {
		r.c.cfg.Logger.Debug("read repair failed", "node", r.p.targets[i], "err", err)
	}
	r.c.bg.Done()
}

// askAll sends a read to each target in idx (reserved with f.reserve) at
// time now: the remote ones first, so that the network round trips overlap
// this node's own read.
func (c *Coordinator) askAll(f *fanout, p *plan, idx []int, db int, key []byte, now time.Time) {
	deadline := now.Add(c.cfg.CallTimeout)
	local := false
	for _, i := range idx {
		if i == p.selfIdx {
			local = true
			continue
		}
		c.cfg.Transport.SendRead(p.targets[i], db, key, deadline, f, i)
	}
	if local {
		c.ask(f, p, p.selfIdx, db, key, deadline)
	}
}

// ask sends one read to targets[i] (this node's store for selfIdx). The
// local read keeps the record it decoded, when the store hands it out, for
// ReplyRecord to compare the replicas' answers with.
func (c *Coordinator) ask(f *fanout, p *plan, i int, db int, key []byte, deadline time.Time) {
	if i == p.selfIdx {
		sib, rec, err := c.localRead(db, key)
		if err == nil && rec != nil {
			f.mu.Lock()
			f.localRec, f.localSib = rec, sib
			f.mu.Unlock()
		}
		f.Reply(i, sib, err)
		return
	}
	c.cfg.Transport.SendRead(p.targets[i], db, key, deadline, f, i)
}

// localRead reads key from this node's store for a quorum read, with the
// record when the store hands it out (recordGetter). A store that panics
// fails this node's answer only, as a replica whose handler panics does
// (the peer server recovers it): the read is still answered by the other
// replicas, and its fanout, already counting this answer, still finishes.
func (c *Coordinator) localRead(db int, key []byte) (sib version.Siblings, rec []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.cfg.Logger.Error("local read panicked", "db", db, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			sib, rec, err = nil, nil, fmt.Errorf("coordinator: local read panicked: %v", r)
		}
	}()
	if rs, ok := c.store.(recordGetter); ok {
		return rs.GetRecord(db, key)
	}
	sib, err = c.store.Get(db, key)
	return sib, nil, err
}

// awaitRead waits for a read's quorum. When the targets asked have not
// answered within SpeculativeRead of sent (when the read was sent), the
// read also asks every target not asked yet, so one slow or stalled
// replica (a paused process, a node not yet known to be down) delays reads
// by that much instead of a CallTimeout. Counting from the send, not from
// the wait, matters to a pipeline that sends all its reads and then waits
// for them in turn: each would otherwise add its own SpeculativeRead.
func (c *Coordinator) awaitRead(ctx context.Context, f *fanout, p *plan, db int, key []byte, sent time.Time) error {
	if d := c.cfg.SpeculativeRead - time.Since(sent); d > 0 {
		t, _ := c.timers.Get().(*time.Timer)
		if t == nil {
			t = time.NewTimer(d)
		} else {
			t.Reset(d)
		}
		defer func() {
			t.Stop() // since Go 1.23 no stale tick can be received after Stop
			c.timers.Put(t)
		}()
		select {
		case <-f.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	var buf [16]int
	if idx := f.reserve(len(p.targets), buf[:0]); len(idx) > 0 {
		c.stats.SpeculativeReads.Add(1)
		c.askAll(f, p, idx, db, key, time.Now())
	}
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readRepairRoll decides whether a read asks every target, so that their
// answers are compared and the stale ones repaired (ReadRepairChance).
func (c *Coordinator) readRepairRoll() bool {
	switch chance := c.cfg.ReadRepairChance; {
	case chance <= 0:
		return false
	case chance >= 1:
		return true
	default:
		return rand.Float64() < chance
	}
}
