package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/ringstore/ringstore/version"
)

// Value is what a plain Redis command sees of a key: the last writer among
// its live siblings.
type Value struct {
	Kind     version.Kind
	Data     []byte
	ExpireAt int64 // Unix ms; 0 means no expiry
}

// Op says what an Update does to its key.
type Op int

const (
	Keep   Op = iota // write nothing
	Put              // write Change.Value as the key's new version
	Delete           // write a tombstone
)

// Change is an Update function's decision.
type Change struct {
	Op    Op
	Value Value
}

// read returns the merge of R replicas' siblings of key (read repair
// follows in the background).
func (c *Coordinator) read(ctx context.Context, db int, key []byte) (version.Siblings, error) {
	var pr PendingRead
	c.StartGet(ctx, db, key, &pr)
	return pr.wait(ctx)
}

// known returns the versions a blind write must supersede: what this node
// holds when it is a replica of key (DESIGN.md "Versions": the clocks the
// coordinator holds), else a quorum read, so that a write from outside the
// preference list does not turn every earlier write into a sibling.
func (c *Coordinator) known(ctx context.Context, db int, key []byte) (version.Siblings, error) {
	if err := c.checkDB(db); err != nil {
		return nil, err
	}
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if topo := c.topology(); topo != nil {
		if p := c.planFor(topo, key); !p.self {
			return c.quorumRead(ctx, topo, p, db, key)
		}
	}
	return c.store.Get(db, key)
}

// write stores v as a version that supersedes every version in known.
func (c *Coordinator) write(ctx context.Context, db int, key []byte, known version.Siblings, v Value, tombstone bool) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return c.quorumWrite(ctx, db, key, version.Siblings{c.newVersion(ctx, known, v, tombstone)})
}

// newVersion builds the version a write of v (or a delete) adds: its clock
// descends from every version in known.
func (c *Coordinator) newVersion(ctx context.Context, known version.Siblings, v Value, tombstone bool) version.Version {
	return c.newVersionAt(ctx, c.nextTimestamp(), known, v, tombstone)
}

// newVersionAt is newVersion with its timestamp ts already issued.
func (c *Coordinator) newVersionAt(ctx context.Context, ts version.HLC, known version.Siblings, v Value, tombstone bool) version.Version {
	nv := version.Version{
		Clock:     known.Clock().Increment(c.actor(ctx, known, ts), ts),
		Timestamp: ts,
		Writer:    c.cfg.NodeID,
		ExpireAt:  v.ExpireAt,
		Tombstone: tombstone,
		Kind:      v.Kind,
		Value:     v.Data,
	}
	if tombstone {
		nv.ExpireAt, nv.Kind, nv.Value = 0, 0, nil
	}
	return nv
}

type externalContextKey struct{}

// actor picks the clock entry a new version increments. Normally it is this
// node. But when the superseded versions come from a client's context
// (SETCTX, DELCTX), this node may have written versions since that read,
// which the context does not cover; incrementing this node's entry would make
// the new version look as if it descended from them (or equal one of them)
// and silently drop a write. Then the write gets an entry of its own, named
// after this node and its timestamp, so it stays concurrent with them and
// both survive as siblings. Truncation bounds the extra entries.
func (c *Coordinator) actor(ctx context.Context, known version.Siblings, ts version.HLC) string {
	local, ok := ctx.Value(externalContextKey{}).(version.Siblings)
	if !ok {
		return c.cfg.NodeID
	}
	mine := known.Clock().Counter(c.cfg.NodeID)
	for _, v := range local {
		if v.Clock.Counter(c.cfg.NodeID) > mine {
			return c.cfg.NodeID + "." + strconv.FormatUint(uint64(ts), 16)
		}
	}
	return c.cfg.NodeID
}

// withCurrent records, for actor, the versions this node currently knows of
// key, before a write that supersedes a client's context.
func (c *Coordinator) withCurrent(ctx context.Context, db int, key []byte) (context.Context, error) {
	cur, err := c.known(ctx, db, key)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, externalContextKey{}, cur), nil
}

func visible(sib version.Siblings, now int64) (Value, bool) {
	v, ok := sib.Visible(now)
	if !ok {
		return Value{}, false
	}
	return Value{Kind: v.Kind, Data: v.Value, ExpireAt: v.ExpireAt}, true
}

// Get returns the key's visible value: the last writer among its siblings,
// unless that is a delete or has expired.
func (c *Coordinator) Get(ctx context.Context, db int, key []byte) (Value, bool, error) {
	var pr PendingRead
	c.StartGet(ctx, db, key, &pr)
	return pr.Get(ctx)
}

