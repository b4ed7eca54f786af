package engine

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

// fakeClock is a settable wall clock for Config.Now.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(ms int64) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(ms)
	return c
}

func (c *fakeClock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Set(ms int64)            { c.ms.Store(ms) }
func (c *fakeClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// t0 is the fake clock's start: 2025-01-01 UTC in Unix milliseconds.
const t0 = 1735689600000

// newTestStore opens an in-memory store whose background expiry never runs
// by itself (tests call expireCycle) and whose clock is clk.
func newTestStore(t testing.TB, clk *fakeClock, mutate ...func(*Config)) *Store {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.ExpireInterval = time.Hour
	if clk != nil {
		cfg.Now = clk.Now
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// ver is a version written by node as its counter-th write at ms.
func ver(node string, counter uint64, ms int64, val string) version.Version {
	at := version.MakeHLC(ms, 0)
	return version.Version{
		Clock:     version.Clock{{Node: node, Counter: counter, Stamp: at}},
		Timestamp: at,
		Writer:    node,
		Kind:      version.KindString,
		Value:     []byte(val),
	}
}

// after returns a version written by node at ms that descends from every
// version in seen.
func after(seen version.Siblings, node string, ms int64, val string) version.Version {
	at := version.MakeHLC(ms, 0)
	return version.Version{
		Clock:     seen.Clock().Increment(node, at),
		Timestamp: at,
		Writer:    node,
		Kind:      version.KindString,
		Value:     []byte(val),
	}
}

func mustMerge(t testing.TB, s *Store, db int, key string, in ...version.Version) version.Siblings {
	t.Helper()
	out, err := s.Merge(db, []byte(key), version.Siblings(in))
	if err != nil {
		t.Fatalf("Merge(%d, %q): %v", db, key, err)
	}
	return out
}

func mustGet(t testing.TB, s *Store, db int, key string) version.Siblings {
	t.Helper()
	sib, err := s.Get(db, []byte(key))
	if err != nil {
		t.Fatalf("Get(%d, %q): %v", db, key, err)
	}
	return sib
}

// values lists the sibling values, marking tombstones as "<tomb>".
func values(s version.Siblings) []string {
	var out []string
	for _, v := range s {
		if v.Tombstone {
			out = append(out, "<tomb>")
		} else {
			out = append(out, string(v.Value))
		}
	}
	return out
}

// decodeRecord decodes stored record bytes that the caller may not keep (a
// pebble buffer), taking node IDs from ids (nil: none), as the store's load does: the result
// aliases rec, a private copy of raw. The engine never stores an empty record, so
// empty bytes are corrupt too.
func decodeRecord(raw []byte, ids *version.Decoder) (sib version.Siblings, rec []byte, err error) {
	rec = bytes.Clone(raw)
	sib, err = ids.Decode(rec)
	return sib, rec, err
}
