package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

const grace = time.Hour

func withGrace(c *Config) { c.TombstoneGrace = grace }

// expiring is a version written at ms that expires ttl later.
func expiring(node string, counter uint64, ms int64, ttl time.Duration, val string) version.Version {
	v := ver(node, counter, ms, val)
	v.ExpireAt = ms + ttl.Milliseconds()
	return v
}

func TestExpiryTombstoneThenPurge(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace)
	v := expiring("a", 1, t0, time.Second, "soon gone")
	mustMerge(t, s, 0, "k", v)

	s.expireCycle()
	if got := mustGet(t, s, 0, "k"); !got.Equal(version.Siblings{v}) {
		t.Fatalf("live record changed by expiry: %v", values(got))
	}

	// Expired: invisible at once, before any cycle.
	clk.Set(v.ExpireAt)
	if got := mustGet(t, s, 0, "k"); len(got) != 1 || string(got[0].Value) != "soon gone" {
		t.Fatalf("before the cycle the record is stored as written: %v", values(got))
	} else if _, ok := got.Visible(v.ExpireAt); ok {
		t.Fatal("expired version is visible")
	}

	// A cycle turns it into a tombstone with the same clock and no value.
	s.expireCycle()
	got := mustGet(t, s, 0, "k")
	if len(got) != 1 || !got[0].Tombstone || len(got[0].Value) != 0 ||
		version.Compare(got[0].Clock, v.Clock) != version.Equal || got[0].Timestamp != v.Timestamp {
		t.Fatalf("after the cycle: %+v, want a tombstone with the version's clock", got)
	}
	if st := s.Stats(); st.ExpiredPurged != 1 || st.TombstonesPurged != 0 {
		t.Fatalf("stats %+v, want ExpiredPurged 1", st)
	}

	// A replica's copy of the expired value does not come back.
	out := mustMerge(t, s, 0, "k", v)
	if len(out) != 1 || !out[0].Tombstone {
		t.Fatalf("merging the old value back gives %v", values(out))
	}

	// Kept for the grace period from the expiry, then purged.
	clk.Set(v.ExpireAt + grace.Milliseconds() - 1)
	s.expireCycle()
	if got := mustGet(t, s, 0, "k"); len(got) != 1 {
		t.Fatalf("tombstone purged before its grace ended: %v", values(got))
	}
	clk.Set(v.ExpireAt + grace.Milliseconds())
	s.expireCycle()
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("tombstone kept past its grace: %v", values(got))
	}
	if st := s.Stats(); st.ExpiredPurged != 1 || st.TombstonesPurged != 1 {
		t.Fatalf("stats %+v, want ExpiredPurged 1 and TombstonesPurged 1", st)
	}
}

func TestExpiryPurgesDeleteTombstones(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace)
	v := ver("a", 1, t0, "v")
	mustMerge(t, s, 0, "k", v)
	del := after(version.Siblings{v}, "a", t0+10, "")
	del.Tombstone = true
	mustMerge(t, s, 0, "k", del)

	clk.Set(t0 + 10 + grace.Milliseconds() - 1)
	s.expireCycle()
	if got := mustGet(t, s, 0, "k"); len(got) != 1 || !got[0].Tombstone {
		t.Fatalf("tombstone inside grace: %v", values(got))
	}
	clk.Set(t0 + 10 + grace.Milliseconds())
	s.expireCycle()
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("tombstone past grace: %v", values(got))
	}
	if st := s.Stats(); st.TombstonesPurged != 1 || st.ExpiredPurged != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExpiryLeavesLiveVersions(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace)
	live := ver("a", 1, t0, "live")
	gone := expiring("b", 1, t0, time.Second, "gone")
	tomb := ver("c", 1, t0-2*grace.Milliseconds(), "")
	tomb.Tombstone = true
	mustMerge(t, s, 0, "persistent", live)
	mustMerge(t, s, 0, "mixed", live, gone)
	mustMerge(t, s, 0, "mixed", tomb) // an old tombstone beside a live value

	clk.Set(t0 + 10*grace.Milliseconds())
	s.expireCycle()
	if got := mustGet(t, s, 0, "persistent"); !got.Equal(version.Siblings{live}) {
		t.Fatalf("persistent: %v", values(got))
	}
	// The expired sibling loses its value; the live one and the tombstone
	// stay, and the record is not purged while any version lives.
	got := mustGet(t, s, 0, "mixed")
	if vals := values(got); len(vals) != 3 || !slices.Contains(vals, "live") || slices.Contains(vals, "gone") {
		t.Fatalf("mixed: %v", vals)
	}
	if live := got.Live(clk.Now().UnixMilli()); len(live) != 1 || string(live[0].Value) != "live" {
		t.Fatalf("mixed live siblings: %v", values(live))
	}
}

