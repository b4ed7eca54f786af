package version

import (
	"fmt"
	"slices"
	"testing"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want Order
	}{
		{"", "", Equal},
		{"", "a=1", Before},
		{"a=1", "", After},
		{"a=1", "a=1", Equal},
		{"a=1@5", "a=1@9", Equal}, // stamps carry no causality
		{"a=1 b=2 c=3", "a=1 b=2 c=3", Equal},
		{"a=1", "a=2", Before},
		{"a=3", "a=2", After},
		{"a=1", "a=1 b=1", Before},             // b missing counts as 0
		{"a=1 c=1", "a=1 b=1 c=1", Before},     // gap in the middle
		{"b=1", "a=1 b=1 c=1", Before},         // gaps at both ends
		{"a=2 b=1", "a=1 b=2", Concurrent},     // crossing counters
		{"a=1", "b=1", Concurrent},             // disjoint nodes
		{"a=1 c=1", "b=1 d=1", Concurrent},     // interleaved disjoint nodes
		{"a=2 c=1", "a=1 b=1 c=1", Concurrent}, // one bigger each side
		{"a=1 b=1 c=1", "a=1 b=1 c=2", Before}, // last entry decides
		{"a=9 b=9 c=9 d=9", "a=9 b=9 c=9", After},
	}
	for _, tt := range tests {
		a, b := cl(tt.a), cl(tt.b)
		if got := Compare(a, b); got != tt.want {
			t.Errorf("Compare(%v, %v) = %v, want %v", a, b, got, tt.want)
		}
		reverse := map[Order]Order{Equal: Equal, Before: After, After: Before, Concurrent: Concurrent}[tt.want]
		if got := Compare(b, a); got != reverse {
			t.Errorf("Compare(%v, %v) = %v, want %v", b, a, got, reverse)
		}
		wantDescends := tt.want == Equal || tt.want == After
		if got := a.Descends(b); got != wantDescends {
			t.Errorf("%v.Descends(%v) = %v, want %v", a, b, got, wantDescends)
		}
	}
}

