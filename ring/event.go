package ring

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// EventKind says whether an Event adds a node to the ring or removes it.
type EventKind uint8

// The kinds of membership event. The zero EventKind is not a valid kind.
// The values are stable: they are written to disk and the wire as one byte,
// so never renumber them.
const (
	EventJoin EventKind = iota + 1
	EventLeave
)

// String returns "join", "leave", or "EventKind(n)" for an invalid kind.
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one entry of the membership log: Node joined or left the ring at
// Stamp. The log is a grow-only set of events, gossiped between nodes; the
// ring state is a pure function of that set (see Build).
type Event struct {
	Kind  EventKind
	Node  string // the node's ID, 40 hex digits in ringstore; any non-empty string works here
	Stamp uint64 // the HLC timestamp of the change
}

// String returns the event as "join <node>@<stamp>".
func (e Event) String() string {
	return e.Kind.String() + " " + e.Node + "@" + strconv.FormatUint(e.Stamp, 10)
}

// compareEvents orders events canonically: by Stamp, then Node, then Kind.
func compareEvents(a, b Event) int {
	if c := cmp.Compare(a.Stamp, b.Stamp); c != 0 {
		return c
	}
	if c := strings.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// canonical returns a sorted copy of log without duplicates and without
// invalid events (an unknown Kind or an empty Node). It does not modify log.
func canonical(log []Event) []Event {
	evs := make([]Event, 0, len(log))
	for _, e := range log {
		if (e.Kind == EventJoin || e.Kind == EventLeave) && e.Node != "" {
			evs = append(evs, e)
		}
	}
	slices.SortFunc(evs, compareEvents)
	return slices.Compact(evs)
}
