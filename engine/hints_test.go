package engine

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ringstore/ringstore/version"
)

func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	cfg := s.cfg
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func mustPutHint(t *testing.T, s *Store, target string, db int, key string, sib ...version.Version) {
	t.Helper()
	if err := s.PutHint(target, db, []byte(key), sib); err != nil {
		t.Fatalf("PutHint(%q, %d, %q): %v", target, db, key, err)
	}
}

func TestHintsRoundTrip(t *testing.T) {
	s := newTestStore(t, nil)
	v1 := ver("n1", 1, t0, "one")
	v2 := after(version.Siblings{v1}, "n1", t0+1, "two")
	mustPutHint(t, s, "n2", 0, "k", v1)
	mustPutHint(t, s, "n3", 4, "\x00bin\xff", v1)
	mustPutHint(t, s, "n2", 0, "k", v2) // same key again: a hint of its own
	mustPutHint(t, s, "n2", 1, "", v1)  // empty key
	mustPutHint(t, s, "n22", 0, "other", v1)

	hints, err := s.Hints("n2", 0)
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		db   int
		key  string
		vals string
	}
	var got []brief
	for i, h := range hints {
		if h.Target != "n2" {
			t.Errorf("hint %d target %q", i, h.Target)
		}
		if i > 0 && h.Seq <= hints[i-1].Seq {
			t.Errorf("hints out of order: seq %d after %d", h.Seq, hints[i-1].Seq)
		}
		got = append(got, brief{h.DB, string(h.Key), values(h.Siblings)[0]})
	}
	want := []brief{{0, "k", "one"}, {0, "k", "two"}, {1, "", "one"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Hints(n2) = %+v, want %+v", got, want)
	}
	if !hints[1].Siblings.Equal(version.Siblings{v2}) {
		t.Fatalf("hint siblings %+v, want %+v", hints[1].Siblings, v2)
	}
	if page, _ := s.Hints("n2", 2); len(page) != 2 || page[0].Seq != hints[0].Seq {
		t.Fatalf("Hints(n2, 2) = %d hints", len(page))
	}
	if none, err := s.Hints("nobody", 0); err != nil || len(none) != 0 {
		t.Fatalf("Hints(nobody) = %v, %v", none, err)
	}

	wantCounts := map[string]int{"n2": 3, "n3": 1, "n22": 1}
	if c, _ := s.HintCounts(); !maps.Equal(c, wantCounts) {
		t.Fatalf("HintCounts = %v, want %v", c, wantCounts)
	}
	if err := s.DeleteHint(hints[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteHint(hints[0]); err != nil { // already gone
		t.Fatalf("second DeleteHint: %v", err)
	}
	wantCounts["n2"] = 2
	if c, _ := s.HintCounts(); !maps.Equal(c, wantCounts) {
		t.Fatalf("after DeleteHint, HintCounts = %v, want %v", c, wantCounts)
	}
	left, _ := s.Hints("n2", 0)
	if len(left) != 2 || left[0].Seq != hints[1].Seq {
		t.Fatalf("after DeleteHint, Hints = %+v", left)
	}

	// Hints survive a restart, counts are rebuilt and sequence numbers keep
	// increasing.
	s = reopen(t, s)
	if c, _ := s.HintCounts(); !maps.Equal(c, wantCounts) {
		t.Fatalf("after reopen, HintCounts = %v, want %v", c, wantCounts)
	}
	again, _ := s.Hints("n2", 0)
	if len(again) != 2 || again[0].Seq != left[0].Seq || !again[1].Siblings.Equal(left[1].Siblings) {
		t.Fatalf("after reopen, Hints = %+v", again)
	}
	mustPutHint(t, s, "n2", 0, "new", v1)
	newest, _ := s.Hints("n2", 0)
	if last := newest[len(newest)-1]; string(last.Key) != "new" || last.Seq <= hints[len(hints)-1].Seq {
		t.Fatalf("new hint after reopen: %+v (old max seq %d)", last, hints[len(hints)-1].Seq)
	}
	for _, h := range newest {
		if err := s.DeleteHint(h); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := s.HintCounts(); c["n2"] != 0 || len(c) != 2 {
		t.Fatalf("after deleting all of n2: %v", c)
	}
}

func TestHintRejectsBadInput(t *testing.T) {
	s := newTestStore(t, nil)
	v := ver("a", 1, t0, "v")
	if err := s.PutHint("", 0, []byte("k"), version.Siblings{v}); err == nil {
		t.Error("empty target accepted")
	}
	if err := s.PutHint("n", 0, []byte("k"), nil); !errors.Is(err, ErrInvalidSiblings) {
		t.Errorf("empty siblings: %v", err)
	}
	bad := v
	bad.Clock = version.Clock{{Node: "a"}}
	if err := s.PutHint("n", 0, []byte("k"), version.Siblings{bad}); !errors.Is(err, ErrInvalidSiblings) {
		t.Errorf("bad clock: %v", err)
	}
	if c, _ := s.HintCounts(); len(c) != 0 {
		t.Errorf("rejected hints counted: %v", c)
	}
}

func TestCorruptHint(t *testing.T) {
	s := newTestStore(t, nil)
	mustPutHint(t, s, "n", 0, "k", ver("a", 1, t0, "v"))
	if err := s.db.Set(appendHintKey(nil, "n", 99), []byte{0, 200}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_, err := s.Hints("n", 0)
	if !errors.Is(err, version.ErrCorrupt) {
		t.Fatalf("Hints over a corrupt hint = %v, want ErrCorrupt", err)
	}
	if err := s.DeleteHint(Hint{Target: "n", Seq: 99}); err != nil {
		t.Fatal(err)
	}
	if hs, err := s.Hints("n", 0); err != nil || len(hs) != 1 {
		t.Fatalf("after deleting the corrupt hint: %d hints, %v", len(hs), err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	s := newTestStore(t, nil, func(c *Config) { c.FS = fs })
	if v, ok, err := s.GetMeta("node-id"); err != nil || ok || v != nil {
		t.Fatalf("absent meta = %q, %v, %v", v, ok, err)
	}
	if err := s.PutMeta("node-id", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("ring-log", []byte("\x00\x01log")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("empty", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("node-id", []byte("n1-renamed")); err != nil {
		t.Fatal(err)
	}
	// Meta names do not collide with data keys of the same bytes.
	mustMerge(t, s, 0, "node-id", ver("a", 1, t0, "data"))
	s = reopen(t, s)
	for name, want := range map[string]string{"node-id": "n1-renamed", "ring-log": "\x00\x01log", "empty": ""} {
		v, ok, err := s.GetMeta(name)
		if err != nil || !ok || string(v) != want {
			t.Errorf("GetMeta(%q) = %q, %v, %v; want %q", name, v, ok, err, want)
		}
	}
	v, _, _ := s.GetMeta("node-id")
	v[0] = 'X'
	if again, _, _ := s.GetMeta("node-id"); string(again) != "n1-renamed" {
		t.Errorf("modifying a GetMeta result changed the store: %q", again)
	}
	if err := s.PutMeta("", []byte("x")); err == nil {
		t.Error("empty meta name accepted")
	}
}
