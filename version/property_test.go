package version

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// A history is a random run of a key on a few nodes. Each node holds a
// sibling set; a write supersedes everything the node knows (its set's
// merged clock, incremented at the node); nodes send each other their sets,
// or parts of them, in random order. A naive model keeps every version ever
// written and, for each node, which of them reached it.
type history struct {
	t    testing.TB
	seed uint64
	kase int
	rng  *rand.Rand

	writePct int   // share of steps that are writes; the rest are sends
	pull     bool  // a writer first hears from two other nodes
	now      int64 // global wall clock, Unix ms
	nodes    []*histNode
	written  Siblings        // every version ever written; Value is its index
	log      []func() string // what happened, formatted only on failure

	truncations int // writes whose clock increment dropped an entry
}

type histNode struct {
	id   string
	skew int64 // this node's wall clock minus now
	hlc  HLC
	set  Siblings
	seen []bool // seen[i]: written[i] reached this node
}

func newHistory(t testing.TB, seed uint64, kase int) *history {
	h := &history{t: t, seed: seed, kase: kase, rng: rand.New(rand.NewPCG(seed, uint64(kase)))}
	h.now = 1_700_000_000_000
	// Up to 14 nodes, so clocks outgrow MaxClockEntries and get truncated.
	n := 2 + h.rng.IntN(13)
	h.writePct = []int{10, 25, 40}[h.rng.IntN(3)]
	for i := range n {
		h.nodes = append(h.nodes, &histNode{id: "node" + strconv.Itoa(i), skew: h.rng.Int64N(7) - 3})
	}
	return h
}

func (h *history) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("seed %d case %d: %s\nhistory:\n%s", h.seed, h.kase, fmt.Sprintf(format, args...), joinLines(h.log))
}

func joinLines(l []func() string) string {
	out := ""
	for _, s := range l {
		out += "  " + s() + "\n"
	}
	return out
}

func (h *history) id(v *Version) int {
	i, err := strconv.Atoi(string(v.Value))
	if err != nil {
		h.fatalf("version with foreign value %q", v.Value)
	}
	return i
}

// write makes node n write a new version superseding all it knows.
func (h *history) write(n *histNode) {
	wall := h.now + n.skew
	n.hlc = n.hlc.Next(wall)
	known := n.set.Clock()
	v := Version{
		Clock:     known.Increment(n.id, n.hlc),
		Timestamp: n.hlc,
		Writer:    n.id,
		Kind:      KindString,
		Value:     []byte(strconv.Itoa(len(h.written))),
	}
	switch h.rng.IntN(8) {
	case 0:
		v.Tombstone, v.Kind = true, 0
	case 1:
		v.ExpireAt = h.now + h.rng.Int64N(40) - 10 // sometimes already expired
	}
	h.written = append(h.written, v)
	n.seen = grow(n.seen, len(h.written))
	n.seen[len(h.written)-1] = true
	h.log = append(h.log, func() string {
		return fmt.Sprintf("%s writes %s clock %v ts %d", n.id, v.Value, v.Clock, v.Timestamp)
	})

	if _, ok := known.find(n.id); len(v.Clock) < len(known) || (!ok && len(v.Clock) == len(known)) {
		h.truncations++
	}
	n.set = n.set.Add(v)
	// Without truncation the new clock descends from everything the node
	// knew, so the write replaces the whole set.
	if len(known) < MaxClockEntries || (len(known) == MaxClockEntries && known.Counter(n.id) > 0) {
		if len(n.set) != 1 || h.id(&n.set[0]) != len(h.written)-1 {
			h.fatalf("%s's write did not replace its set: %q", n.id, values(n.set))
		}
	}
}

// send delivers from's set, or a random part of it, to to.
func (h *history) send(from, to *histNode) {
	part := from.set
	if len(part) > 1 && h.rng.IntN(3) == 0 {
		// A sub-set of a canonical set is canonical: replicas may pass on
		// single versions (hinted handoff, read repair of one sibling).
		part = nil
		for i := range from.set {
			if h.rng.IntN(2) == 0 {
				part = append(part, from.set[i])
			}
		}
	}
	to.seen = grow(to.seen, len(h.written))
	for i := range part {
		to.seen[h.id(&part[i])] = true
	}
	maxTS := HLC(0)
	for i := range part {
		maxTS = max(maxTS, part[i].Timestamp)
	}
	to.hlc = to.hlc.Observe(maxTS, h.now+to.skew)
	if h.rng.IntN(2) == 0 {
		to.set = Merge(to.set, part)
	} else {
		to.set = Merge(part, to.set)
	}
	got := to.set
	h.log = append(h.log, func() string {
		return fmt.Sprintf("%s -> %s: %q, now %q", from.id, to.id, values(part), values(got))
	})
}

