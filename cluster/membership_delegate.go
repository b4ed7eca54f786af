package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringstore/ringstore/ring"
)

// memberlist calls the delegates below from its own goroutines, often with
// its node lock held, so they never block: they read immutable state through
// atomic pointers, decode what they were given, and hand everything else to
// the membership loop through the inbox.

// msgEvents is the only gossip message: ring events, as a log encoding after
// this byte. Broadcasts carry one new event; push/pull state and the repair
// sync (Membership.syncLogs) carry the whole log.
const msgEvents = 1

// gossipDelegate implements memberlist's Delegate, EventDelegate,
// ConflictDelegate and PingDelegate for a Membership.
type gossipDelegate struct{ m *Membership }

// NodeMeta returns this node's announced meta (see nodeMeta).
func (d gossipDelegate) NodeMeta(limit int) []byte {
	b := *d.m.nodeMeta.Load()
	if len(b) > limit {
		// Validate bounds the addresses, so this cannot happen; an empty
		// meta is better than a panic in memberlist.
		return nil
	}
	return b
}

// NotifyMsg receives broadcasts and repair syncs.
func (d gossipDelegate) NotifyMsg(buf []byte) { d.m.receive(buf, true) }

// GetBroadcasts hands memberlist our queued event broadcasts.
func (d gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.queue.GetBroadcasts(overhead, limit)
}

// LocalState sends the whole ring log on push/pull and join.
func (d gossipDelegate) LocalState(join bool) []byte {
	return append([]byte{msgEvents}, d.m.ringLog.Load().enc...)
}

// MergeRemoteState receives a peer's whole ring log. Its events are not
// relayed: the peer that sent them has them, and so, most likely, has
// everyone else; the digest sync catches the exceptions.
func (d gossipDelegate) MergeRemoteState(buf []byte, join bool) { d.m.receive(buf, false) }

func (d gossipDelegate) NotifyJoin(n *memberlist.Node)   { d.m.inbox.put(nodeItem(itemAlive, n)) }
func (d gossipDelegate) NotifyUpdate(n *memberlist.Node) { d.m.inbox.put(nodeItem(itemAlive, n)) }
func (d gossipDelegate) NotifyLeave(n *memberlist.Node)  { d.m.inbox.put(nodeItem(itemGone, n)) }

// NotifyConflict reports two live processes claiming one node ID, most
// likely a copied data dir.
func (d gossipDelegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.log.Warn("another node claims this node's ID; is a data dir copied?",
		"peer", existing.Name, "addr", existing.Address(), "other_addr", other.Address())
}

// AckPayload is part of PingDelegate; we send nothing extra.
func (d gossipDelegate) AckPayload() []byte { return nil }

// NotifyPingComplete is evidence that other is alive: it clears a
// ReportUnreachable mark when the ping was sent after the mark was made.
func (d gossipDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	m := d.m
	if mem, ok := m.snap.Load().Members[other.Name]; !ok || mem.State != MemberSuspect {
		return // the common case: nothing to clear, nothing to queue
	}
	m.inbox.put(inboxItem{kind: itemPing, name: other.Name, at: m.now().Add(-rtt)})
}

// receive decodes an event message and queues its events for the loop.
func (m *Membership) receive(buf []byte, relay bool) {
	if len(buf) == 0 || buf[0] != msgEvents {
		m.log.Debug("dropped unknown gossip message", "len", len(buf))
		return
	}
	evs, err := decodeEvents(buf[1:])
	if err != nil {
		m.log.Warn("dropped gossip message", "err", err)
		return
	}
	if len(evs) > 0 {
		m.inbox.put(inboxItem{kind: itemEvents, events: evs, relay: relay})
	}
}

// eventBroadcast is one new event on its way through memberlist's
// TransmitLimitedQueue. Events are unique, so nothing invalidates another.
type eventBroadcast []byte

func newEventBroadcast(e ring.Event) eventBroadcast {
	return eventBroadcast(appendEvents([]byte{msgEvents}, []ring.Event{e}))
}

func (b eventBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b eventBroadcast) Message() []byte                       { return b }
func (b eventBroadcast) Finished()                             {}
func (b eventBroadcast) UniqueBroadcast()                      {}

// itemKind says what an inboxItem carries.
type itemKind uint8

const (
	itemEvents itemKind = iota + 1 // ring events to merge
	itemAlive                      // memberlist: node alive (joined, or its meta changed)
	itemGone                       // memberlist: node dead or left
	itemPing                       // a ping to node was answered; at is when it was sent
)

// inboxItem is one thing a delegate saw, copied out of memberlist's memory.
type inboxItem struct {
	kind   itemKind
	name   string // node ID
	addr   string // gossip host:port
	meta   []byte
	at     time.Time
	events []ring.Event
	relay  bool // events came by broadcast: pass the new ones on
}

func nodeItem(kind itemKind, n *memberlist.Node) inboxItem {
	return inboxItem{kind: kind, name: n.Name, addr: n.Address(), meta: bytes.Clone(n.Meta)}
}

// inbox hands items from the delegates to the loop without ever blocking
// the sender and without dropping anything: items queue in a slice, and a
// one-slot channel wakes the loop.
type inbox struct {
	mu     sync.Mutex // guards items
	items  []inboxItem
	signal chan struct{}
}

func newInbox() inbox { return inbox{signal: make(chan struct{}, 1)} }

func (b *inbox) put(it inboxItem) {
	b.mu.Lock()
	b.items = append(b.items, it)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []inboxItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}

// gossipLogWriter turns memberlist's log lines ("[WARN] memberlist: ...")
// into slog records at the level the line names, so its chatty DEBUG lines
// stay out of Info logs while its warnings and errors do not.
type gossipLogWriter struct{ log *slog.Logger }

func (w gossipLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for _, l := range []struct {
		prefix string
		level  slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(line, l.prefix); ok {
			line, level = strings.TrimSpace(rest), l.level
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
