package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringstore/ringstore/ring"
)

// Errors returned by Membership's administrative calls.
var (
	ErrClosed     = errors.New("cluster: membership closed")
	ErrLeft       = errors.New("cluster: this node has left the ring; restart it to rejoin")
	ErrNotMember  = errors.New("cluster: not a ring member")
	ErrNotDown    = errors.New("cluster: node is not down")
	ErrForgetSelf = errors.New("cluster: a node cannot forget itself; use RING LEAVE")
)

// Membership is one node's view of the ring: who is in it (the durable,
// gossiped ring log) and who is up (memberlist's failure detection plus the
// coordinator's own evidence). Its current state is an immutable Snapshot,
// swapped atomically on every change, so readers on the request path never
// lock. All methods are safe for concurrent use.
type Membership struct {
	cfg        MembershipConfig
	self       string
	log        *slog.Logger
	now        func() time.Time
	ml         *memberlist.Memberlist
	queue      *memberlist.TransmitLimitedQueue
	gossipAddr string
	timing     timing

	ringLog  atomic.Pointer[ringLog]   // current log; replaced only under logMu
	nodeMeta atomic.Pointer[[]byte]    // what NodeMeta announces; replaced with ringLog
	synced   atomic.Pointer[LogDigest] // what SetSynced last announced; written under logMu
	snap     atomic.Pointer[Snapshot]
	alive    atomic.Int32 // gossip-alive nodes, us included: the broadcast queue's NumNodes
	leaving  atomic.Bool  // set before memberlist's Leave: stop announcing ourselves

	// logMu serialises changes to the ring log and is held while the new log
	// is written to the MetaStore. Memberlist's delegates never take it.
	logMu sync.Mutex

	mu struct {
		sync.Mutex
		nodes  map[string]*nodeInfo // every node we know of: seen in gossip or in the address book
		epoch  uint64               // of the last published Snapshot
		subs   []chan *Snapshot
		closed bool // subs are closed; publish nothing more to them
	}

	// bookMu serialises writes of the address book; lastBook, the encoding
	// last written (or loaded), is guarded by it.
	bookMu   sync.Mutex
	lastBook []byte

	// annMu is held around memberlist calls that announce this node alive
	// (UpdateNode) and around memberlist's Leave, so that no announcement
	// follows the leave.
	annMu sync.Mutex

	// opMu serialises Join, Leave, Forget and Close; closed is guarded by it.
	opMu   sync.Mutex
	closed bool

	inbox         inbox
	metaDirty     chan struct{}      // one slot: node meta changed, announce it
	flushReq      chan chan struct{} // ask the loop to process the inbox now
	stop          chan struct{}
	wg            sync.WaitGroup // every goroutine the Membership starts
	reconnecting  atomic.Bool
	lastReconnect time.Time // loop only
}

// nodeInfo is what this node knows about another (or itself). Guarded by
// Membership.mu.
type nodeInfo struct {
	addrs  nodeAddrs
	log    LogDigest // from its node meta
	hasLog bool
	// dataSynced is the log whose slots the node announced it holds the
	// data of (Member.Synced), from its node meta.
	dataSynced LogDigest
	alive      bool // memberlist reports it alive
	// unreachable, when non-zero, is when the coordinator reported the node
	// unreachable; cleared by a later sign of life.
	unreachable time.Time
	// Repair sync (syncLogs): when our digests started to differ, and the
	// digest pair we last sent our log for.
	mismatchSince time.Time
	synced        [2]LogDigest
}

// timing holds the loop's intervals, derived from the gossip configuration.
type timing struct {
	tick      time.Duration // housekeeping period
	syncGrace time.Duration // how long a digest mismatch may last before we send our log
	reconnect time.Duration // between attempts to reach a down member
	announce  time.Duration // UpdateNode's timeout
}

