package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// Topology is an immutable snapshot of the ring as this node sees it: the
// slot table, and which members are reachable right now. The membership
// layer publishes a new one on every change. The same snapshot routes
// requests, decides what KEYS lists (Master) and is what CLUSTER SLOTS
// publishes (Serving), so clients and this node agree on every master.
type Topology struct {
	Table *ring.Table
	// Down lists the members believed unreachable (gossip or failed calls).
	Down map[string]bool
	// Syncing lists the members that may lack records of slots they newly
	// hold (their range transfers for this table are not known to be
	// done); N is the preference-list length. Serving, and so Master, passes
	// over a syncing node while the slot's preference list has a healthy one
	// that is not. N == 0 disables that.
	Syncing map[string]bool
	N       int
}

// Up reports whether node can be sent requests.
func (t *Topology) Up(node string) bool { return !t.Down[node] }

// QuorumError reports a read or write that could not reach its quorum. A
// write that fails this way may still have been stored by some replicas.
type QuorumError struct {
	Op   string // "read" or "write"
	Need int    // R or W
	Got  int    // replicas that answered
	Last error  // the last replica error seen, if any
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("%d of %d replicas answered the %s", e.Got, e.Need, e.Op)
}

func (e *QuorumError) Unwrap() error { return e.Last }

// Stats are the coordinator's counters, read with atomic loads.
type Stats struct {
	Reads            atomic.Int64 // quorum reads completed
	ReadsSiblings    atomic.Int64 // reads that saw more than one version (Dynamo's 99.94% figure)
	ReadRepairs      atomic.Int64 // replicas sent a repaired version
	SpeculativeReads atomic.Int64 // reads that asked more replicas after SpeculativeRead
	Forwarded        atomic.Int64 // requests forwarded to another coordinator
	ReplicaFailed    atomic.Int64 // replica calls that failed or timed out
	QuorumFailures   atomic.Int64 // requests that could not reach R or W
	HintsStored      atomic.Int64 // hints kept for unreachable replicas
	HintsHandedOff   atomic.Int64 // hints delivered to their owner and deleted
}

// Stats returns the live counters.
func (c *Coordinator) Stats() *Stats { return &c.stats }

type quorumKey struct{}

// WithQuorum returns a context whose requests use r and w instead of the
// configured R and W (the QUORUM command sets them per connection); 0 keeps
// the default.
func WithQuorum(ctx context.Context, r, w int) context.Context {
	return context.WithValue(ctx, quorumKey{}, [2]int{r, w})
}

// Quorum returns the R and W that requests on ctx use.
func (c *Coordinator) Quorum(ctx context.Context) (r, w int) {
	r, w = c.cfg.R, c.cfg.W
	if q, ok := ctx.Value(quorumKey{}).([2]int); ok {
		if q[0] > 0 {
			r = q[0]
		}
		if q[1] > 0 {
			w = q[1]
		}
	}
	return r, w
}

// N returns the replication factor.
func (c *Coordinator) N() int { return c.cfg.N }

// plan is where one key's request goes: the first N healthy nodes of the
// slot's walk. hint[i] names the preference-list node that targets[i]
// stands in for ("" when targets[i] is in the preference list itself).
type plan struct {
	targets []string
	hint    []string
	self    bool // this node is one of the targets
	selfIdx int  // where this node is in targets; -1 when !self
	n       int  // replication factor for this ring size
}

// topology returns the current snapshot, or nil for a one-node ring.
func (c *Coordinator) topology() *Topology {
	if c.cfg.Topology == nil {
		return nil
	}
	return c.cfg.Topology()
}

// planFor returns the targets of key. A one-node ring (or a node that
// knows of no ring yet) plans to itself alone. Plans are read-only and
// shared: each is computed once per (topology, slot) and then served from
// the coordinator's plan cache, which belongs to one Topology value, so a
// new snapshot never sees a plan made from an older one.
func (c *Coordinator) planFor(topo *Topology, key []byte) *plan {
	if c.alone(topo) {
		return &c.selfPlan
	}
	slot := ring.Slot(key)
	pc := c.plans.Load()
	if pc == nil || pc.topo != topo {
		pc = &planCache{topo: topo}
		c.plans.Store(pc)
	}
	if p := pc.plans[slot].Load(); p != nil {
		return p
	}
	p := c.computePlan(topo, slot)
	pc.plans[slot].Store(p)
	return p
}

