package cluster

import (
	"maps"
	"strconv"
	"time"

	"github.com/ringstore/ringstore/ring"
)

// MemberState is a node's state as this node sees it.
type MemberState uint8

const (
	// MemberDown: a ring member that gossip reports dead or left, or has not
	// seen since this node started. It keeps its slots (served by sloppy
	// quorum) until it returns, leaves, or is forgotten. The zero value.
	MemberDown MemberState = iota
	// MemberUp: alive in gossip, and no unanswered call since.
	MemberUp
	// MemberSuspect: alive in gossip, but the coordinator reported it
	// unreachable (ReportUnreachable) and no sign of life has come since.
	// Not Up: route around it. memberlist v0.7.0 does not expose its own
	// suspicion (the state lives in an unexported struct and fires no
	// event), so gossip alone moves a member from Up straight to Down.
	MemberSuspect
	// MemberLeft: a node outside the ring that was in it once (left or
	// forgotten) and is still alive in gossip, or this node after Leave.
	MemberLeft
)

// String returns "down", "up", "suspect" or "left", as RING STATUS prints them.
func (s MemberState) String() string {
	switch s {
	case MemberDown:
		return "down"
	case MemberUp:
		return "up"
	case MemberSuspect:
		return "suspect"
	case MemberLeft:
		return "left"
	}
	return "MemberState(" + strconv.Itoa(int(s)) + ")"
}

// Member is what a Snapshot knows of one node. Addresses are the last ones
// the node announced (kept across restarts in the address book); they are
// empty for a member this node has never heard from.
type Member struct {
	ID         string
	RESPAddr   string // host:port for clients
	PeerAddr   string // host:port of its peer transport
	GossipAddr string // host:port of its gossip (RING JOIN)
	State      MemberState
	Since      time.Time // when this node saw State begin (Membership start at the latest)
	// Synced is the ring log whose slots the node last announced it holds
	// the data of (Membership.SetSynced); zero if it never did.
	Synced LogDigest
}

// Snapshot is one immutable view of the ring. The coordinator places keys
// with Table and routes around members that are not Up. Nothing in it may be
// modified.
type Snapshot struct {
	// Self is this node's ID.
	Self string
	// Table is ring.Build of the ring log: the same on every node that has
	// seen the same events, whatever anyone's health. Its Epoch counts the
	// events and is comparable across nodes.
	Table *ring.Table
	// Log is the digest of the ring log Table was built from.
	Log LogDigest
	// Members holds every ring member (Table.Members(), in whatever state),
	// plus this node and any other node alive in gossip though not in the
	// ring: one joining (Up, not yet in Table) or one that left or was
	// forgotten but still runs (Left). Use Table.Has for ring membership.
	Members map[string]Member
	// Epoch increases with every new Snapshot of this Membership: every
	// change of the table, a state or an address. It is local to this node.
	Epoch uint64
}

// Up reports whether node is known and Up: a replica worth calling.
func (s *Snapshot) Up(node string) bool {
	m, ok := s.Members[node]
	return ok && m.State == MemberUp
}

// Ready reports whether node announced that it holds the data of every
// slot whose preference list names it in this Snapshot's Table: its
// announced Synced log is this Snapshot's Log. A node that just joined, or
// that gained slots in the last ring change, is not Ready until its range
// transfers are done; nor is any node for the moment between learning of a
// ring change and announcing that it needs nothing for it.
func (s *Snapshot) Ready(node string) bool {
	m, ok := s.Members[node]
	return ok && m.Synced == s.Log && s.Log != (LogDigest{})
}

// rebuildLocked builds a Snapshot from the current log and node states and
// publishes it if it differs from the current one. m.mu must be held.
func (m *Membership) rebuildLocked() {
	lg := m.ringLog.Load()
	prev := m.snap.Load()
	now := m.now()
	s := &Snapshot{Self: m.self, Table: lg.table, Log: lg.digest, Members: make(map[string]Member)}
	add := func(id string, st MemberState) {
		mem := Member{ID: id, State: st, Since: now}
		if n := m.mu.nodes[id]; n != nil {
			mem.RESPAddr, mem.PeerAddr, mem.GossipAddr = n.addrs.RESPAddr, n.addrs.PeerAddr, n.addrs.GossipAddr
			mem.Synced = n.dataSynced
		}
		if p := m.synced.Load(); id == m.self && p != nil {
			mem.Synced = *p
		}
		if p, ok := prev.member(id); ok && p.State == st {
			mem.Since = p.Since
		}
		s.Members[id] = mem
	}
	for _, id := range lg.table.Members() {
		add(id, m.memberStateLocked(id))
	}
	alive := int32(0)
	for id, n := range m.mu.nodes {
		if n.alive {
			alive++
		}
		if _, ok := s.Members[id]; ok || !n.alive {
			continue
		}
		st := MemberUp // alive but not (yet) in the ring: joining
		if lg.mentions(id) || (id == m.self && m.leaving.Load()) {
			st = MemberLeft
		}
		add(id, st)
	}
	m.alive.Store(alive)
	if prev != nil && prev.Table == s.Table && maps.Equal(prev.Members, s.Members) {
		return
	}
	m.mu.epoch++
	s.Epoch = m.mu.epoch
	m.snap.Store(s)
	if m.mu.closed {
		return
	}
	for _, ch := range m.mu.subs {
		// Keep only the newest: take out an unread older one first. We are
		// the only sender and hold m.mu, so the send cannot block.
		select {
		case <-ch:
		default:
		}
		ch <- s
	}
}

// memberStateLocked returns the state of a ring member. m.mu must be held.
func (m *Membership) memberStateLocked(id string) MemberState {
	n := m.mu.nodes[id]
	switch {
	case id == m.self && m.leaving.Load():
		return MemberLeft
	case id == m.self:
		return MemberUp
	case n == nil || !n.alive:
		return MemberDown
	case !n.unreachable.IsZero():
		return MemberSuspect
	}
	return MemberUp
}

func (s *Snapshot) member(id string) (Member, bool) {
	if s == nil {
		return Member{}, false
	}
	m, ok := s.Members[id]
	return m, ok
}