// StartMembership validates cfg, loads the ring log from cfg.Meta, starts
// gossip and, if cfg.Join is set, joins it.
//
// A node whose log never mentions it records its own Join: alone, that makes
// a one-node ring; with cfg.Join, the Join is recorded after the remote log
// is merged. A node whose log already mentions it (a restart) records
// nothing: it rejoins with its identity, and if cfg.Join cannot be reached it
// starts anyway and keeps trying in the background, as it does for every
// down member whose gossip address it knows. A node that has left (or been
// forgotten) stays out of the ring until Join is called.
//
// A first start whose cfg.Join cannot be reached fails, so that a node does
// not form a ring of its own by accident.
func StartMembership(cfg MembershipConfig) (*Membership, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg, book, err := loadState(cfg.Meta)
	if err != nil {
		return nil, err
	}
	lastBook := appendBook(nil, book)
	m := &Membership{
		cfg:       cfg,
		self:      cfg.NodeID,
		log:       cfg.Logger.With("node", cfg.NodeID),
		now:       cfg.Now,
		inbox:     newInbox(),
		metaDirty: make(chan struct{}, 1),
		flushReq:  make(chan chan struct{}),
		stop:      make(chan struct{}),
		lastBook:  lastBook,
	}
	m.mu.nodes = make(map[string]*nodeInfo)
	for _, a := range book {
		if a.ID != m.self {
			m.mu.nodes[a.ID] = &nodeInfo{addrs: a}
		}
	}
	m.mu.nodes[m.self] = &nodeInfo{addrs: nodeAddrs{ID: m.self, RESPAddr: cfg.RESPAddr, PeerAddr: cfg.PeerAddr}, alive: true}
	m.alive.Store(1)
	m.publishLog(lg)
	m.mu.Lock()
	m.rebuildLocked()
	m.mu.Unlock()

	mc := cfg.gossipConfig()
	m.timing = timing{tick: mc.ProbeInterval / 2, syncGrace: 4 * mc.GossipInterval, reconnect: 10 * mc.ProbeInterval, announce: 2 * mc.ProbeInterval}
	m.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return int(m.alive.Load()) }, RetransmitMult: mc.RetransmitMult}
	d := gossipDelegate{m}
	mc.Delegate, mc.Events, mc.Conflict, mc.Ping = d, d, d, d
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip: %w", err)
	}
	m.ml = ml
	// Create filled in the port it bound when GossipPort was 0. Read our own
	// node only now, before anything can make memberlist update it.
	if cfg.AdvertiseAddr != "" {
		m.gossipAddr = net.JoinHostPort(cfg.AdvertiseAddr, strconv.Itoa(mc.AdvertisePort))
	} else {
		m.gossipAddr = ml.LocalNode().Address()
	}
	m.mu.Lock()
	m.mu.nodes[m.self].addrs.GossipAddr = m.gossipAddr
	m.rebuildLocked()
	m.mu.Unlock()

	// A Join list shared by every node names this one too; joining
	// ourselves would count as success with every other address down.
	cfg.Join = slices.DeleteFunc(slices.Clone(cfg.Join), func(a string) bool { return a == m.gossipAddr })
	m.cfg.Join = cfg.Join

	m.wg.Go(m.run)
	m.wg.Go(m.announceLoop)

	if len(cfg.Join) > 0 {
		if _, err := ml.Join(cfg.Join); err != nil {
			if !lg.mentions(m.self) {
				m.Close()
				return nil, fmt.Errorf("cluster: join %v: %w", cfg.Join, err)
			}
			m.log.Warn("join addresses unreachable; retrying in the background", "join", cfg.Join, "err", err)
		}
		m.flush()
	}
	if lg := m.ringLog.Load(); !lg.mentions(m.self) {
		if err := m.record(ring.EventJoin, m.self); err != nil {
			m.Close()
			return nil, err
		}
	} else if !lg.table.Has(m.self) {
		m.log.Warn("this node has left the ring; RING JOIN to rejoin")
	}
	m.log.Info("membership started", "gossip_addr", m.gossipAddr, "members", m.ringLog.Load().table.Len())
	return m, nil
}

// Snapshot returns the current state. It is never nil, never changes, and
// must not be modified; a change publishes a new one.
func (m *Membership) Snapshot() *Snapshot { return m.snap.Load() }

// Subscribe returns a channel that holds the newest Snapshot: the current
// one at once, then each new one. A receiver that falls behind sees only
// the latest, never a queue, and never slows gossip. The channel is closed
// by Close.
func (m *Membership) Subscribe() <-chan *Snapshot {
	ch := make(chan *Snapshot, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		close(ch)
		return ch
	}
	ch <- m.snap.Load()
	m.mu.subs = append(m.mu.subs, ch)
	return ch
}

// Resolve returns the peer transport address node announced, or the last
// one recorded for it if it is down; ok is false for a node never seen.
func (m *Membership) Resolve(node string) (peerAddr string, ok bool) {
	mem, ok := m.snap.Load().Members[node]
	if !ok || mem.PeerAddr == "" {
		return "", false
	}
	return mem.PeerAddr, true
}

