package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

// TestUpdateManyMatchesUpdates applies a random history of batches (writes,
// deletes, concurrent siblings, expiring values, keys repeated within a
// batch) to one store with UpdateMany and to another with one Update per
// key, and checks after every batch that both hold the same records, counts
// and slot digests, and that a reopened store still does.
func TestUpdateManyMatchesUpdates(t *testing.T) {
	clk := newFakeClock(t0)
	many := newTestStore(t, clk, func(c *Config) { c.Dir = t.TempDir() })
	one := newTestStore(t, clk)
	r := rand.New(rand.NewPCG(3, 5))

	keys, slots := taggedKeys("t", 4, 10)
	const dbs = 2
	// step builds the i-th entry's siblings from what is current, the same
	// way for both stores: the choice of op is drawn once per entry.
	type op struct {
		kind    int
		node    string
		expires int64
	}
	build := func(o op, cur version.Siblings, now int64, counter uint64) version.Siblings {
		switch o.kind {
		case 0:
			v := after(cur, "n1", now, fmt.Sprintf("v%d", counter))
			v.ExpireAt = o.expires
			return version.Siblings{v}
		case 1:
			v := after(cur, "n1", now, "")
			v.Tombstone, v.Value = true, nil
			return version.Siblings{v}
		case 2:
			return version.Siblings{ver(o.node, counter, now, "c")}
		default:
			return cur // a merge that changes nothing
		}
	}
	counter := uint64(0)
	for step := range 300 {
		db := r.IntN(dbs)
		n := 1 + r.IntN(20)
		batch := make([][]byte, n)
		ops := make([]op, n)
		for i := range batch {
			batch[i] = []byte(keys[r.IntN(len(keys))])
			if i > 0 && r.IntN(5) == 0 {
				batch[i] = batch[r.IntN(i)] // a key repeated within the batch
			}
			ops[i] = op{kind: r.IntN(4), node: fmt.Sprintf("n%d", 2+r.IntN(3))}
			if r.IntN(3) == 0 {
				ops[i].expires = clk.Now().UnixMilli() + int64(1+r.IntN(50))
			}
		}
		now := clk.Now().UnixMilli()
		base := counter
		err := many.UpdateMany(db, batch, func(i int, cur version.Siblings) (version.Siblings, error) {
			return build(ops[i], cur, now, base+uint64(i)+1), nil
		})
		if err != nil {
			t.Fatalf("step %d: UpdateMany: %v", step, err)
		}
		for i, k := range batch {
			if _, err := one.Update(db, k, func(cur version.Siblings) (version.Siblings, error) {
				return build(ops[i], cur, now, base+uint64(i)+1), nil
			}); err != nil {
				t.Fatalf("step %d: Update: %v", step, err)
			}
		}
		counter += uint64(n)
		clk.Advance(time.Duration(r.IntN(10)) * time.Millisecond)
		if r.IntN(10) == 0 {
			many.expireCycle()
			one.expireCycle()
		}
		if step%100 == 99 {
			many = reopen(t, many)
		}
		checkStoresAgree(t, step, many, one, "UpdateMany", "Updates", dbs, keys, slots)
	}
}

// TestUpdateManyFailureWritesNothing: an error from fn on any entry, or an
// entry that cannot be stored, leaves every key of the batch as it was.
func TestUpdateManyFailureWritesNothing(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "a", ver("n1", 1, t0, "a1"))
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		last func(cur version.Siblings) (version.Siblings, error)
		want error
	}{
		{"fn error", func(version.Siblings) (version.Siblings, error) { return nil, boom }, boom},
		{"invalid siblings", func(version.Siblings) (version.Siblings, error) {
			v := ver("n1", 1, t0, "x")
			v.Clock[0].Counter = 0 // counters start at 1
			return version.Siblings{v}, nil
		}, ErrInvalidSiblings},
	} {
		written := s.Stats().RecordsWritten
		err := s.UpdateMany(0, keys, func(i int, cur version.Siblings) (version.Siblings, error) {
			if i == len(keys)-1 {
				return tc.last(cur)
			}
			return version.Siblings{after(cur, "n1", t0+10, "new")}, nil
		})
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: UpdateMany = %v, want %v", tc.name, err, tc.want)
		}
		if got := values(mustGet(t, s, 0, "a")); len(got) != 1 || got[0] != "a1" {
			t.Fatalf("%s: a = %v after a failed batch, want [a1]", tc.name, got)
		}
		if got := mustGet(t, s, 0, "b"); got != nil {
			t.Fatalf("%s: b = %v after a failed batch, want absent", tc.name, values(got))
		}
		if s.Stats().RecordsWritten != written {
			t.Fatalf("%s: records written during a failed batch", tc.name)
		}
	}
	if err := s.UpdateMany(99, keys, nil); err == nil {
		t.Fatal("UpdateMany on db 99: no error")
	}
	if err := s.UpdateMany(0, nil, nil); err != nil {
		t.Fatalf("UpdateMany of no keys: %v", err)
	}
}