func TestExpiryBudgetBoundsEachCycle(t *testing.T) {
	clk := newFakeClock(t0)
	const budget, n = 30, 100
	s := newTestStore(t, clk, withGrace, func(c *Config) { c.ExpireBudget = budget })
	for i := range n {
		mustMerge(t, s, 0, fmt.Sprintf("key%d", i), expiring("a", 1, t0, time.Second, "v"))
	}
	clk.Set(t0 + 2000)
	var cycles int
	for prev := s.Stats(); prev.ExpiredPurged < n; prev = s.Stats() {
		if cycles++; cycles > n/budget+1 {
			t.Fatalf("%d cycles converted only %d of %d records", cycles-1, prev.ExpiredPurged, n)
		}
		s.expireCycle()
		st := s.Stats()
		examined := st.ExpireExamined - prev.ExpireExamined
		if examined > budget {
			t.Fatalf("cycle %d examined %d records, budget %d", cycles, examined, budget)
		}
		// Every record needs converting, so each full cycle converts exactly
		// its budget: the cursor continues where the previous one stopped.
		want := min(uint64(budget), n-prev.ExpiredPurged)
		if got := st.ExpiredPurged - prev.ExpiredPurged; got != want {
			t.Fatalf("cycle %d converted %d records, want %d", cycles, got, want)
		}
	}
	if cycles != (n+budget-1)/budget {
		t.Fatalf("took %d cycles, want %d", cycles, (n+budget-1)/budget)
	}
	// The walk wrapped around: the next cycle starts from the beginning.
	s.expireCycle()
	if st := s.Stats(); st.ExpireExamined != n+budget {
		t.Fatalf("after wrapping, ExpireExamined = %d, want %d", st.ExpireExamined, n+budget)
	}
}

func TestExpiryNeverOverwritesAConcurrentWrite(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace)
	old := expiring("a", 1, t0, time.Second, "old")
	mustMerge(t, s, 0, "k", old)
	clk.Set(t0 + 5000)

	// The cycle examines the expired record, then a write lands before it
	// acts: the action must be dropped, not applied over the new write.
	s.expireMu.Lock()
	tasks, _ := s.examineForExpiry()
	s.expireMu.Unlock()
	if len(tasks) != 1 {
		t.Fatalf("planned %d actions, want 1", len(tasks))
	}
	fresh := after(version.Siblings{old}, "a", t0+5000, "fresh")
	mustMerge(t, s, 0, "k", fresh)
	s.applyExpiry(&tasks[0])

	if got := mustGet(t, s, 0, "k"); !got.Equal(version.Siblings{fresh}) {
		t.Fatalf("after a stale expiry action: %v, want [fresh]", values(got))
	}
	if st := s.Stats(); st.ExpireSkipped != 1 || st.ExpiredPurged != 0 {
		t.Fatalf("stats %+v, want one skipped action", st)
	}
}

func TestExpiryRunsInBackground(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace, func(c *Config) { c.ExpireInterval = time.Millisecond })
	mustMerge(t, s, 0, "k", expiring("a", 1, t0, time.Second, "v"))
	clk.Set(t0 + 2000)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().ExpiredPurged == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("background expiry did not run: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if got := mustGet(t, s, 0, "k"); len(got) != 1 || !got[0].Tombstone {
		t.Fatalf("after background expiry: %v", values(got))
	}
}