// GossipAddr returns the host:port other nodes join this node at (RING JOIN).
func (m *Membership) GossipAddr() string { return m.gossipAddr }

// Join joins the gossip of the nodes at addrs (gossip host:port), merges
// their ring log, and records this node's Join unless it is a member
// already. Joining a node of another ring merges the two rings. It fails if
// no address could be reached.
func (m *Membership) Join(addrs []string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.leaving.Load():
		return ErrLeft
	case len(addrs) == 0:
		return errors.New("cluster: join: no address")
	}
	if _, err := m.ml.Join(addrs); err != nil {
		return fmt.Errorf("cluster: join %v: %w", addrs, err)
	}
	m.flush()
	if m.ringLog.Load().table.Has(m.self) {
		return nil
	}
	return m.record(ring.EventJoin, m.self)
}

// Leave removes this node from the ring: it records a Leave event durably,
// sends the log straight to every live member (waiting for them until ctx
// ends), and then leaves gossip. The Membership keeps its last state until
// Close; a node that has left cannot Join again without a restart. Leave
// does not move data; the caller hands off its slots (DESIGN.md "Join")
// before it stops the node.
func (m *Membership) Leave(ctx context.Context) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.leaving.Load() {
		return nil
	}
	if m.ringLog.Load().table.Has(m.self) {
		if err := m.record(ring.EventLeave, m.self); err != nil {
			return err
		}
	}
	m.pushLog(ctx)
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	m.annMu.Lock()
	m.leaving.Store(true)
	err := m.ml.Leave(timeout)
	m.annMu.Unlock()
	m.mu.Lock()
	m.rebuildLocked()
	m.mu.Unlock()
	m.log.Info("left the ring")
	if err != nil {
		return fmt.Errorf("cluster: leave gossip: %w", err)
	}
	return nil
}

// Forget removes node, a ring member that is down, from the ring by
// recording a Leave event for it (RING FORGET). It refuses this node
// (ErrForgetSelf), a node not in the ring (ErrNotMember) and a node that
// gossip reports alive (ErrNotDown): a live node leaves with Leave.
func (m *Membership) Forget(node string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return m.forget(node)
}

func (m *Membership) forget(node string) error {
	if node == m.self {
		return ErrForgetSelf
	}
	s := m.snap.Load()
	if !s.Table.Has(node) {
		return fmt.Errorf("%w: %s", ErrNotMember, node)
	}
	if st := s.Members[node].State; st != MemberDown {
		return fmt.Errorf("%w: %s is %s", ErrNotDown, node, st)
	}
	return m.record(ring.EventLeave, node)
}

// ReportUnreachable records the coordinator's evidence that node is not
// answering (a timeout, a refused connection): unless it is down already,
// it becomes Suspect, which is not Up, in a Snapshot published before
// ReportUnreachable returns. The next sign of life restores it: a gossip
// ping answered after the report, memberlist seeing it rejoin, or
// ReportReachable. Cheap when the node is already not Up.
func (m *Membership) ReportUnreachable(node string) {
	if node == m.self {
		return
	}
	if mem, ok := m.snap.Load().Members[node]; !ok || mem.State != MemberUp {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.mu.nodes[node]
	if n == nil || !n.alive || !n.unreachable.IsZero() {
		return
	}
	n.unreachable = m.now()
	m.rebuildLocked()
	m.log.Info("peer reported unreachable", "peer", node)
}

// ReportReachable records that a call to node succeeded, clearing a
// ReportUnreachable mark. It is one atomic load when there is no mark, so
// call it after every successful call.
func (m *Membership) ReportReachable(node string) {
	if mem, ok := m.snap.Load().Members[node]; !ok || mem.State != MemberSuspect {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.clearUnreachableLocked(node, time.Time{}) {
		m.rebuildLocked()
	}
}

// clearUnreachableLocked clears node's unreachable mark if it was made
// before evidence (zero: any mark) and reports whether it did. m.mu must be
// held.
func (m *Membership) clearUnreachableLocked(node string, evidence time.Time) bool {
	n := m.mu.nodes[node]
	if n == nil || n.unreachable.IsZero() || (!evidence.IsZero() && !evidence.After(n.unreachable)) {
		return false
	}
	n.unreachable = time.Time{}
	m.log.Info("peer reachable again", "peer", node)
	return true
}

// Close stops gossip without recording a Leave: to the others this node is
// down, and stays in the ring until it returns, leaves or is forgotten. It
// waits for every goroutine the Membership started (a reconnect attempt in
// flight can take up to memberlist's TCP timeout: 1 s Local, 10 s LAN) and
// closes the Subscribe channels. Snapshot keeps returning the last state.
// Later calls return nil.
func (m *Membership) Close() error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.stop)
	m.wg.Wait()
	err := m.ml.Shutdown()
	m.mu.Lock()
	m.mu.closed = true
	for _, ch := range m.mu.subs {
		close(ch)
	}
	m.mu.subs = nil
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cluster: stop gossip: %w", err)
	}
	return nil
}