// TestUpdateManyIsAtomicToReaders: readers that take no lock never see a
// batch half applied. Each batch writes the same generation to two keys in
// different stripes; a reader that reads the second key after the first
// must never find it older.
func TestUpdateManyIsAtomicToReaders(t *testing.T) {
	s := newTestStore(t, nil)
	keys := [][]byte{[]byte("{x}first"), []byte("{y}second")}
	if s.hash(appendDataKey(nil, 0, keys[0]))%numStripes == s.hash(appendDataKey(nil, 0, keys[1]))%numStripes {
		t.Skip("both keys share a stripe with this seed")
	}
	gen := func(sib version.Siblings) int {
		if len(sib) == 0 {
			return 0
		}
		var g int
		fmt.Sscanf(string(sib[0].Value), "%d", &g)
		return g
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var torn atomic.Int64
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				a, err := s.Get(0, keys[0])
				if err != nil {
					t.Error(err)
					return
				}
				b, err := s.Get(0, keys[1])
				if err != nil {
					t.Error(err)
					return
				}
				if gen(b) < gen(a) {
					torn.Add(1)
				}
			}
		})
	}
	for g := 1; g <= 3000; g++ {
		err := s.UpdateMany(0, keys, func(_ int, cur version.Siblings) (version.Siblings, error) {
			return version.Siblings{after(cur, "n1", t0+int64(g), fmt.Sprint(g))}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := torn.Load(); n > 0 {
		t.Fatalf("%d reads saw the second key older than the first", n)
	}
}

// TestUpdateManyDurable: under FsyncAlways a batch is on disk when
// UpdateMany returns, and reopening finds every key.
func TestUpdateManyDurable(t *testing.T) {
	s := newTestStore(t, nil, func(c *Config) { c.Dir = t.TempDir(); c.Fsync = FsyncAlways })
	var keys [][]byte
	for i := range 50 {
		keys = append(keys, fmt.Appendf(nil, "key%d", i))
	}
	if err := s.UpdateMany(3, keys, func(i int, cur version.Siblings) (version.Siblings, error) {
		return version.Siblings{after(cur, "n1", t0, fmt.Sprint(i))}, nil
	}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	for i, k := range keys {
		if got := values(mustGet(t, s, 3, string(k))); len(got) != 1 || got[0] != fmt.Sprint(i) {
			t.Fatalf("after reopen %s = %v, want [%d]", k, got, i)
		}
	}
}

// BenchmarkUpdateMany writes SETs of 100-byte values over 100k warm keys in
// batches of 1 (as Update would), 16 (a redis-benchmark -P 16 pipeline)
// and 128; ns/op and cpu-ns/op are per key.
func BenchmarkUpdateMany(b *testing.B) {
	for _, size := range []int{1, 16, 128} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := benchStore(b, FsyncEverySec)
			seq := preload(b, s)
			value := []byte(strings.Repeat("v", benchValue))
			r := rand.New(rand.NewPCG(2, 2))
			batch := make([][]byte, size)
			b.ReportAllocs()
			b.SetBytes(benchValue)
			b.ResetTimer()
			defer startCPU().report(b)
			for i := 0; i < b.N; i += size {
				n := min(size, b.N-i)
				for j := range n {
					batch[j] = benchKey(r.IntN(benchKeys))
				}
				err := s.UpdateMany(0, batch[:n], func(int, version.Siblings) (version.Siblings, error) {
					return benchSET(seq, value), nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