func grow(b []bool, n int) []bool {
	for len(b) < n {
		b = append(b, false)
	}
	return b
}

// naiveReconcile is the model: of the given versions, those that no other
// version strictly descends from, and of equal clocks only the newest by
// newer; sorted oldest first. It compares every pair, sharing nothing with
// reconcile but Compare and newer.
func naiveReconcile(all []Version) Siblings {
	var out Siblings
	for i := range all {
		keep := true
		for j := range all {
			if i == j {
				continue
			}
			switch Compare(all[i].Clock, all[j].Clock) {
			case Before:
				keep = false
			case Equal:
				if c := newer(&all[i], &all[j]); c < 0 || (c == 0 && j < i) {
					keep = false
				}
			}
		}
		if keep {
			out = append(out, all[i])
		}
	}
	slices.SortFunc(out, func(a, b Version) int { return newer(&a, &b) })
	return out
}

func (h *history) seenBy(n *histNode) []Version {
	var out []Version
	for i, ok := range n.seen {
		if ok {
			out = append(out, h.written[i])
		}
	}
	return out
}

// check compares node n's set with the model.
func (h *history) check(n *histNode) {
	h.t.Helper()
	if why := canonical(n.set); why != "" {
		h.fatalf("%s holds a non-canonical set %q: %s", n.id, values(n.set), why)
	}
	if want := naiveReconcile(h.seenBy(n)); !n.set.Equal(want) {
		h.fatalf("%s holds %q, model says %q", n.id, values(n.set), values(want))
	}
	// The merged clock descends from every sibling and is their pointwise
	// maximum.
	c := n.set.Clock()
	if !c.wellFormed() {
		h.fatalf("%s: merged clock %v is malformed", n.id, c)
	}
	for i := range n.set {
		if !c.Descends(n.set[i].Clock) {
			h.fatalf("%s: merged clock %v does not descend from %v", n.id, c, n.set[i].Clock)
		}
	}
	for _, e := range c {
		var top uint64
		for i := range n.set {
			top = max(top, n.set[i].Clock.Counter(e.Node))
		}
		if e.Counter != top {
			h.fatalf("%s: merged clock has %s=%d, siblings' maximum is %d", n.id, e.Node, e.Counter, top)
		}
	}
	h.checkRead(n.set)
}

// checkRead checks Latest, Visible and Live against a scan.
func (h *history) checkRead(s Siblings) {
	h.t.Helper()
	latest, ok := s.Latest()
	if ok != (len(s) > 0) {
		h.fatalf("Latest ok = %v for %d siblings", ok, len(s))
	}
	for i := range s {
		v := &s[i]
		if v.Timestamp > latest.Timestamp || (v.Timestamp == latest.Timestamp && v.Writer > latest.Writer) {
			h.fatalf("Latest picked %s, but %s is newer", latest.Value, v.Value)
		}
	}
	now := h.now + h.rng.Int64N(20) - 5
	visible, ok := s.Visible(now)
	wantOK := len(s) > 0 && !latest.Tombstone && (latest.ExpireAt == 0 || latest.ExpireAt > now)
	if ok != wantOK || (ok && h.id(&visible) != h.id(&latest)) {
		h.fatalf("Visible(%d) = %s, %v; latest %s tombstone %v expires %d", now, visible.Value, ok, latest.Value, latest.Tombstone, latest.ExpireAt)
	}
	live := s.Live(now)
	var want Siblings
	for i := range s {
		if !s[i].Tombstone && (s[i].ExpireAt == 0 || s[i].ExpireAt > now) {
			want = append(want, s[i])
		}
	}
	if !live.Equal(want) {
		h.fatalf("Live = %q, want %q", values(live), values(want))
	}
}

// run plays ops random steps, checking each node that changed.
func (h *history) run(ops int) {
	for range ops {
		h.now += h.rng.Int64N(3)
		if h.rng.IntN(20) == 0 {
			// A node's wall clock steps back (or forward).
			n := h.nodes[h.rng.IntN(len(h.nodes))]
			n.skew += h.rng.Int64N(11) - 7
		}
		a := h.nodes[h.rng.IntN(len(h.nodes))]
		if h.rng.IntN(100) < h.writePct {
			if h.pull {
				h.send(h.nodes[h.rng.IntN(len(h.nodes))], a)
				h.send(h.nodes[h.rng.IntN(len(h.nodes))], a)
			}
			h.write(a)
			h.check(a)
			continue
		}
		b := h.nodes[h.rng.IntN(len(h.nodes))]
		h.send(a, b)
		h.check(b)
	}
}