func TestOrderString(t *testing.T) {
	for o, want := range map[Order]string{Equal: "equal", Before: "before", After: "after", Concurrent: "concurrent"} {
		if got := o.String(); got != want {
			t.Errorf("Order(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}

func TestClockCounter(t *testing.T) {
	c := cl("a=1 c=3 e=5")
	for node, want := range map[string]uint64{"a": 1, "c": 3, "e": 5, "b": 0, "": 0, "z": 0} {
		if got := c.Counter(node); got != want {
			t.Errorf("Counter(%q) = %d, want %d", node, got, want)
		}
	}
	if got := Clock(nil).Counter("a"); got != 0 {
		t.Errorf("nil clock Counter = %d, want 0", got)
	}
}

func TestClockMerge(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"", "", ""},
		{"a=1@1", "", "a=1@1"},
		{"", "a=1@1", "a=1@1"},
		{"a=1@1", "a=2@2", "a=2@2"},
		{"a=2@2 b=1@1", "a=1@1 b=2@2", "a=2@2 b=2@2"},
		{"a=1@1 c=1@1", "b=1@1 d=1@1", "a=1@1 b=1@1 c=1@1 d=1@1"},
		// Counter and stamp are each the newer of the two.
		{"a=3@7", "a=2@9", "a=3@9"},
	}
	for _, tt := range tests {
		a, b := cl(tt.a), cl(tt.b)
		before := slices.Clone(a)
		got := a.Merge(b)
		if got.String() != cl(tt.want).String() {
			t.Errorf("%v.Merge(%v) = %v, want %v", a, b, got, cl(tt.want))
		}
		if rev := b.Merge(a); rev.String() != got.String() {
			t.Errorf("Merge not commutative: %v vs %v", got, rev)
		}
		if !got.Descends(a) || !got.Descends(b) {
			t.Errorf("%v does not descend from both %v and %v", got, a, b)
		}
		if !slices.Equal(a, before) {
			t.Errorf("Merge modified its receiver: %v, was %v", a, before)
		}
	}
}

func TestIncrement(t *testing.T) {
	tests := []struct {
		name string
		c    string
		node string
		at   HLC
		want string
	}{
		{"empty clock", "", "a", 5, "a=1@5"},
		{"new node first", "b=1@1 c=1@1", "a", 5, "a=1@5 b=1@1 c=1@1"},
		{"new node middle", "a=1@1 c=1@1", "b", 5, "a=1@1 b=1@5 c=1@1"},
		{"new node last", "a=1@1 b=1@1", "c", 5, "a=1@1 b=1@1 c=1@5"},
		{"existing node", "a=1@1 b=4@3 c=1@1", "b", 5, "a=1@1 b=5@5 c=1@1"},
		// The stamp never goes back, even if the caller's clock did.
		{"older stamp", "a=4@9", "a", 5, "a=5@9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cl(tt.c)
			before := slices.Clone(c)
			got := c.Increment(tt.node, tt.at)
			if got.String() != cl(tt.want).String() {
				t.Errorf("%v.Increment(%q, %d) = %v, want %v", c, tt.node, tt.at, got, cl(tt.want))
			}
			if !got.Valid() {
				t.Errorf("result %v is not valid", got)
			}
			if Compare(got, c) != After {
				t.Errorf("result %v is not After %v", got, c)
			}
			if !slices.Equal(c, before) {
				t.Errorf("Increment modified its receiver: %v, was %v", c, before)
			}
		})
	}
}

// fullClock returns a clock of n nodes n00..n(n-1), node i stamped at
// stamps[i] (or i+100 when stamps is short).
func fullClock(n int, stamps ...HLC) Clock {
	var c Clock
	for i := range n {
		st := HLC(i + 100)
		if i < len(stamps) {
			st = stamps[i]
		}
		c = append(c, Entry{Node: fmt.Sprintf("n%02d", i), Counter: uint64(i + 1), Stamp: st})
	}
	return c
}

func TestIncrementTruncates(t *testing.T) {
	nodes := func(c Clock) []string {
		var out []string
		for _, e := range c {
			out = append(out, e.Node)
		}
		return out
	}
	tests := []struct {
		name    string
		c       Clock
		node    string
		at      HLC
		dropped []string // nodes of c that must be gone
	}{
		{"at the limit, existing node", fullClock(10), "n03", 500, nil},
		{"new node drops oldest stamp", fullClock(10), "zz", 500, []string{"n00"}},
		{
			"oldest stamp anywhere in the clock",
			fullClock(10, 50, 40, 30, 20, 10, 60, 70, 80, 90, 95), "zz", 500, []string{"n04"},
		},
		{"stamp ties drop the smallest node ID", fullClock(10, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7), "zz", 500, []string{"n00"}},
		{
			// The incrementing node has the oldest stamp but stays.
			"incrementing node never dropped",
			fullClock(10, 1, 100, 100, 100, 100, 100, 100, 100, 100, 100), "aa", 0, []string{"n00"},
		},
		{
			// Merge of disjoint full clocks: the increment brings 21 entries
			// down to 10: the node plus the nine most recently stamped.
			"merged clocks",
			fullClock(10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10).Merge(renamed(fullClock(10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), "m")),
			"zz", 500,
			[]string{"m00", "n00", "n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09"},
		},
		{
			"merged clocks, incrementing node among the oldest",
			fullClock(10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10).Merge(renamed(fullClock(10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), "m")),
			"n00", 500,
			[]string{"n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09", "m00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.c)
			got := tt.c.Increment(tt.node, tt.at)
			wantLen := len(tt.c)
			if _, ok := tt.c.find(tt.node); !ok {
				wantLen++
			}
			if wantLen = min(wantLen, MaxClockEntries); len(got) != wantLen {
				t.Errorf("got %d entries, want %d: %v", len(got), wantLen, got)
			}
			if !got.Valid() {
				t.Errorf("result %v is not valid", got)
			}
			if got.Counter(tt.node) != tt.c.Counter(tt.node)+1 {
				t.Errorf("%s counter = %d, want %d", tt.node, got.Counter(tt.node), tt.c.Counter(tt.node)+1)
			}
			want := map[string]bool{tt.node: true}
			for _, e := range tt.c {
				want[e.Node] = !slices.Contains(tt.dropped, e.Node)
			}
			for node, kept := range want {
				if _, ok := got.find(node); ok != kept {
					t.Errorf("node %s kept = %v, want %v (result %v)", node, ok, kept, nodes(got))
				}
			}
			// Entries that stay keep their counters: truncation forgets,
			// it never changes what is remembered.
			for _, e := range got {
				if e.Node != tt.node && e.Counter != tt.c.Counter(e.Node) {
					t.Errorf("node %s counter changed to %d", e.Node, e.Counter)
				}
			}
			if !slices.Equal(tt.c, before) {
				t.Errorf("Increment modified its receiver")
			}
		})
	}
}

func renamed(c Clock, prefix string) Clock {
	out := slices.Clone(c)
	for i := range out {
		out[i].Node = prefix + out[i].Node[1:]
	}
	return out
}

func TestValid(t *testing.T) {
	long := fullClock(MaxClockEntries + 1)
	tests := []struct {
		c    Clock
		want bool
	}{
		{nil, true},
		{cl("a=1"), true},
		{fullClock(MaxClockEntries), true},
		{long, false},
		{cl("a=0"), false},
		{cl("=1"), false},
		{cl("b=1 a=1"), false},
		{cl("a=1 a=2"), false},
		{cl("a=1 b=1 b=1"), false},
	}
	for _, tt := range tests {
		if got := tt.c.Valid(); got != tt.want {
			t.Errorf("%v.Valid() = %v, want %v", tt.c, got, tt.want)
		}
	}
	if !long.wellFormed() {
		t.Errorf("a long but sorted clock should be well formed")
	}
}

func TestClockString(t *testing.T) {
	if got, want := cl("a=1@2 b=3").String(), "[a=1@2 b=3@0]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