// Alone reports whether this node is its ring's only member, or has no
// ring: every key is then coordinated and stored here and nowhere else.
func (c *Coordinator) Alone() bool { return c.alone(c.topology()) }

// alone reports whether topo is a ring of this node only (or no ring yet),
// where every key's plan is selfPlan.
func (c *Coordinator) alone(topo *Topology) bool {
	return topo == nil || topo.Table == nil || topo.Table.Len() == 0 || (topo.Table.Len() == 1 && topo.Table.Has(c.cfg.NodeID))
}

// planCache holds the plans of one Topology, filled lazily slot by slot.
// Two goroutines may compute the same slot's plan at once; both results are
// equal, so either may win.
type planCache struct {
	topo  *Topology
	plans [numSlots]atomic.Pointer[plan]
}

// computePlan walks slot's ring positions in topo: the first N nodes are
// its preference list, and down ones among them get stand-ins from beyond.
func (c *Coordinator) computePlan(topo *Topology, slot uint16) *plan {
	var buf [16]string
	walk := topo.Table.Walk(buf[:0], slot)
	n := min(c.cfg.N, len(walk))
	p := &plan{n: n, selfIdx: -1}
	// Preference-list nodes that are down, in order: each is replaced by the
	// next healthy node beyond the preference list (sloppy quorum).
	var missing []string
	for _, node := range walk[:n] {
		if node == c.cfg.NodeID || topo.Up(node) {
			p.targets = append(p.targets, node)
			p.hint = append(p.hint, "")
		} else {
			missing = append(missing, node)
		}
	}
	for _, node := range walk[n:] {
		if len(missing) == 0 {
			break
		}
		if node == c.cfg.NodeID || topo.Up(node) {
			p.targets = append(p.targets, node)
			p.hint = append(p.hint, missing[0])
			missing = missing[1:]
		}
	}
	// Preference-list nodes still without a stand-in are tried anyway, last:
	// this node's view may be stale (a peer it reported unreachable a moment
	// ago, or its own view just after a pause or restart), and a call to a
	// node that really is down fails fast and leaves a hint for it.
	for _, node := range missing {
		p.targets = append(p.targets, node)
		p.hint = append(p.hint, "")
	}
	for i, node := range p.targets {
		if node == c.cfg.NodeID {
			p.self, p.selfIdx = true, i
		}
	}
	return p
}

// Route says where a single-key command on key should run: here (true), or
// on the returned node. Read-modify-write commands (rmw) run on the first
// healthy node of the preference list, so that its key lock serialises them;
// other commands run on any target of the key.
func (c *Coordinator) Route(key []byte, rmw bool) (string, bool) {
	topo := c.topology()
	if topo == nil {
		return "", true
	}
	p := c.planFor(topo, key)
	if len(p.targets) == 0 {
		return "", true // nothing healthy: answer here with a quorum error
	}
	if rmw {
		return p.targets[0], p.targets[0] == c.cfg.NodeID
	}
	if p.self {
		return "", true
	}
	return p.targets[0], false
}

// planOrNil is planFor, or nil when there is no ring (topo nil).
func (c *Coordinator) planOrNil(topo *Topology, key []byte) *plan {
	if topo == nil {
		return nil
	}
	return c.planFor(topo, key)
}

// runsHere reports what Route(key, false) reports as local for the key of
// p (nil: no ring): a command that is not read-modify-write runs here.
func (p *plan) runsHere() bool { return p == nil || len(p.targets) == 0 || p.self }