// TestHistories plays random histories and checks every node against the
// model after every step, then merges all nodes' sets in random orders and
// checks the result is what the model says survives of everything written.
func TestHistories(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	cases := 2000
	if testing.Short() {
		cases = 300
	}
	var siblings, truncated int
	for kase := range cases {
		h := newHistory(t, seed, kase)
		ops := 5 + h.rng.IntN(40)
		if len(h.nodes) > MaxClockEntries && kase%4 == 0 {
			// Long enough, with gossip enough, for clocks to fill up.
			h.writePct, h.pull, ops = 50, true, 60
		}
		h.run(ops)

		want := naiveReconcile(h.written)
		for range 3 {
			var all Siblings
			for _, i := range h.rng.Perm(len(h.nodes)) {
				all = Merge(all, h.nodes[i].set)
			}
			if !all.Equal(want) {
				h.fatalf("merge of every node gives %q, model says %q", values(all), values(want))
			}
		}
		// No version that nothing else descends from is ever lost, and
		// nothing dominated survives: the model's survivors are exactly the
		// versions maximal among all ever written.
		for i := range h.written {
			v := &h.written[i]
			dominated := false
			for j := range h.written {
				if Compare(v.Clock, h.written[j].Clock) == Before {
					dominated = true
				}
			}
			if survives := slices.ContainsFunc(want, func(w Version) bool { return h.id(&w) == i }); survives == dominated {
				h.fatalf("version %d: dominated %v but survives %v", i, dominated, survives)
			}
		}
		h.checkClocks()
		h.checkAlgebra()
		if len(want) > 1 {
			siblings++
		}
		truncated += h.truncations
	}
	t.Logf("%d histories, %d ended with siblings, %d writes truncated a clock", cases, siblings, truncated)
}

// checkClocks checks Compare over pairs of written clocks (all of them in
// short histories, a random sample in long ones) against a pointwise
// comparison, antisymmetry, and transitivity over random triples.
func (h *history) checkClocks() {
	h.t.Helper()
	w := h.written
	for i := range w {
		if !w[i].Clock.Valid() {
			h.fatalf("version %d has an invalid clock %v", i, w[i].Clock)
		}
	}
	pair := func(i, j int) {
		a, b := w[i].Clock, w[j].Clock
		o := Compare(a, b)
		if want := naiveCompare(a, b); o != want {
			h.fatalf("Compare(%v, %v) = %v, pointwise %v", a, b, o, want)
		}
		rev := Compare(b, a)
		if (o == Before) != (rev == After) || (o == After) != (rev == Before) || (o == Equal) != (rev == Equal) {
			h.fatalf("Compare(%v, %v) = %v but reverse is %v", a, b, o, rev)
		}
		if i != j && o == Equal {
			// Each write increments its node past anything that node
			// issued before, so two writes never share a clock.
			h.fatalf("versions %d and %d share clock %v", i, j, a)
		}
	}
	if len(w) <= 20 {
		for i := range w {
			for j := range w {
				pair(i, j)
			}
		}
	} else {
		for range 400 {
			pair(h.rng.IntN(len(w)), h.rng.IntN(len(w)))
		}
	}
	for range min(100, len(w)) {
		a, b, c := w[h.rng.IntN(len(w))].Clock, w[h.rng.IntN(len(w))].Clock, w[h.rng.IntN(len(w))].Clock
		if b.Descends(a) && c.Descends(b) && !c.Descends(a) {
			h.fatalf("%v >= %v >= %v but not transitively", c, b, a)
		}
		if Compare(a, b) == Before && Compare(b, c) == Before && Compare(a, c) != Before {
			h.fatalf("%v < %v < %v but Compare(a, c) = %v", a, b, c, Compare(a, c))
		}
	}
}

// naiveCompare compares two clocks node by node, looking each node of
// either clock up in the other.
func naiveCompare(a, b Clock) Order {
	aBig, bBig := false, false
	for _, e := range a {
		if e.Counter > b.Counter(e.Node) {
			aBig = true
		}
	}
	for _, e := range b {
		if e.Counter > a.Counter(e.Node) {
			bBig = true
		}
	}
	switch {
	case aBig && bBig:
		return Concurrent
	case aBig:
		return After
	case bBig:
		return Before
	}
	return Equal
}

