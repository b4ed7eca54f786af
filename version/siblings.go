package version

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// Kind is the Redis type of a version's value.
type Kind uint8

const (
	KindString Kind = 1
)

// Version is one write of a key.
type Version struct {
	Clock     Clock
	Timestamp HLC    // when it was written, for last-writer-wins
	Writer    string // node ID of the coordinator that wrote it; breaks timestamp ties
	ExpireAt  int64  // Unix milliseconds; 0 means no expiry
	Tombstone bool   // a delete
	Kind      Kind
	Value     []byte
}

// Live reports whether v is a value a reader can see at nowMs: not a
// tombstone and not expired.
func (v *Version) Live(nowMs int64) bool {
	return !v.Tombstone && (v.ExpireAt == 0 || v.ExpireAt > nowMs)
}

// newer is the last-writer-wins order: timestamp, then writer, then a
// deterministic tie-break on content.
func newer(a, b *Version) int {
	if c := cmp.Compare(a.Timestamp, b.Timestamp); c != 0 {
		return c
	}
	if c := strings.Compare(a.Writer, b.Writer); c != 0 {
		return c
	}
	if c := compareClockBytes(a.Clock, b.Clock); c != 0 {
		return c
	}
	if a.Tombstone != b.Tombstone {
		if a.Tombstone {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.ExpireAt, b.ExpireAt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return bytes.Compare(a.Value, b.Value)
}

// Siblings is a key's set of versions, none of which descends from another,
// in canonical order (oldest writer first). The zero value is an absent key.
// Functions here never modify a Siblings in place; they return new slices that
// may share Version values (and their Value bytes) with their inputs.
type Siblings []Version

// Merge returns the union of a and b with every version that another one
// descends from removed; of versions with equal clocks it keeps only the
// newest (see Latest). Merge is commutative, associative and idempotent.
// The result may be a or b itself when the other adds nothing.
func Merge(a, b Siblings) Siblings {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	// The common case is one version replacing another (SET over an
	// existing key): answer it without allocating. Either side of length one
	// is canonical, so these shortcuts agree with reconcile on any input.
	if len(b) == 1 && allLoseTo(a, &b[0], false) {
		return b
	}
	if len(a) == 1 && allLoseTo(b, &a[0], true) {
		return a
	}
	all := make(Siblings, 0, len(a)+len(b))
	all = append(all, a...)
	all = append(all, b...)
	return reconcile(all)
}

// allLoseTo reports whether reconcile would drop every version of s in
// favour of w; wEarlier says whether w precedes s in the collection.
func allLoseTo(s Siblings, w *Version, wEarlier bool) bool {
	for i := range s {
		if !losesTo(&s[i], w, wEarlier) {
			return false
		}
	}
	return true
}

// losesToAny reports whether reconcile would drop v in favour of some
// version of s; sEarlier says whether s precedes v in the collection.
func losesToAny(v *Version, s Siblings, sEarlier bool) bool {
	for i := range s {
		if losesTo(v, &s[i], sEarlier) {
			return true
		}
	}
	return false
}

// losesTo reports whether v is dropped because of w: w descends from v and
// either has more history or the same history and is newer. Identical
// versions keep the earlier one.
func losesTo(v, w *Version, wEarlier bool) bool {
	switch Compare(v.Clock, w.Clock) {
	case Before:
		return true
	case Equal:
		c := newer(v, w)
		return c < 0 || (c == 0 && wEarlier)
	}
	return false
}

// reconcile reduces any collection of versions to canonical siblings. It
// works in place: all must be owned by the caller.
func reconcile(all Siblings) Siblings {
	// Comparing v only with the versions kept so far and those not yet
	// examined gives the same answer as comparing it with every version:
	// a dropped version lost to one that is still here or lost in turn, and
	// losing is transitive.
	n := 0
	for i := range all {
		v := all[i]
		if losesToAny(&v, all[:n], true) || losesToAny(&v, all[i+1:], false) {
			continue
		}
		all[n] = v
		n++
	}
	out := all[:n:n]
	clear(all[n:]) // let dropped values be collected
	slices.SortFunc(out, func(a, b Version) int { return newer(&a, &b) })
	return out
}

// Add returns s with v merged in.
func (s Siblings) Add(v Version) Siblings { return Merge(s, Siblings{v}) }

// Clock returns the merge of every sibling's clock: the context that a write
// superseding all of s must descend from. For one sibling it is that
// sibling's clock itself, which clocks' immutability makes safe to share.
func (s Siblings) Clock() Clock {
	if len(s) == 1 {
		return s[0].Clock // the SET path: no copy
	}
	var c Clock
	for i := range s {
		c = c.Merge(s[i].Clock)
	}
	return c
}

// Latest returns the last writer among s (tombstones and expired versions
// included), or false when s is empty.
func (s Siblings) Latest() (Version, bool) {
	if len(s) == 0 {
		return Version{}, false
	}
	best := 0
	for i := 1; i < len(s); i++ {
		if newer(&s[i], &s[best]) > 0 {
			best = i
		}
	}
	return s[best], true
}

// Visible returns what a plain Redis read sees at nowMs: the last writer
// among s if it is live. A delete or expiry that is the last write hides
// older concurrent values, as the same sequence would on one Redis.
func (s Siblings) Visible(nowMs int64) (Version, bool) {
	v, ok := s.Latest()
	if !ok || !v.Live(nowMs) {
		return Version{}, false
	}
	return v, true
}

// Live returns the siblings that are live at nowMs, in canonical order.
func (s Siblings) Live(nowMs int64) Siblings {
	var out Siblings
	for i := range s {
		if s[i].Live(nowMs) {
			out = append(out, s[i])
		}
	}
	return out
}

// Equal reports whether two canonical sibling sets hold the same versions.
func (s Siblings) Equal(o Siblings) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if newer(&s[i], &o[i]) != 0 || Compare(s[i].Clock, o[i].Clock) != Equal {
			return false
		}
	}
	return true
}