func TestPlanExpiryKeepsRecordsCanonical(t *testing.T) {
	// Concurrent siblings, some expired: converting keeps a valid set in the
	// same order, so the rewritten record decodes.
	a := expiring("a", 1, t0, time.Second, "a")
	b := ver("b", 1, t0+1, "b")
	c := expiring("c", 1, t0+2, time.Millisecond, "c")
	sib := version.Merge(version.Merge(version.Siblings{a}, version.Siblings{b}), version.Siblings{c})
	next, remove, drops := planExpiry(sib, t0+5000, grace.Milliseconds())
	if remove || !drops || len(next) != 3 {
		t.Fatalf("plan = %v, remove %v, drops %v", values(next), remove, drops)
	}
	if err := checkSiblings(next); err != nil {
		t.Fatalf("converted set: %v", err)
	}
	dec, err := version.Decode(next.AppendBinary(nil))
	if err != nil || !dec.Equal(next) {
		t.Fatalf("converted set does not round-trip: %v", err)
	}
	// Visibility is unchanged: the last writer (c) was expired and still hides b.
	if _, ok := next.Visible(t0 + 5000); ok {
		t.Fatal("conversion made a hidden sibling visible")
	}
}

func TestExpiryWalksSlowerAfterAnIdlePass(t *testing.T) {
	clk := newFakeClock(t0)
	const budget, n = 32, 100
	s := newTestStore(t, clk, withGrace, func(c *Config) { c.ExpireBudget = budget })
	for i := range n {
		// A TTL, far off: a record the walk reads, with nothing to do.
		mustMerge(t, s, 0, fmt.Sprintf("key%d", i), expiring("a", 1, t0, time.Hour, "v"))
	}
	examined := func() uint64 { return s.Stats().ExpireExamined }
	// A whole pass at full budget finds nothing to do...
	for range (n + budget - 1) / budget {
		before := examined()
		s.expireCycle()
		if got := examined() - before; got == 0 || got > budget {
			t.Fatalf("a busy-mode cycle examined %d records, budget %d", got, budget)
		}
	}
	// ...so the next pass examines budget/idleExpireDivisor a cycle.
	before := examined()
	s.expireCycle()
	if got, want := examined()-before, uint64(budget/idleExpireDivisor); got != want {
		t.Fatalf("after an idle pass a cycle examined %d records, want %d", got, want)
	}
	// A record to expire turns full speed back on once a cycle finds it.
	mustMerge(t, s, 0, "key0", expiring("a", 2, t0, time.Second, "v"))
	clk.Set(t0 + 2000)
	for s.Stats().ExpiredPurged == 0 {
		s.expireCycle()
	}
	before = examined()
	s.expireCycle()
	// (It may stop short of the budget at the end of the data.)
	if got := examined() - before; got <= budget/idleExpireDivisor {
		t.Fatalf("after finding work a cycle examined %d records, want up to the full %d", got, budget)
	}
}

// TestExpirePacer: passes that find nothing wait twice as long each time,
// up to maxIdlePassWait; a pass that finds something ends the waits, and a
// cycle that does not end a pass changes nothing.
func TestExpirePacer(t *testing.T) {
	step := 100 * time.Millisecond
	p := expirePacer{step: step}
	now := time.Unix(1000, 0)
	if p.holds(now) {
		t.Fatal("a new pacer holds")
	}
	p.cycled(now, false, true)
	if p.holds(now) {
		t.Fatal("held after a cycle that ended no pass")
	}
	want := step
	for range 12 {
		p.cycled(now, true, true)
		if !p.holds(now.Add(want-time.Nanosecond)) || p.holds(now.Add(want)) {
			t.Fatalf("after an idle pass: wait %v, want %v", p.wait, want)
		}
		now = now.Add(want)
		want = min(2*want, maxIdlePassWait)
	}
	if p.wait != maxIdlePassWait {
		t.Fatalf("wait %v, want the cap %v", p.wait, maxIdlePassWait)
	}
	p.cycled(now, true, false)
	if p.holds(now) || p.wait != 0 {
		t.Fatalf("after a pass that found work: holds %v, wait %v", p.holds(now), p.wait)
	}
}

