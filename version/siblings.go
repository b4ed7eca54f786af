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
// descends from removed. Merge is commutative, associative and idempotent.
func Merge(a, b Siblings) Siblings {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	all := make(Siblings, 0, len(a)+len(b))
	all = append(all, a...)
	all = append(all, b...)
	return reconcile(all)
}

// reconcile reduces any collection of versions to canonical siblings.
func reconcile(all Siblings) Siblings {
	out := all[:0:0]
	for i := range all {
		v := &all[i]
		dominated := false
		for j := range all {
			if i == j {
				continue
			}
			switch Compare(v.Clock, all[j].Clock) {
			case Before:
				dominated = true
			case Equal:
				// Same history: keep exactly one, the greatest in the total order.
				if c := newer(v, &all[j]); c < 0 || (c == 0 && j < i) {
					dominated = true
				}
			}
			if dominated {
				break
			}
		}
		if !dominated {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b Version) int { return newer(&a, &b) })
	return out
}

// Add returns s with v merged in.
func (s Siblings) Add(v Version) Siblings { return Merge(s, Siblings{v}) }

// Clock returns the merge of every sibling's clock: the context that a write
// superseding all of s must descend from.
func (s Siblings) Clock() Clock {
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
