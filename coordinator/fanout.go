package coordinator

import (
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
	signalled bool             // guarded by mu: done was signalled
	detached  bool             // guarded by mu: the request's goroutine left
	noRepair  bool             // guarded by mu: the read failed or was abandoned
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

// Reply implements Replies: it counts one target's answer.
func (f *fanout) Reply(i int, sib version.Siblings, err error) {
	if err != nil {
		// Before counting, so that the fanout cannot finish (and be
		// recycled) while this failure is still being recorded.
		f.failed(i, err)
	}
	f.mu.Lock()
	if err != nil {
		f.fail++
		f.last = err
	} else {
		f.ok++
		if f.read {
			f.got = append(f.got, answer{i, sib})
			f.merged = version.Merge(f.merged, sib)
		}
	}
	all := f.ok+f.fail == len(f.p.targets)
	if !f.signalled && (f.ok >= f.need || all) {
		f.signalled = true
		f.done <- struct{}{}
	}
	finish := all && f.detached
	f.mu.Unlock()
	if finish {
		f.finish()
	}
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
	all := f.ok+f.fail == len(f.p.targets)
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
		if version.Merge(a.sib, merged).Equal(a.sib) {
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