// Serving appends to dst the nodes that serve slot as cluster clients are
// told (CLUSTER SLOTS, SHARDS, NODES), master first, and returns the
// extended slice. They are the healthy nodes of the slot's preference list
// (this node counts as healthy) in preference order, except that the first
// of them that is not syncing is moved to the front; when none of the list
// is healthy, the first healthy stand-in beyond it alone; when nothing is
// up, or the table is empty, nothing. N == 0 leaves only stand-ins, so the
// first healthy node of the walk, syncing or not.
//
// This is the one place the master rule lives. Master is Serving's first
// node, and that decides what KEYS, SCAN and DBSIZE list on this node; the
// RESP layer publishes Serving of the Topology the coordinator routes by. A
// second copy of the rule, or a second snapshot to apply it to, could name
// one master to clients and list the slot's keys on another, and a client
// that scans every master (go-redis ForEachMaster, redis-cli --cluster
// call) would then count keys twice or miss them.
//
// Passing over a syncing node keeps KEYS, SCAN and DBSIZE summed over the
// masters whole while a node that joined pulls its slots: the old holders,
// which have the records, keep listing them until the newcomer announces it
// has them too. Every node applies the same rule to the same gossiped
// state. Serving does not allocate when dst has room for what it appends
// (at most N nodes, or one stand-in).
func (t *Topology) Serving(dst []string, slot uint16, self string) []string {
	if t == nil || t.Table == nil {
		return dst
	}
	var buf [16]string
	walk := t.Table.Walk(buf[:0], slot)
	n := min(t.N, len(walk))
	start := len(dst)
	for _, node := range walk[:n] {
		if node == self || t.Up(node) {
			dst = append(dst, node)
		}
	}
	if len(dst) == start {
		for _, node := range walk[n:] {
			if node == self || t.Up(node) {
				return append(dst, node)
			}
		}
		return dst
	}
	// The first ready node is master; the order of the rest stays. When all
	// of them are syncing the first healthy one stays master: someone must be.
	got := dst[start:]
	for i, node := range got {
		if !t.Syncing[node] {
			copy(got[1:i+1], got[:i])
			got[0] = node
			break
		}
	}
	return dst
}

// Master returns the node that lists slot's keys and that cluster clients
// see as its master: the first node of Serving, "" when nothing is up. A
// nil Topology or an empty table is a one-node ring, where this node serves
// everything (as planFor routes it).
func (t *Topology) Master(slot uint16, self string) string {
	if t == nil || t.Table == nil || t.Table.Len() == 0 {
		return self
	}
	var buf [16]string
	if s := t.Serving(buf[:0], slot, self); len(s) > 0 {
		return s[0]
	}
	return ""
}

// lists reports whether this node lists slot's keys (KEYS, SCAN, DBSIZE):
// it does for the slots it is master of, so that a cluster client that
// scans every master sees each key once.
func (c *Coordinator) lists(topo *Topology, slot uint16) bool {
	return topo == nil || topo.Master(slot, c.cfg.NodeID) == c.cfg.NodeID
}

// Topology returns the ring snapshot requests are routed by, or nil for a
// one-node ring without membership.
func (c *Coordinator) Topology() *Topology { return c.topology() }

// Forward runs a client command on node and returns its raw reply.
func (c *Coordinator) Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error) {
	c.stats.Forwarded.Add(1)
	ctx, cancel := context.WithTimeout(ctx, 2*c.cfg.CallTimeout)
	defer cancel()
	out, err := c.cfg.Transport.Forward(ctx, node, db, args)
	c.report(node, err)
	return out, err
}

// report passes call evidence on to the membership layer.
func (c *Coordinator) report(node string, err error) {
	r := c.cfg.Reachability
	if r == nil {
		return
	}
	if err == nil {
		r.ReportReachable(node)
	} else if errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		r.ReportUnreachable(node)
	}
}

// quorumRead reads key from its targets and returns the merge of the first
// R answers. The other answers are taken as they come, and every replica
// that answered with less than the final merge is repaired.
// p is key's plan in topo (topo nil: no ring), which the caller has looked
// up to decide on the read.
func (c *Coordinator) quorumRead(ctx context.Context, topo *Topology, p *plan, db int, key []byte) (version.Siblings, error) {
	var pr PendingRead
	c.startReadPlan(ctx, topo, p, db, key, &pr)
	return pr.wait(ctx)
}