// record adds a new event about node, stamped after every event we know,
// writes the log to the MetaStore, and only then gossips it. On a write
// error nothing changes and nothing is gossiped.
func (m *Membership) record(kind ring.EventKind, node string) error {
	m.logMu.Lock()
	old := m.ringLog.Load()
	e := ring.Event{Kind: kind, Node: node, Stamp: old.nextStamp(m.now())}
	lg, _ := old.merge([]ring.Event{e})
	if err := m.cfg.Meta.PutMeta(metaRingLog, lg.enc); err != nil {
		m.logMu.Unlock()
		return fmt.Errorf("cluster: record %v: %w", e, err)
	}
	m.publishLog(lg)
	m.logMu.Unlock()

	m.queue.QueueBroadcast(newEventBroadcast(e))
	m.announce()
	m.mu.Lock()
	m.rebuildLocked()
	m.mu.Unlock()
	m.saveBook()
	m.log.Info("ring event recorded", "event", e.Kind.String(), "peer", node, "stamp", e.Stamp, "members", lg.table.Len())
	return nil
}

// mergeEvents adds the events of evs we lack to the log, writes it, and
// relays the new ones if they came by broadcast. A write error drops them;
// they will come again with the next push/pull or sync.
func (m *Membership) mergeEvents(evs []ring.Event, relay bool) bool {
	m.logMu.Lock()
	old := m.ringLog.Load()
	lg, fresh := old.merge(evs)
	if len(fresh) == 0 {
		m.logMu.Unlock()
		return false
	}
	if err := m.cfg.Meta.PutMeta(metaRingLog, lg.enc); err != nil {
		m.logMu.Unlock()
		m.log.Error("cannot store ring events; dropped them until the next sync", "err", err, "events", len(fresh))
		return false
	}
	m.publishLog(lg)
	m.logMu.Unlock()

	for _, e := range fresh {
		if relay {
			m.queue.QueueBroadcast(newEventBroadcast(e))
		}
		m.log.Info("ring event learned", "event", e.Kind.String(), "peer", e.Node, "stamp", e.Stamp)
	}
	m.announce()
	if old.table.Has(m.self) && !lg.table.Has(m.self) && !m.leaving.Load() {
		m.log.Warn("this node was removed from the ring (RING FORGET or down-after); RING JOIN to rejoin")
	}
	return true
}

// publishLog makes lg current and updates the node meta that announces its
// digest. m.logMu must be held, except before gossip starts.
func (m *Membership) publishLog(lg *ringLog) {
	var synced LogDigest
	if p := m.synced.Load(); p != nil {
		synced = *p
	}
	meta := nodeMeta{ID: m.self, RESPAddr: m.cfg.RESPAddr, PeerAddr: m.cfg.PeerAddr, Log: lg.digest, Synced: synced}.appendBinary(nil)
	m.ringLog.Store(lg)
	m.nodeMeta.Store(&meta)
}

// SetSynced announces, in this node's gossip meta and in its own
// Snapshots, that it holds the data of every slot whose preference list
// names it in the table of log d: its range transfers for that table are
// done (see Snapshot.Ready). A node that never calls it is never Ready,
// which its peers treat as "no better than anyone else". Idempotent.
func (m *Membership) SetSynced(d LogDigest) {
	m.logMu.Lock()
	if p := m.synced.Load(); p != nil && *p == d {
		m.logMu.Unlock()
		return
	}
	m.synced.Store(&d)
	m.publishLog(m.ringLog.Load())
	m.logMu.Unlock()
	m.announce()
	m.mu.Lock()
	m.rebuildLocked()
	m.mu.Unlock()
}

// announce asks announceLoop to re-advertise our node meta.
func (m *Membership) announce() {
	select {
	case m.metaDirty <- struct{}{}:
	default:
	}
}

