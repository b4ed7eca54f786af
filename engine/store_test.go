package engine

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

func TestMergeGetRoundTrip(t *testing.T) {
	s := newTestStore(t, nil)
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("Get of absent key = %v, want nil", got)
	}
	v1 := ver("a", 1, t0, "one")
	out := mustMerge(t, s, 0, "k", v1)
	if !out.Equal(version.Siblings{v1}) {
		t.Fatalf("Merge returned %v, want [one]", values(out))
	}
	got := mustGet(t, s, 0, "k")
	if !got.Equal(version.Siblings{v1}) {
		t.Fatalf("Get = %+v, want %+v", got, v1)
	}

	v2 := after(got, "a", t0+1, "two")
	mustMerge(t, s, 0, "k", v2)
	if got := mustGet(t, s, 0, "k"); !got.Equal(version.Siblings{v2}) {
		t.Fatalf("after superseding write Get = %v, want [two]", values(got))
	}

	// A stale copy of v1 changes nothing and writes nothing.
	before := s.Stats()
	out = mustMerge(t, s, 0, "k", v1)
	if !out.Equal(version.Siblings{v2}) {
		t.Fatalf("stale Merge returned %v, want [two]", values(out))
	}
	st := s.Stats()
	if st.RecordsWritten != before.RecordsWritten || st.MergesUnchanged != before.MergesUnchanged+1 {
		t.Fatalf("stale Merge: stats %+v -> %+v, want one unchanged merge and no write", before, st)
	}
}

func TestMergeKeepsConcurrentSiblings(t *testing.T) {
	s := newTestStore(t, nil)
	va := ver("a", 1, t0, "from-a")
	vb := ver("b", 1, t0+5, "from-b")
	mustMerge(t, s, 0, "k", va)
	out := mustMerge(t, s, 0, "k", vb)
	want := version.Merge(version.Siblings{va}, version.Siblings{vb})
	if len(want) != 2 || !out.Equal(want) {
		t.Fatalf("Merge of concurrent versions = %v, want both", values(out))
	}
	if got := mustGet(t, s, 0, "k"); !got.Equal(want) {
		t.Fatalf("Get = %v, want %v", values(got), values(want))
	}
	if v, ok := mustGet(t, s, 0, "k").Visible(t0 + 10); !ok || string(v.Value) != "from-b" {
		t.Fatalf("Visible = %q, %v, want the last writer from-b", v.Value, ok)
	}

	// A write that saw both siblings replaces them.
	vc := after(want, "a", t0+10, "resolved")
	mustMerge(t, s, 0, "k", vc)
	if got := mustGet(t, s, 0, "k"); !got.Equal(version.Siblings{vc}) {
		t.Fatalf("after resolving write Get = %v, want [resolved]", values(got))
	}
}

func TestConcurrentMergesLoseNothing(t *testing.T) {
	s := newTestStore(t, nil)
	const writers, each = 8, 50
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			node := fmt.Sprintf("n%d", w)
			var err error
			for i := range each {
				// Each writer supersedes only its own previous write, so the
				// final set has exactly one sibling per writer.
				if _, err = s.Merge(0, []byte("hot"), version.Siblings{ver(node, uint64(i+1), t0+int64(i), node)}); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got := mustGet(t, s, 0, "hot")
	if len(got) != writers {
		t.Fatalf("got %d siblings %v, want one per writer (%d)", len(got), values(got), writers)
	}
	for _, v := range got {
		if v.Clock.Counter(v.Writer) != each {
			t.Errorf("writer %s: counter %d, want its last write %d", v.Writer, v.Clock.Counter(v.Writer), each)
		}
	}
}

func TestDatabasesAreIsolated(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "db0"))
	mustMerge(t, s, 15, "k", ver("a", 1, t0, "db15"))
	if got := values(mustGet(t, s, 0, "k")); !slices.Equal(got, []string{"db0"}) {
		t.Errorf("db 0: %v", got)
	}
	if got := values(mustGet(t, s, 15, "k")); !slices.Equal(got, []string{"db15"}) {
		t.Errorf("db 15: %v", got)
	}
	if got := mustGet(t, s, 1, "k"); got != nil {
		t.Errorf("db 1: %v, want nil", values(got))
	}
}

func TestDBOutOfRange(t *testing.T) {
	s := newTestStore(t, nil)
	sib := version.Siblings{ver("a", 1, t0, "v")}
	for _, db := range []int{-1, 16, 256, 1000} {
		calls := map[string]error{}
		_, calls["Get"] = s.Get(db, []byte("k"))
		_, calls["Merge"] = s.Merge(db, []byte("k"), sib)
		calls["ScanSlot"] = s.ScanSlot(db, 0, nil, func([]byte, version.Siblings) bool { return true })
		calls["FlushDB"] = s.FlushDB(db)
		calls["PutHint"] = s.PutHint("n1", db, []byte("k"), sib)
		for name, err := range calls {
			if !errors.Is(err, ErrDBRange) {
				t.Errorf("%s(db %d) = %v, want ErrDBRange", name, db, err)
			}
		}
	}
}