// PendingRead is a quorum read that was started and not yet waited for
// (StartGet): its calls are out, and Get collects the answer. It lets a
// caller with several reads to make (a pipeline's GETs) send all of them
// before it waits for any, with no goroutine per read. A started read must
// be waited for exactly once: until then its replicas' late answers and
// read repair are held back. The zero value is not a read.
type PendingRead struct {
	c    *Coordinator
	f    *fanout // nil once answered, or for a read answered at once
	p    *plan
	db   int
	key  []byte
	sib  version.Siblings // the answer of a read without a fanout
	err  error
	sent time.Time // when the calls went out, for the speculative read
}

// startReadPlan sends key's quorum read, by its plan p in topo (topo nil:
// no ring), into pr, or answers it at once when no other node takes part.
func (c *Coordinator) startReadPlan(ctx context.Context, topo *Topology, p *plan, db int, key []byte, pr *PendingRead) {
	*pr = PendingRead{c: c, db: db, key: key}
	if topo == nil {
		pr.sib, pr.err = c.store.Get(db, key)
		return
	}
	if p.n == 1 && p.self && p.hint[0] == "" {
		pr.sib, pr.err = c.store.Get(db, key) // a one-node ring: no one to ask or repair
		return
	}
	r, _ := c.Quorum(ctx)
	need := min(r, p.n)
	f := c.startFanout(p, db, key, nil, true, need)
	// Ask R targets, or all of them on a read-repair read: the others are
	// asked only if one of those fails (fanout.Reply) or is slow (awaitRead).
	ask := need
	if c.readRepairRoll() {
		ask = len(p.targets)
	}
	var buf [16]int
	pr.sent = time.Now()
	c.askAll(f, p, f.reserve(ask, buf[:0]), db, key, pr.sent)
	pr.f, pr.p = f, p
}

// wait returns the merge of the answers once R came, or the failure.
func (pr *PendingRead) wait(ctx context.Context) (version.Siblings, error) {
	f, p, c := pr.f, pr.p, pr.c
	if f == nil {
		return pr.sib, pr.err
	}
	pr.f = nil // the fanout is recycled after the detach
	var cancelled error
	select {
	case <-f.done:
	case <-ctx.Done():
		cancelled = ctx.Err()
	default:
		cancelled = c.awaitRead(ctx, f, p, pr.db, pr.key, pr.sent)
	}
	ok, need, merged, last := f.detach(cancelled != nil)
	switch {
	case cancelled != nil:
		return nil, cancelled
	case ok < need:
		c.stats.QuorumFailures.Add(1)
		return nil, &QuorumError{Op: "read", Need: need, Got: ok, Last: last}
	}
	c.stats.Reads.Add(1)
	if len(merged) > 1 {
		c.stats.ReadsSiblings.Add(1)
	}
	return merged, nil
}

// quorumWrite merges sib into key on its targets and returns once W of them
// acknowledged. Replicas that have not answered yet keep going in the
// background: a write is never cancelled half-way because its client left.
func (c *Coordinator) quorumWrite(ctx context.Context, db int, key []byte, sib version.Siblings) error {
	return c.writeReplicas(ctx, db, key, sib, false, nil)
}

// writeReplicas is quorumWrite; with localDone, this node's own copy was
// already written (with result localErr) and is not written again.
func (c *Coordinator) writeReplicas(ctx context.Context, db int, key []byte, sib version.Siblings, localDone bool, localErr error) error {
	var pw PendingWrite
	c.startWriteReplicas(ctx, db, key, sib, localDone, localErr, &pw)
	return pw.wait()
}

// PendingWrite is a quorum write that was started and not yet waited for
// (StartSet): its replica calls are out, and Wait collects the acks. Like a
// PendingRead, it lets a pipeline send all of its writes before it waits
// for any, and it must be waited for exactly once. The zero value is a
// write that succeeded.
type PendingWrite struct {
	c   *Coordinator
	f   *fanout // nil once waited for, or for a write decided at once
	err error
}