// StartGet starts GET key's quorum read into pr and returns at once;
// pr.Get waits for it. Get, and every command's read, is StartGet and its
// wait. pr must be waited for (PendingRead).
func (c *Coordinator) StartGet(ctx context.Context, db int, key []byte, pr *PendingRead) {
	topo := c.topology()
	c.startGet(ctx, topo, c.planOrNil(topo, key), db, key, pr)
}

// StartGetHere is StartGet for a key whose GET runs on this node (Route
// with rmw false says so), and otherwise starts nothing and returns false:
// the caller then sends the command where Route says. It looks the key's
// plan up once for both decisions, which a pipeline of GETs makes per
// command.
func (c *Coordinator) StartGetHere(ctx context.Context, db int, key []byte, pr *PendingRead) bool {
	topo := c.topology()
	p := c.planOrNil(topo, key)
	if !p.runsHere() {
		return false
	}
	c.startGet(ctx, topo, p, db, key, pr)
	return true
}

func (c *Coordinator) startGet(ctx context.Context, topo *Topology, p *plan, db int, key []byte, pr *PendingRead) {
	if err := c.checkDB(db); err != nil {
		*pr = PendingRead{c: c, err: err}
		return
	}
	if err := ctxErr(ctx); err != nil {
		*pr = PendingRead{c: c, err: err}
		return
	}
	c.startReadPlan(ctx, topo, p, db, key, pr)
}

// Get waits for a read that StartGet started and returns what Get would:
// the key's visible value. ctx bounds the wait.
func (pr *PendingRead) Get(ctx context.Context) (Value, bool, error) {
	sib, err := pr.wait(ctx)
	if err != nil {
		return Value{}, false, err
	}
	v, ok := visible(sib, pr.c.NowMillis())
	return v, ok, nil
}

// Set writes v as the key's new value, superseding every version this node
// knows of (a blind write: Redis SET without options).
func (c *Coordinator) Set(ctx context.Context, db int, key []byte, v Value) error {
	var pw PendingWrite
	c.StartSet(ctx, db, key, v, &pw)
	return pw.wait()
}

// StartSet starts Set's write into pw and returns once it is stored here
// and sent to the other replicas, without waiting for their acks; pw.Wait
// waits for W of them. A key this node does not replicate is set at once
// (its quorum read comes first). pw must be waited for (PendingWrite).
func (c *Coordinator) StartSet(ctx context.Context, db int, key []byte, v Value, pw *PendingWrite) {
	topo := c.topology()
	c.startSet(ctx, topo, c.planOrNil(topo, key), db, key, v, pw)
}

// StartSetHere is StartSet for a key whose SET runs on this node, as
// StartGetHere is for GET: false means nothing was started.
func (c *Coordinator) StartSetHere(ctx context.Context, db int, key []byte, v Value, pw *PendingWrite) bool {
	topo := c.topology()
	p := c.planOrNil(topo, key)
	if !p.runsHere() {
		return false
	}
	c.startSet(ctx, topo, p, db, key, v, pw)
	return true
}

// startSet is StartSet with key's plan p in topo (nil for no ring).
func (c *Coordinator) startSet(ctx context.Context, topo *Topology, p *plan, db int, key []byte, v Value, pw *PendingWrite) {
	*pw = PendingWrite{c: c}
	if err := c.checkDB(db); err != nil {
		pw.err = err
		return
	}
	if err := ctxErr(ctx); err != nil {
		pw.err = err
		return
	}
	if topo != nil && !p.self {
		sib, err := c.quorumRead(ctx, topo, p, db, key)
		if err == nil {
			err = c.write(ctx, db, key, sib, v, false)
		}
		pw.err = err
		return
	}
	if ss, ok := c.store.(supersedeStore); ok && c.alone(topo) && !externalContext(ctx) {
		// The ring's only node: the store versions the write itself, from
		// the bytes it holds (SupersedeMany), as the Update below would.
		bb := c.blindBatch(1)
		bb.keys = append(bb.keys, key)
		bb.vers[0] = c.blindVersion(v)
		pw.err = c.supersede(ctx, ss, db, bb)
		return
	}
	// A replica of the key: build the version from the local copy and store
	// it in one locked step (one read), then send it to the other replicas.
	var nv version.Siblings
	_, err := c.store.Update(db, key, func(cur version.Siblings) (version.Siblings, error) {
		nv = version.Siblings{c.newVersion(ctx, cur, v, false)}
		return nv, nil
	})
	if nv == nil {
		pw.err = err // nothing was built: the local read failed
		return
	}
	c.startWriteReplicas(ctx, db, key, nv, true, err, pw)
}