func TestBinaryAndEmptyKeys(t *testing.T) {
	s := newTestStore(t, nil)
	keys := []string{"", "\x00", "\x00\x00", "\xff", "\xff\xff\xff", "a\x00b", "{}", "{tag}x", "{tag}", "\r\n", strings.Repeat("k", 10000)}
	for i, k := range keys {
		mustMerge(t, s, 0, k, ver("a", 1, t0, fmt.Sprintf("v%d\x00\xff", i)))
	}
	for i, k := range keys {
		got := values(mustGet(t, s, 0, k))
		if want := fmt.Sprintf("v%d\x00\xff", i); !slices.Equal(got, []string{want}) {
			t.Errorf("key %q: %q, want %q", k, got, want)
		}
	}
	// An empty value is a value.
	mustMerge(t, s, 1, "empty", ver("a", 1, t0, ""))
	if got := mustGet(t, s, 1, "empty"); len(got) != 1 || len(got[0].Value) != 0 || got[0].Tombstone {
		t.Errorf("empty value: %+v", got)
	}
}

// TestResultsBelongToCaller checks what a caller may do with results: keep
// and modify everything but Get's Value bytes, which are the record cache's
// (read-only), and which appending to copies rather than overwrites.
func TestResultsBelongToCaller(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "value"))
	got := mustGet(t, s, 0, "k")
	if v := got[0].Value; cap(v) != len(v) {
		t.Fatalf("Get Value has spare capacity %d: appending would write into the cache", cap(v)-len(v))
	}
	_ = append(got[0].Value, "XXXXX"...)
	got[0].Clock[0].Counter = 99
	got[0].Writer = "x"
	got[0] = ver("b", 1, t0, "other")
	if again := mustGet(t, s, 0, "k"); !slices.Equal(values(again), []string{"value"}) || again[0].Clock[0].Counter != 1 || again[0].Writer != "a" {
		t.Fatalf("modifying a Get result changed the store: %q %v", values(again), again[0].Clock)
	}
	var kept [][]byte
	if err := s.ScanSlot(0, ring.Slot([]byte("k")), nil, func(k []byte, sib version.Siblings) bool {
		kept = append(kept, k)
		copy(sib[0].Value, "YYYYY")
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || string(kept[0]) != "k" {
		t.Fatalf("scan keys = %q", kept)
	}
	if again := values(mustGet(t, s, 0, "k")); !slices.Equal(again, []string{"value"}) {
		t.Fatalf("modifying a scanned record changed the store: %q", again)
	}
}

func TestMergeRejectsInvalidSiblings(t *testing.T) {
	s := newTestStore(t, nil)
	good := ver("a", 1, t0, "v")
	zeroCounter := good
	zeroCounter.Clock = version.Clock{{Node: "a", Counter: 0}}
	unsorted := good
	unsorted.Clock = version.Clock{{Node: "b", Counter: 1}, {Node: "a", Counter: 1}}
	longWriter := good
	longWriter.Writer = strings.Repeat("w", 300)
	longNode := good
	longNode.Clock = version.Clock{{Node: strings.Repeat("n", 300), Counter: 1}}
	newer := after(version.Siblings{good}, "a", t0+1, "v2")
	cases := map[string]version.Siblings{
		"zero counter":        {zeroCounter},
		"unsorted clock":      {unsorted},
		"long writer":         {longWriter},
		"long clock node":     {longNode},
		"dominated sibling":   {good, newer},
		"non-canonical order": {ver("b", 1, t0+5, "b"), ver("a", 1, t0, "a")},
	}
	for name, in := range cases {
		if _, err := s.Merge(0, []byte(name), in); !errors.Is(err, ErrInvalidSiblings) {
			t.Errorf("%s: Merge = %v, want ErrInvalidSiblings", name, err)
		}
		if got := mustGet(t, s, 0, name); got != nil {
			t.Errorf("%s: stored %v", name, values(got))
		}
	}
	// The same versions in canonical order are fine.
	if _, err := s.Merge(0, []byte("ok"), version.Merge(version.Siblings{ver("b", 1, t0+5, "b")}, version.Siblings{ver("a", 1, t0, "a")})); err != nil {
		t.Errorf("canonical concurrent pair: %v", err)
	}
}

func TestMergeNothingIntoAbsent(t *testing.T) {
	s := newTestStore(t, nil)
	out, err := s.Merge(0, []byte("k"), nil)
	if err != nil || out != nil {
		t.Fatalf("Merge(nil) = %v, %v; want nil, nil", out, err)
	}
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("stored %v", got)
	}
	if st := s.Stats(); st.RecordsWritten != 0 {
		t.Fatalf("RecordsWritten = %d", st.RecordsWritten)
	}
}