// startWriteReplicas is writeReplicas up to its wait, into pw.
func (c *Coordinator) startWriteReplicas(ctx context.Context, db int, key []byte, sib version.Siblings, localDone bool, localErr error, pw *PendingWrite) {
	*pw = PendingWrite{c: c}
	local := func() error {
		if localDone {
			return localErr
		}
		_, err := c.store.Merge(db, key, sib)
		return err
	}
	topo := c.topology()
	if topo == nil {
		pw.err = local()
		return
	}
	p := c.planFor(topo, key)
	if p.n == 1 && p.self && p.hint[0] == "" {
		pw.err = local()
		return
	}
	_, w := c.Quorum(ctx)
	f := c.startFanout(p, db, key, sib, false, min(w, p.n))
	f.reserve(len(p.targets), nil)
	deadline := time.Now().Add(c.cfg.CallTimeout)
	for i, node := range p.targets {
		if i != p.selfIdx {
			c.cfg.Transport.SendWrite(node, db, key, sib, p.hint[i], deadline, f, i)
		}
	}
	if p.self {
		err := local()
		if hint := p.hint[p.selfIdx]; err == nil && hint != "" {
			err = c.putHint(hint, db, key, sib)
		}
		f.Reply(p.selfIdx, nil, err)
	}
	pw.f = f
}

// wait returns once W targets acknowledged the write, or with the failure.
// A write is never abandoned half-way: the wait is bounded by the replica
// calls' deadline, not by a context.
func (pw *PendingWrite) wait() error {
	f := pw.f
	if f == nil {
		return pw.err
	}
	pw.f = nil // the fanout is recycled after the detach
	<-f.done
	ok, need, _, last := f.detach(false)
	if ok < need {
		pw.c.stats.QuorumFailures.Add(1)
		return &QuorumError{Op: "write", Need: need, Got: ok, Last: last}
	}
	return nil
}

// replicaWriteFailed records a replica that did not take a write: the write
// is kept here as a hint for the node that should hold it, so it arrives when
// that node is reachable again (it does not count toward W).
func (c *Coordinator) replicaWriteFailed(p *plan, i int, err error, db int, key []byte, sib version.Siblings) {
	c.stats.ReplicaFailed.Add(1)
	if i == p.selfIdx {
		return // our own store failed: nothing local can keep the hint
	}
	node := p.targets[i]
	c.report(node, err)
	owner := p.hint[i]
	if owner == "" {
		owner = node
	}
	if owner != c.cfg.NodeID {
		c.keepHint(owner, db, key, sib)
	}
}

// ServeRead answers a peer's read of the local copy.
func (c *Coordinator) ServeRead(ctx context.Context, db int, key []byte) (version.Siblings, error) {
	if err := c.checkDB(db); err != nil {
		return nil, err
	}
	return c.store.Get(db, key)
}

// ServeReadCached answers a peer's read of the local copy with the stored
// record, encoded (nil: absent), when the store has it in memory (see
// CachedReader); ok false leaves the read to ServeRead.
func (c *Coordinator) ServeReadCached(db int, key []byte) (rec []byte, ok bool) {
	cr, can := c.store.(cachedRecords)
	if !can || c.checkDB(db) != nil {
		return nil, false
	}
	return cr.CachedRecord(db, key)
}

// recordGetter is a Store whose Get can also return the record it decoded
// (engine.Store.GetRecord), which is then shared and read-only.
type recordGetter interface {
	GetRecord(db int, key []byte) (version.Siblings, []byte, error)
}

// cachedRecords is a Store that can hand out a record from memory
// (engine.Store.CachedRecord).
type cachedRecords interface {
	CachedRecord(db int, key []byte) (rec []byte, ok bool)
}

// ServeWrite merges a peer's write into the local copy.
func (c *Coordinator) ServeWrite(ctx context.Context, db int, key []byte, sib version.Siblings, hintFor string) error {
	if err := c.checkDB(db); err != nil {
		return err
	}
	if _, err := c.store.Merge(db, key, sib); err != nil {
		return err
	}
	if hintFor != "" && hintFor != c.cfg.NodeID {
		// A stand-in keeps the write as its own replica, so reads during
		// the failure find it, and as a hint for the intended owner.
		return c.putHint(hintFor, db, key, sib)
	}
	return nil
}