// announceLoop re-advertises our node meta (with the new log digest) after
// each change, off the loop: memberlist's UpdateNode waits for the
// broadcast to go out.
func (m *Membership) announceLoop() {
	for {
		select {
		case <-m.stop:
			return
		case <-m.metaDirty:
		}
		m.annMu.Lock()
		if !m.leaving.Load() {
			if err := m.ml.UpdateNode(m.timing.announce); err != nil {
				m.log.Debug("announce node meta", "err", err)
			}
		}
		m.annMu.Unlock()
	}
}

// flush makes the loop process everything the delegates queued so far.
func (m *Membership) flush() {
	done := make(chan struct{})
	select {
	case m.flushReq <- done:
		<-done
	case <-m.stop:
	}
}

// run is the membership loop: it owns the processing of delegate input and
// the periodic housekeeping.
func (m *Membership) run() {
	t := time.NewTicker(m.timing.tick)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-m.inbox.signal:
			m.drain()
		case done := <-m.flushReq:
			m.drain()
			close(done)
		case <-t.C:
			m.housekeep()
		}
	}
}

// drain processes the inbox: events first, so that the snapshot rebuilt for
// node changes sees them.
func (m *Membership) drain() {
	items := m.inbox.take()
	if len(items) == 0 {
		return
	}
	for _, it := range items {
		if it.kind == itemEvents {
			m.mergeEvents(it.events, it.relay)
		}
	}
	m.mu.Lock()
	for _, it := range items {
		m.applyLocked(it)
	}
	m.rebuildLocked()
	m.mu.Unlock()
	m.saveBook()
}

// applyLocked applies one memberlist observation. m.mu must be held.
func (m *Membership) applyLocked(it inboxItem) {
	switch it.kind {
	case itemAlive:
		n := m.mu.nodes[it.name]
		if n == nil {
			n = &nodeInfo{addrs: nodeAddrs{ID: it.name}}
			m.mu.nodes[it.name] = n
		}
		if !n.alive {
			n.alive = true
			n.unreachable = time.Time{} // a rejoin is a sign of life
			if it.name != m.self {
				m.log.Info("peer alive", "peer", it.name, "gossip_addr", it.addr)
			}
		}
		addrs := n.addrs
		addrs.GossipAddr = it.addr
		if nm, err := decodeNodeMeta(it.meta); err != nil || nm.ID != it.name {
			m.log.Debug("ignored node meta", "peer", it.name, "err", err)
		} else {
			addrs.RESPAddr, addrs.PeerAddr = nm.RESPAddr, nm.PeerAddr
			n.log, n.hasLog = nm.Log, true
			if it.name != m.self {
				n.dataSynced = nm.Synced
			}
		}
		if it.name != m.self {
			n.addrs = addrs
		}
	case itemGone:
		if n := m.mu.nodes[it.name]; n != nil && n.alive && it.name != m.self {
			n.alive = false
			m.log.Info("peer down", "peer", it.name)
		}
	case itemPing:
		m.clearUnreachableLocked(it.name, it.at)
	}
}

// saveBook writes the address book (the addresses of the current ring
// members) if it changed since the last write.
func (m *Membership) saveBook() {
	m.bookMu.Lock()
	defer m.bookMu.Unlock()
	t := m.ringLog.Load().table
	var book []nodeAddrs
	m.mu.Lock()
	for id, n := range m.mu.nodes {
		if t.Has(id) && n.addrs.GossipAddr != "" {
			book = append(book, n.addrs)
		}
	}
	m.mu.Unlock()
	enc := appendBook(nil, book)
	if bytes.Equal(enc, m.lastBook) {
		return
	}
	if err := m.cfg.Meta.PutMeta(metaRingNodes, enc); err != nil {
		m.log.Warn("cannot store the address book", "err", err)
		return
	}
	m.lastBook = enc
}

// housekeep runs every timing.tick on the loop.
func (m *Membership) housekeep() {
	if m.leaving.Load() {
		return
	}
	m.syncLogs()
	m.forgetExpired()
	m.reconnect()
}

