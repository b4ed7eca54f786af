package engine

import (
	"testing"

	"github.com/ringstore/ringstore/version"
)

// TestFlushBarrier: after FlushBefore, merges of versions written before
// the barrier are dropped (a replica write, hint or repair arriving late)
// while later ones are kept, other databases are untouched, and the barrier
// survives a restart and never moves back.
func TestFlushBarrier(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "before"))
	mustMerge(t, s, 1, "k", ver("a", 1, t0, "other db"))
	barrier := version.MakeHLC(t0+10, 0)
	if err := s.FlushBefore(0, barrier); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("flushed key reads %q", values(got))
	}
	if got := mustMerge(t, s, 0, "late", ver("a", 2, t0+5, "late copy")); got != nil {
		t.Fatalf("a version from before the barrier was stored: %q", values(got))
	}
	if got := mustGet(t, s, 1, "k"); len(got) != 1 {
		t.Fatal("FLUSHDB of db 0 touched db 1")
	}
	s = reopen(t, s)
	if got := mustMerge(t, s, 0, "late", ver("b", 1, t0+9, "after restart")); got != nil {
		t.Fatalf("the barrier did not survive a restart: %q stored", values(got))
	}
	if got := mustMerge(t, s, 0, "new", ver("a", 3, t0+10, "new")); len(got) != 1 {
		t.Fatal("a version written at the barrier was dropped")
	}
	if err := s.FlushBefore(-1, version.MakeHLC(t0+1, 0)); err != nil {
		t.Fatal(err)
	}
	if s.Barrier(0) != barrier || s.Barrier(1) != version.MakeHLC(t0+1, 0) {
		t.Fatalf("barriers %v and %v after an older FLUSHALL", s.Barrier(0), s.Barrier(1))
	}
	if got := mustGet(t, s, 1, "k"); got != nil {
		t.Fatal("FLUSHALL left db 1")
	}
}