// TestIdleExpiryBacksOff: on a store with nothing to expire, the background
// walk does not read every record every cycle. With a 1 ms cycle over 20
// records, half a second of cycles without pacing examines thousands of
// records; paced, about a dozen passes (wait 1, 2, 4, ... ms).
func TestIdleExpiryBacksOff(t *testing.T) {
	s := newTestStore(t, nil, func(c *Config) { c.ExpireInterval = time.Millisecond })
	// Keys with a TTL, far off: records the walk reads, with nothing to do.
	for i := range 20 {
		mustMerge(t, s, 0, fmt.Sprint("k", i), expiring("a", uint64(i+1), time.Now().UnixMilli(), time.Hour, "v"))
	}
	// Let the first passes go by, then count.
	for deadline := time.Now().Add(10 * time.Second); s.Stats().ExpireExamined < 40; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the walk examined %d records in 10 s", s.Stats().ExpireExamined)
		}
	}
	before := s.Stats().ExpireExamined
	time.Sleep(500 * time.Millisecond)
	if n := s.Stats().ExpireExamined - before; n > 400 {
		t.Fatalf("an idle walk examined %d records in 500 ms", n)
	}
}

// TestExpiryWalkReadsOnlyMortalSlots checks that the walk passes over the
// slots and databases that hold no record with a TTL or a tombstone, and
// still finds every record that needs it.
func TestExpiryWalkReadsOnlyMortalSlots(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace, func(c *Config) { c.ExpireBudget = 100 })
	for i := range 3000 {
		mustMerge(t, s, i%3, fmt.Sprint("plain", i), ver("a", 1, t0, "v"))
	}
	mortal := 0
	for i := range 4 {
		mustMerge(t, s, i%3, fmt.Sprint("ttl", i), expiring("a", 1, t0, time.Second, "v"))
		mortal++
	}
	del := ver("a", 1, t0, "")
	del.Tombstone, del.Value = true, nil
	mustMerge(t, s, 1, "deleted", del)
	mortal++

	// A pass reads the mortal records and the few plain ones that share a
	// slot and db with them.
	if n := expirePass(t, s, ""); n > uint64(4*mortal) {
		t.Fatalf("a pass over %d records, %d of them mortal, examined %d", 3000+mortal, mortal, n)
	}
	clk.Advance(2 * time.Second)
	expirePass(t, s, "")
	if st := s.Stats(); st.ExpiredPurged != 4 {
		t.Fatalf("ExpiredPurged = %d after the TTLs ran out, want 4", st.ExpiredPurged)
	}
	clk.Advance(grace + time.Second)
	expirePass(t, s, "")
	if st := s.Stats(); st.TombstonesPurged != 5 {
		t.Fatalf("TombstonesPurged = %d past the grace period, want 5", st.TombstonesPurged)
	}
	// With nothing mortal left, a pass reads nothing.
	if n := expirePass(t, s, ""); n != 0 {
		t.Fatalf("a pass with no mortal record examined %d", n)
	}
}

// TestExpiryPassReadsEachMortalRangeOnce checks the walk's cursor across
// cycles of every small budget: a pass reads every record of each slot and
// database holding a mortal record exactly once, whatever record or range
// boundary a cycle stops at, including the last database (255) of a slot
// and the last slot.
func TestExpiryPassReadsEachMortalRangeOnce(t *testing.T) {
	slots := []uint16{0, 1, 255, 256, 511, 9000, 16383}
	dbs := []int{0, 1, 254, 255}
	type place struct {
		db   int
		slot uint16
	}
	var places []place // in a fixed order, so that which are mortal is too
	keys := map[place][]string{}
	for i, slot := range slots {
		for j, db := range dbs {
			p := place{db, slot}
			places = append(places, p)
			for n := range (i+j)%3 + 1 {
				keys[p] = append(keys[p], prefixedKeyInSlot(fmt.Sprint("k", db, "_", n, "_"), slot))
			}
		}
	}
	for budget := 1; budget <= 7; budget++ {
		clk := newFakeClock(t0)
		s := newTestStore(t, clk, withGrace, func(c *Config) { c.ExpireBudget = budget; c.Databases = 256 })
		want := 0
		i := 0
		for _, p := range places {
			ks := keys[p]
			mortal := i%2 == 0
			i++
			for _, k := range ks {
				v := ver("a", 1, t0, "v")
				if mortal {
					v.ExpireAt = t0 + time.Hour.Milliseconds()
				}
				mustMerge(t, s, p.db, k, v)
			}
			if mortal {
				want += len(ks)
			}
		}
		for pass := range 3 {
			if got := int(expirePass(t, s, fmt.Sprintf("budget %d: ", budget))); got != want {
				t.Errorf("budget %d, pass %d: examined %d records, want the %d mortal ranges hold", budget, pass, got, want)
			}
		}
	}
}