// syncLogs repairs divergent logs. Each node's meta carries its log digest;
// when a live peer's digest has differed from ours for timing.syncGrace
// (long enough for broadcasts in flight to land) and the peer has no more
// events than we do, we send it our whole log over TCP. If it has events we
// lack, its digest still differs from ours after it merged, and its own
// syncLogs sends them back. We send once per pair of digests.
func (m *Membership) syncLogs() {
	ours := m.ringLog.Load().digest
	now := m.now()
	var targets []nodeAddrs
	m.mu.Lock()
	for id, n := range m.mu.nodes {
		if id == m.self || !n.alive || !n.hasLog || n.log == ours || n.log.Count > ours.Count {
			n.mismatchSince = time.Time{}
			continue
		}
		if n.mismatchSince.IsZero() {
			n.mismatchSince = now
		}
		pair := [2]LogDigest{ours, n.log}
		if now.Sub(n.mismatchSince) >= m.timing.syncGrace && n.synced != pair && n.addrs.GossipAddr != "" {
			n.synced = pair
			targets = append(targets, n.addrs)
		}
	}
	m.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	msg := append([]byte{msgEvents}, m.ringLog.Load().enc...)
	for _, a := range targets {
		m.wg.Go(func() {
			if err := m.sendReliable(a, msg); err != nil {
				m.log.Debug("ring log sync failed", "peer", a.ID, "err", err)
				m.mu.Lock()
				if n := m.mu.nodes[a.ID]; n != nil {
					n.synced = [2]LogDigest{}
				}
				m.mu.Unlock()
			}
		})
	}
}

// pushLog sends our whole log to every live peer over TCP and waits until
// all have it or ctx ends.
func (m *Membership) pushLog(ctx context.Context) {
	msg := append([]byte{msgEvents}, m.ringLog.Load().enc...)
	var peers []nodeAddrs
	m.mu.Lock()
	for id, n := range m.mu.nodes {
		if id != m.self && n.alive && n.addrs.GossipAddr != "" {
			peers = append(peers, n.addrs)
		}
	}
	m.mu.Unlock()
	done := make(chan struct{}, len(peers))
	for _, a := range peers {
		m.wg.Go(func() {
			if err := m.sendReliable(a, msg); err != nil {
				m.log.Debug("ring log push failed", "peer", a.ID, "err", err)
			}
			done <- struct{}{}
		})
	}
	for range peers {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

func (m *Membership) sendReliable(a nodeAddrs, msg []byte) error {
	host, port, err := net.SplitHostPort(a.GossipAddr)
	if err != nil {
		return err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return err
	}
	return m.ml.SendReliable(&memberlist.Node{Name: a.ID, Addr: net.ParseIP(host), Port: uint16(p)}, msg)
}

// forgetExpired records a Leave for members down longer than DownAfter.
// Only the live member with the smallest ID does it, so that one event,
// not one per node, usually results (more are harmless: Build ignores a
// Leave of a non-member).
func (m *Membership) forgetExpired() {
	if m.cfg.DownAfter <= 0 {
		return
	}
	s := m.snap.Load()
	if !s.Table.Has(m.self) {
		return
	}
	now := m.now()
	var expired []string
	for _, id := range s.Table.Members() {
		mem := s.Members[id]
		if mem.State == MemberUp && id < m.self {
			return // a smaller live member does it
		}
		if mem.State == MemberDown && now.Sub(mem.Since) >= m.cfg.DownAfter {
			expired = append(expired, id)
		}
	}
	for _, id := range expired {
		m.log.Info("forgetting a member down too long", "peer", id, "down_after", m.cfg.DownAfter)
		if err := m.forget(id); err != nil {
			m.log.Warn("cannot forget a member down too long", "peer", id, "err", err)
		}
	}
}

// reconnect tries, every timing.reconnect, to reach one down ring member at
// its last known gossip address, or the Join addresses when no peer is
// alive. memberlist forgets dead nodes after GossipToTheDeadTime and does
// not heal a partition by itself; this does, and it brings back a member
// that restarted without a Join list.
func (m *Membership) reconnect() {
	now := m.now()
	if now.Sub(m.lastReconnect) < m.timing.reconnect || m.reconnecting.Load() {
		return
	}
	s := m.snap.Load()
	var addrs []string
	for _, id := range s.Table.Members() {
		if mem := s.Members[id]; mem.State == MemberDown && mem.GossipAddr != "" {
			addrs = append(addrs, mem.GossipAddr)
		}
	}
	if m.alive.Load() <= 1 {
		addrs = append(addrs, m.cfg.Join...)
	}
	if len(addrs) == 0 {
		return
	}
	m.lastReconnect = now
	addr := addrs[rand.IntN(len(addrs))]
	m.reconnecting.Store(true)
	m.wg.Go(func() {
		defer m.reconnecting.Store(false)
		if _, err := m.ml.Join([]string{addr}); err != nil {
			m.log.Debug("reconnect failed", "addr", addr, "err", err)
			return
		}
		m.log.Info("reconnected", "addr", addr)
	})
}