// Wait waits for a write that StartSet started and returns what Set would.
func (pw *PendingWrite) Wait() error { return pw.wait() }

// SetMany sets keys[i] to vals[i] for every i; a key repeated in keys ends
// with its last value. On a node that is its ring's only member, with a
// Store that has SupersedeMany (the engine's), the keys change in one atomic
// step, as an MSET on Redis does, and pay one storage commit (if the node
// joins a ring meanwhile, the versions then go to the keys' replicas as
// well); elsewhere they are set one by one, in order, stopping at the
// first error, and the caller that wants them concurrent fans out over Set
// itself.
func (c *Coordinator) SetMany(ctx context.Context, db int, keys [][]byte, vals []Value) error {
	if len(keys) != len(vals) {
		return fmt.Errorf("coordinator: SetMany of %d keys with %d values", len(keys), len(vals))
	}
	if err := c.checkDB(db); err != nil {
		return err
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	ss, ok := c.store.(supersedeStore)
	if !ok || !c.alone(c.topology()) || externalContext(ctx) {
		for i, key := range keys {
			if err := c.Set(ctx, db, key, vals[i]); err != nil {
				return err
			}
		}
		return nil
	}
	bb := c.blindBatch(len(keys))
	bb.keys = append(bb.keys, keys...)
	for i := range vals {
		bb.vers[i] = c.blindVersion(vals[i])
	}
	return c.supersede(ctx, ss, db, bb)
}

// supersede stores bb's versions of its keys through ss, on a node alone
// in its ring, and recycles bb. SupersedeMany takes the batch's readings
// with every key locked, so that they follow those of every write the
// locks waited for, and key i gets the i-th (HLC readings are consecutive
// integers). If the node joined a ring while the batch was being written,
// the keys' other replicas must get the versions too, as a Set on the ring
// would have sent them (a joining node may already have pulled these
// slots): supersede sends them the records written and waits for them as
// Set does.
func (c *Coordinator) supersede(ctx context.Context, ss supersedeStore, db int, bb *blindBatch) error {
	defer c.recycleBlind(bb)
	if err := ss.SupersedeMany(db, bb.keys, bb.vers, bb.stamp, bb.recs); err != nil || c.alone(c.topology()) {
		return err
	}
	for i, key := range bb.keys {
		nv, err := c.ids.Decode(bb.recs[i])
		if err != nil {
			return fmt.Errorf("coordinator: the record just written: %w", err)
		}
		if err := c.writeReplicas(ctx, db, key, nv, true, nil); err != nil {
			return err
		}
	}
	return nil
}

// supersedeStore is a Store that versions blind writes itself
// (engine.Store.SupersedeMany): keys[i] gets vers[i], stamped stamp()+i,
// with a clock that supersedes what the key holds, incremented at the
// version's writer, as newVersionAt would build it from the stored
// siblings; recs[i] gets the record written. The keys change in one atomic
// step.
type supersedeStore interface {
	SupersedeMany(db int, keys [][]byte, vers []version.Version, stamp func() version.HLC, recs [][]byte) error
}

// blindBatch is the memory of a SupersedeMany call, recycled so that a SET
// allocates nothing but its record: keys, vers, recs and a stamp func
// issuing n readings (nextTimestamps), made once per blindBatch.
type blindBatch struct {
	keys  [][]byte
	vers  []version.Version
	recs  [][]byte
	n     int
	stamp func() version.HLC
}

// maxKeptBlind is the largest batch whose memory is kept for another.
const maxKeptBlind = 1024

// blindBatch returns a blindBatch with no keys, n zero versions and
// records, and a stamp issuing n readings.
func (c *Coordinator) blindBatch(n int) *blindBatch {
	bb, _ := c.blind.Get().(*blindBatch)
	if bb == nil {
		bb = &blindBatch{}
		bb.stamp = func() version.HLC { return c.nextTimestamps(bb.n) }
	}
	bb.n = n
	bb.keys = bb.keys[:0]
	bb.vers = slices.Grow(bb.vers[:0], n)[:n]
	bb.recs = slices.Grow(bb.recs[:0], n)[:n]
	return bb
}

// recycleBlind keeps bb for another call, without the keys and values it
// refers to. The store keeps neither once SupersedeMany returned.
func (c *Coordinator) recycleBlind(bb *blindBatch) {
	clear(bb.keys)
	clear(bb.vers)
	clear(bb.recs)
	if max(cap(bb.keys), cap(bb.vers), cap(bb.recs)) <= maxKeptBlind {
		c.blind.Put(bb)
	}
}

// blindVersion is the version a SET of v by this node adds, but for its
// clock and timestamp, which SupersedeMany sets: newVersionAt's, for a
// context without a client's (externalContext).
func (c *Coordinator) blindVersion(v Value) version.Version {
	return version.Version{Writer: c.cfg.NodeID, ExpireAt: v.ExpireAt, Kind: v.Kind, Value: v.Data}
}

// externalContext reports whether ctx carries the versions a client's
// context named (SETCTX, DELCTX), which make actor pick another clock entry
// than this node's: SupersedeMany knows only this node's.
func externalContext(ctx context.Context) bool {
	return ctx.Value(externalContextKey{}) != nil
}

// Del deletes the key by writing a tombstone and reports whether a value was
// visible before.
func (c *Coordinator) Del(ctx context.Context, db int, key []byte) (bool, error) {
	existed := false
	err := c.Update(ctx, db, key, func(_ Value, ok bool) (Change, error) {
		existed = ok
		if !ok {
			return Change{Op: Keep}, nil
		}
		return Change{Op: Delete}, nil
	})
	return existed, err
}

// Update runs fn on the key's visible value (ok=false when absent) under the
// key's lock and applies the Change it returns. An error from fn is returned
// unchanged and nothing is written. fn must not block.
func (c *Coordinator) Update(ctx context.Context, db int, key []byte, fn func(cur Value, ok bool) (Change, error)) error {
	if err := c.checkDB(db); err != nil {
		return err
	}
	m := c.locks.lock(db, key)
	defer m.Unlock()
	sib, err := c.read(ctx, db, key)
	if err != nil {
		return err
	}
	cur, ok := visible(sib, c.NowMillis())
	ch, err := fn(cur, ok)
	if err != nil {
		return err
	}
	switch ch.Op {
	case Put:
		return c.write(ctx, db, key, sib, ch.Value, false)
	case Delete:
		return c.write(ctx, db, key, sib, Value{}, true)
	}
	return nil
}

// ErrBadContext is returned for a context token that is malformed.
var ErrBadContext = version.ErrBadContext

// GetContext returns the key's live siblings and the context token that a
// SetContext or DeleteContext must pass to supersede exactly them. The token
// is empty when the key has no versions at all.
func (c *Coordinator) GetContext(ctx context.Context, db int, key []byte) (string, []Value, error) {
	sib, err := c.read(ctx, db, key)
	if err != nil {
		return "", nil, err
	}
	if len(sib) == 0 {
		return "", nil, nil
	}
	var vals []Value
	for _, v := range sib.Live(c.NowMillis()) {
		vals = append(vals, Value{Kind: v.Kind, Data: v.Value, ExpireAt: v.ExpireAt})
	}
	return version.EncodeContext(sib.Clock()), vals, nil
}

// SetContext writes v superseding exactly the versions token covers; versions
// written since the read that produced token stay as siblings.
func (c *Coordinator) SetContext(ctx context.Context, db int, key []byte, token string, v Value) error {
	known, err := contextSiblings(token)
	if err != nil {
		return err
	}
	ctx, err = c.withCurrent(ctx, db, key)
	if err != nil {
		return err
	}
	return c.write(ctx, db, key, known, v, false)
}

// DeleteContext writes a tombstone superseding exactly the versions token
// covers and reports whether any live sibling was covered.
func (c *Coordinator) DeleteContext(ctx context.Context, db int, key []byte, token string) (bool, error) {
	known, err := contextSiblings(token)
	if err != nil {
		return false, err
	}
	sib, err := c.read(ctx, db, key)
	if err != nil {
		return false, err
	}
	covered := false
	now := c.NowMillis()
	for _, v := range sib {
		if v.Live(now) && known.Clock().Descends(v.Clock) {
			covered = true
		}
	}
	ctx, err = c.withCurrent(ctx, db, key)
	if err != nil {
		return false, err
	}
	return covered, c.write(ctx, db, key, known, Value{}, true)
}

// contextSiblings turns a token into a stand-in sibling set whose merged
// clock is the token's clock.
func contextSiblings(token string) (version.Siblings, error) {
	if token == "" {
		return nil, nil
	}
	clk, err := version.DecodeContext(token)
	if err != nil {
		return nil, err
	}
	return version.Siblings{{Clock: clk}}, nil
}