// TestExpiryWalkPastTheLastDatabase checks a walk over a mortal record in
// database 255 of slots whose low byte is 0xff, where the range's end has
// the shortest key (the walk once read it as slot 0 and went round for
// good), and that it goes on to purge a later slot's expired value.
func TestExpiryWalkPastTheLastDatabase(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace, func(c *Config) { c.Databases = 256; c.ExpireBudget = 3 })
	for _, slot := range []uint16{0x00ff, 0x3fff} {
		mustMerge(t, s, 255, prefixedKeyInSlot("last", slot), expiring("a", 1, t0, time.Hour, "v"))
	}
	mustMerge(t, s, 0, prefixedKeyInSlot("early", 5), expiring("a", 1, t0, time.Hour, "v"))
	mustMerge(t, s, 0, prefixedKeyInSlot("late", 9000), expiring("a", 1, t0, time.Second, "v"))
	clk.Advance(2 * time.Second)
	if passes := passesEnded(s, 20); passes < 3 || s.Stats().ExpiredPurged != 1 {
		t.Fatalf("20 cycles of 3 over 4 mortal records: %d passes ended, %d expired values purged; want several and 1", passes, s.Stats().ExpiredPurged)
	}
}

// TestBrokenCountsWalkReachesEveryDatabase checks the walk of a store whose
// counts cannot be trusted: it reads every record, those of databases past
// Config.Databases included (left by a larger setting), and purges them
// without touching counts they have none of.
func TestBrokenCountsWalkReachesEveryDatabase(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace, func(c *Config) { c.Databases = 32 })
	mustMerge(t, s, 20, "k", expiring("a", 1, t0, time.Second, "v"))
	s.cfg.Databases = 16
	s = reopen(t, s)
	clk.Advance(2 * time.Second)
	s.expireCycle()
	if n := s.Stats().ExpiredPurged; n != 0 {
		t.Fatalf("the walk purged %d records of a database past Config.Databases with trusted counts", n)
	}
	s.counts.broken.Store(true)
	s.expireCycle()
	if n := s.Stats().ExpiredPurged; n != 1 {
		t.Fatalf("a walk with broken counts purged %d records, want 1", n)
	}
}

// TestExpiryWalkGetsPastEmptyRanges checks that ranges the counts list as
// mortal but that hold no record (counts gone wrong) cost the walk budget
// but never stop it: a cycle whose budget they use up still moves the walk
// past them, so passes end and a later expired value is purged.
func TestExpiryWalkGetsPastEmptyRanges(t *testing.T) {
	for budget := 1; budget <= 3; budget++ {
		clk := newFakeClock(t0)
		s := newTestStore(t, clk, withGrace, func(c *Config) { c.ExpireBudget = budget })
		mustMerge(t, s, 0, prefixedKeyInSlot("late", 9000), expiring("a", 1, t0, time.Second, "v"))
		for _, slot := range []uint16{10, 20, 30} {
			s.counts.table(0)[slot].mortal.Add(1) // no record there
		}
		clk.Advance(2 * time.Second)
		if passes := passesEnded(s, 30); passes < 2 || s.Stats().ExpiredPurged != 1 {
			t.Errorf("budget %d: 30 cycles ended %d passes and purged %d values; want several and 1", budget, passes, s.Stats().ExpiredPurged)
		}
	}
}

// expirePass runs expiry cycles until one ends a pass, and returns the
// records they examined; it fails the test (what prefixing the message)
// after 1000 cycles.
func expirePass(t *testing.T, s *Store, what string) uint64 {
	t.Helper()
	before := s.Stats().ExpireExamined
	for range 1000 {
		if ended, _ := s.expireCycle(); ended {
			return s.Stats().ExpireExamined - before
		}
	}
	t.Fatalf("%sno pass ended in 1000 cycles", what)
	return 0
}

// passesEnded runs n expiry cycles and returns how many ended a pass.
func passesEnded(s *Store, n int) int {
	passes := 0
	for range n {
		if ended, _ := s.expireCycle(); ended {
			passes++
		}
	}
	return passes
}