// checkAlgebra checks that Merge is commutative, associative and
// idempotent on sets drawn from the history: the nodes' sets and canonical
// reductions of random subsets of everything written.
func (h *history) checkAlgebra() {
	h.t.Helper()
	pick := func() Siblings {
		if h.rng.IntN(2) == 0 {
			return h.nodes[h.rng.IntN(len(h.nodes))].set
		}
		var sub []Version
		for i := range h.written {
			if h.rng.IntN(3) == 0 {
				sub = append(sub, h.written[i])
			}
		}
		// Built by Add in a random order; must equal the model whatever
		// the order.
		var s Siblings
		for _, i := range h.rng.Perm(len(sub)) {
			s = s.Add(sub[i])
		}
		if want := naiveReconcile(sub); !s.Equal(want) {
			h.fatalf("Adds in random order give %q, model says %q", values(s), values(want))
		}
		return s
	}
	for range 3 {
		a, b, c := pick(), pick(), pick()
		ca, cb, cc := cloneSiblings(a), cloneSiblings(b), cloneSiblings(c)
		ab := Merge(a, b)
		if ba := Merge(b, a); !ab.Equal(ba) {
			h.fatalf("not commutative: %q+%q = %q, reverse %q", values(a), values(b), values(ab), values(ba))
		}
		left, right := Merge(ab, c), Merge(a, Merge(b, c))
		if !left.Equal(right) {
			h.fatalf("not associative: (%q+%q)+%q = %q, a+(b+c) = %q", values(a), values(b), values(c), values(left), values(right))
		}
		if aa := Merge(a, a); !aa.Equal(a) {
			h.fatalf("not idempotent: %q+itself = %q", values(a), values(aa))
		}
		if again := Merge(ab, b); !again.Equal(ab) {
			h.fatalf("merging b again changes a+b: %q -> %q", values(ab), values(again))
		}
		if why := canonical(left); why != "" {
			h.fatalf("merge result %q not canonical: %s", values(left), why)
		}
		if !identical(a, ca) || !identical(b, cb) || !identical(c, cc) {
			h.fatalf("Merge modified an input")
		}
		// Every canonical set round-trips through the record encoding and
		// its clock through a context token.
		enc := left.AppendBinary(nil)
		dec, err := Decode(enc)
		if err != nil || !dec.Equal(left) {
			h.fatalf("record round trip of %q: %q, %v", values(left), values(dec), err)
		}
		tok := EncodeContext(left.Clock())
		if c, err := DecodeContext(tok); err != nil || c.String() != left.Clock().String() {
			h.fatalf("context round trip of %v: %v, %v", left.Clock(), c, err)
		}
	}
}

// TestMergeRandomSets checks the merge laws on sets of versions with
// unrelated random clocks (equal clocks, dominated versions and siblings
// galore), not just ones a history would produce.
func TestMergeRandomSets(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	for kase := range 3000 {
		var vs []Version
		for range 1 + rng.IntN(8) {
			vs = append(vs, randomVersion(rng, 3, 3))
		}
		var sets [3]Siblings
		for i := range vs {
			k := rng.IntN(3)
			sets[k] = sets[k].Add(vs[i])
		}
		a, b, c := sets[0], sets[1], sets[2]
		fail := func(what string, got, want Siblings) {
			t.Fatalf("seed %d case %d: %s: got %q, want %q\nversions %s", seed, kase, what, values(got), values(want), describe(vs))
		}
		want := naiveReconcile(vs)
		if got := Merge(Merge(a, b), c); !got.Equal(want) {
			fail("(a+b)+c vs model", got, want)
		}
		if got := Merge(a, Merge(b, c)); !got.Equal(want) {
			fail("a+(b+c) vs model", got, want)
		}
		if got := Merge(Merge(c, a), b); !got.Equal(want) {
			fail("(c+a)+b vs model", got, want)
		}
		if got, want := Merge(a, b), Merge(b, a); !got.Equal(want) {
			fail("a+b vs b+a", got, want)
		}
		if got := Merge(a, a); !got.Equal(a) {
			fail("a+a", got, a)
		}
		if why := canonical(want); why != "" {
			t.Fatalf("seed %d case %d: model not canonical: %s", seed, kase, why)
		}
	}
}

// randomVersion makes a version whose clock draws from nodes nodes with
// counters up to maxCounter, so that collisions are common.
func randomVersion(rng *rand.Rand, nodes, maxCounter int) Version {
	var c Clock
	for i := range nodes {
		if rng.IntN(2) == 0 {
			c = append(c, Entry{Node: string(rune('a' + i)), Counter: 1 + rng.Uint64N(uint64(maxCounter)), Stamp: HLC(rng.IntN(3))})
		}
	}
	v := Version{
		Clock:     c,
		Timestamp: HLC(rng.IntN(4)),
		Writer:    string(rune('a' + rng.IntN(nodes))),
		Kind:      KindString,
		Value:     []byte{byte('0' + rng.IntN(3))},
	}
	switch rng.IntN(6) {
	case 0:
		v.Tombstone, v.Kind, v.Value = true, 0, nil
	case 1:
		v.ExpireAt = rng.Int64N(3)
	}
	return v
}

func describe(vs []Version) string {
	out := ""
	for _, v := range vs {
		out += fmt.Sprintf("\n  %v ts %d writer %s del %v exp %d value %q", v.Clock, v.Timestamp, v.Writer, v.Tombstone, v.ExpireAt, v.Value)
	}
	return out
}