func TestClosed(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sib := version.Siblings{ver("a", 2, t0, "v")}
	calls := map[string]error{}
	calls["Close"] = s.Close()
	_, calls["Get"] = s.Get(0, []byte("k"))
	_, calls["Merge"] = s.Merge(0, []byte("k"), sib)
	calls["ScanSlot"] = s.ScanSlot(0, 0, nil, func([]byte, version.Siblings) bool { return true })
	calls["FlushDB"] = s.FlushDB(0)
	calls["FlushAll"] = s.FlushAll()
	calls["PutHint"] = s.PutHint("n", 0, []byte("k"), sib)
	_, calls["Hints"] = s.Hints("n", 0)
	calls["DeleteHint"] = s.DeleteHint(Hint{Target: "n", Seq: 1})
	_, calls["HintCounts"] = s.HintCounts()
	_, _, calls["GetMeta"] = s.GetMeta("m")
	calls["PutMeta"] = s.PutMeta("m", nil)
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if ErrClosed.Error() != "engine: closed" {
		t.Errorf("ErrClosed reads %q", ErrClosed)
	}
	_ = s.Stats() // still works
}

func TestCloseWaitsForScan(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "v"))
	inScan := make(chan struct{})
	release := make(chan struct{})
	scanErr := make(chan error, 1)
	go func() {
		scanErr <- s.ScanSlot(0, ring.Slot([]byte("k")), nil, func([]byte, version.Siblings) bool {
			close(inScan)
			<-release
			// Re-entering the store from a callback works while Close waits.
			_, err := s.Get(0, []byte("k"))
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Get inside scan: %v", err)
			}
			return true
		})
	}()
	<-inScan
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a scan was running", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-scanErr; err != nil {
		t.Fatalf("scan: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestParseFsync(t *testing.T) {
	for in, want := range map[string]FsyncPolicy{"always": FsyncAlways, "EVERYSEC": FsyncEverySec, "No": FsyncNo} {
		got, err := ParseFsync(in)
		if err != nil || got != want {
			t.Errorf("ParseFsync(%q) = %v, %v; want %v", in, got, err, want)
		}
		if p, _ := ParseFsync(got.String()); p != got {
			t.Errorf("%v does not round-trip through String", got)
		}
	}
	for _, in := range []string{"", "sometimes", "always "} {
		if _, err := ParseFsync(in); err == nil {
			t.Errorf("ParseFsync(%q) succeeded", in)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultLocalConfig().Validate(); err != nil {
		t.Fatalf("DefaultLocalConfig: %v", err)
	}
	if err := (Config{Dir: "x"}).Validate(); err != nil {
		t.Fatalf("zero fields mean defaults: %v", err)
	}
	bad := Config{
		Fsync:          FsyncPolicy(7),
		CacheSize:      -1,
		MemTableSize:   8 << 30,
		Databases:      257,
		ExpireInterval: -time.Second,
		ExpireBudget:   -1,
		TombstoneGrace: -time.Second,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config validated")
	}
	for _, want := range []string{"Dir", "Fsync", "CacheSize", "MemTableSize", "Databases", "ExpireInterval", "ExpireBudget", "TombstoneGrace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if _, err := Open(bad); err == nil {
		t.Fatal("Open accepted a bad config")
	}
}

func TestDataKeyLayout(t *testing.T) {
	// namespace 0x01 | slot of "foo" (12182 = 0x2f96) | db 3 | key.
	if got, want := appendDataKey(nil, 3, []byte("foo")), []byte("\x01\x2f\x96\x03foo"); !bytes.Equal(got, want) {
		t.Fatalf("data key = %q, want %q", got, want)
	}
	// A hash tag picks the slot; the db is not part of it.
	a, b := appendDataKey(nil, 0, []byte("{user1000}.following")), appendDataKey(nil, 7, []byte("{user1000}.followers"))
	if !bytes.Equal(a[:3], b[:3]) || a[3] != 0 || b[3] != 7 {
		t.Fatalf("hash-tagged keys: %q and %q", a, b)
	}
	if got, want := appendHintKey(nil, "n2", 258), []byte("\x02\x00\x02n2\x00\x00\x00\x00\x00\x00\x01\x02"); !bytes.Equal(got, want) {
		t.Fatalf("hint key = %q, want %q", got, want)
	}
	if got, want := appendMetaKey(nil, "node-id"), []byte("\x03node-id"); !bytes.Equal(got, want) {
		t.Fatalf("meta key = %q, want %q", got, want)
	}
}
