package cluster

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// The ring log is the durable, gossiped record of ring membership: a
// grow-only set of ring.Events. Every node keeps the union of the events it
// has seen, and the slot table is ring.Build of that set, so nodes that have
// seen the same events compute the same table whatever order they learned
// them in.
//
// Encoding (the same bytes are stored under metaRingLog and carried after
// the message byte in gossip):
//
//	log   = format:u8(1) uvarint(count) event*count
//	event = kind:u8 uvarint(stamp) uvarint(len(node)) node
//
// Events are written in canonical order (stamp, node, kind) without
// duplicates, so equal sets encode to equal bytes and hash to equal digests.

const (
	logFormat     = 1
	maxNodeIDLen  = 64 // longer node IDs in a received event reject the whole message
	minEventBytes = 4  // kind, stamp, len, one byte of node
)

var errBadLog = errors.New("cluster: malformed ring log")

// LogDigest summarises a ring log for node meta: peers whose digests differ
// have seen different events and sync. Equal digests mean equal logs, and
// so equal slot tables (Snapshot.Log names the log of a Snapshot's Table).
// The zero LogDigest names no log.
type LogDigest struct {
	Count uint64 // number of events
	Hash  uint64 // first 8 bytes of SHA-256 of the canonical encoding
}

// ringLog is one version of the ring log. It is immutable once built, so it
// is published through an atomic pointer and read without locks (by the
// memberlist delegates among others).
type ringLog struct {
	events   []ring.Event // canonical order, no duplicates, all valid
	enc      []byte       // canonical encoding of events
	digest   LogDigest
	table    *ring.Table
	maxStamp uint64 // the largest Stamp in events, 0 if none
}

// newRingLog builds a log from events in any order, dropping duplicates and
// invalid events. It does not retain events.
func newRingLog(events []ring.Event) *ringLog {
	evs := make([]ring.Event, 0, len(events))
	for _, e := range events {
		if validEvent(e) {
			evs = append(evs, e)
		}
	}
	slices.SortFunc(evs, compareEvents)
	evs = slices.Compact(evs)
	l := &ringLog{events: evs, table: ring.Build(evs)}
	l.enc = appendEvents(nil, evs)
	sum := sha256.Sum256(l.enc)
	l.digest = LogDigest{Count: uint64(len(evs)), Hash: binary.BigEndian.Uint64(sum[:8])}
	if n := len(evs); n > 0 {
		l.maxStamp = slices.MaxFunc(evs, func(a, b ring.Event) int { return cmp.Compare(a.Stamp, b.Stamp) }).Stamp
	}
	return l
}

// merge returns the log extended by the events of evs it lacks, and those
// new events; when there are none it returns l itself and nil.
func (l *ringLog) merge(evs []ring.Event) (*ringLog, []ring.Event) {
	var fresh []ring.Event
	for _, e := range evs {
		if validEvent(e) && !l.has(e) && !slices.Contains(fresh, e) {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return l, nil
	}
	return newRingLog(append(slices.Clone(l.events), fresh...)), fresh
}

// has reports whether e is in the log.
func (l *ringLog) has(e ring.Event) bool {
	_, ok := slices.BinarySearchFunc(l.events, e, compareEvents)
	return ok
}

// mentions reports whether any event of the log is about node: whether it
// ever joined (or was made to leave) this ring.
func (l *ringLog) mentions(node string) bool {
	for _, e := range l.events {
		if e.Node == node {
			return true
		}
	}
	return false
}

// nextStamp returns a stamp for a new event recorded at now: a hybrid
// logical clock reading that is greater than every stamp in the log, so the
// new event replays after everything this node has seen (a Leave after the
// Join it undoes, a rejoin after the Leave).
func (l *ringLog) nextStamp(now time.Time) uint64 {
	return uint64(version.HLC(l.maxStamp).Next(now.UnixMilli()))
}

func validEvent(e ring.Event) bool {
	return (e.Kind == ring.EventJoin || e.Kind == ring.EventLeave) && e.Node != "" && len(e.Node) <= maxNodeIDLen
}

// compareEvents is the canonical order of the log: stamp, then node, then kind
// (the order ring.Build replays in).
func compareEvents(a, b ring.Event) int {
	if c := cmp.Compare(a.Stamp, b.Stamp); c != 0 {
		return c
	}
	if c := strings.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// appendEvents appends the encoding of evs, in the order given, to b.
func appendEvents(b []byte, evs []ring.Event) []byte {
	b = append(b, logFormat)
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for _, e := range evs {
		b = append(b, byte(e.Kind))
		b = binary.AppendUvarint(b, e.Stamp)
		b = binary.AppendUvarint(b, uint64(len(e.Node)))
		b = append(b, e.Node...)
	}
	return b
}

// decodeEvents decodes a log encoding. It rejects the whole input if any
// part is malformed: an unknown format or kind, an empty or overlong node
// ID, a count larger than the input could hold, or trailing bytes. It never
// allocates much more than len(b) and does not retain b.
func decodeEvents(b []byte) ([]ring.Event, error) {
	if len(b) == 0 || b[0] != logFormat {
		return nil, fmt.Errorf("%w: unknown format", errBadLog)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k)/minEventBytes {
		return nil, fmt.Errorf("%w: bad event count", errBadLog)
	}
	b = b[k:]
	evs := make([]ring.Event, 0, n)
	for i := range n {
		if len(b) < minEventBytes {
			return nil, fmt.Errorf("%w: event %d truncated", errBadLog, i)
		}
		e := ring.Event{Kind: ring.EventKind(b[0])}
		b = b[1:]
		stamp, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("%w: event %d: bad stamp", errBadLog, i)
		}
		e.Stamp, b = stamp, b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size == 0 || size > maxNodeIDLen || size > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: event %d: bad node", errBadLog, i)
		}
		e.Node, b = string(b[k:k+int(size)]), b[k+int(size):]
		if !validEvent(e) {
			return nil, fmt.Errorf("%w: event %d: kind %d", errBadLog, i, e.Kind)
		}
		evs = append(evs, e)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadLog, len(b))
	}
	return evs, nil
}
