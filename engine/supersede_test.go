package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

// TestSupersedeManyMatchesUpdateMany applies a random history of blind
// writes (values, expiring values, tombstones, keys repeated within a
// batch, writers named by short and by cluster-style IDs) to one store with
// SupersedeMany and to another with UpdateMany and the fn SupersedeMany
// stands for, between foreign versions merged into both (concurrent
// siblings, clocks grown full), and checks after every batch that both hold
// the same record bytes (slot digests), values, counts and mortal tallies.
func TestSupersedeManyMatchesUpdateMany(t *testing.T) {
	clk := newFakeClock(t0)
	sup := newTestStore(t, clk, func(c *Config) { c.Dir = t.TempDir() })
	upd := newTestStore(t, clk)
	r := rand.New(rand.NewPCG(8, 13))

	keys, slots := taggedKeys("s", 3, 8)
	const dbs = 2
	writers := []string{"n1", "n1", "n1", strings.Repeat("ab", 20)}
	var hlc version.HLC
	for step := range 400 {
		db := r.IntN(dbs)
		now := clk.Now().UnixMilli()
		// Foreign versions, merged into both stores alike: siblings, and
		// clocks of up to 12 nodes so that some are full.
		for range r.IntN(3) {
			k := keys[r.IntN(len(keys))]
			v := ver(fmt.Sprintf("f%02d", r.IntN(12)), 1+r.Uint64N(3), now, "foreign")
			if r.IntN(2) == 0 {
				v = after(mustGet(t, upd, db, k), fmt.Sprintf("f%02d", r.IntN(12)), now, "descendant")
			}
			mustMerge(t, sup, db, k, v)
			mustMerge(t, upd, db, k, v)
		}

		n := 1 + r.IntN(20)
		batch := make([][]byte, n)
		vers := make([]version.Version, n)
		writer := writers[r.IntN(len(writers))]
		for i := range batch {
			batch[i] = []byte(keys[r.IntN(len(keys))])
			if i > 0 && r.IntN(5) == 0 {
				batch[i] = batch[r.IntN(i)]
			}
			v := version.Version{Writer: writer, Kind: version.KindString, Value: fmt.Appendf(nil, "v%d.%d", step, i)}
			switch r.IntN(6) {
			case 0:
				v.Tombstone, v.Kind, v.Value = true, 0, nil
			case 1:
				v.ExpireAt = now + int64(1+r.IntN(50))
			}
			vers[i] = v
		}
		hlc += version.HLC(1 + r.IntN(1000))
		base := hlc
		stamps := 0
		recs := make([][]byte, n)
		if err := sup.SupersedeMany(db, batch, vers, func() version.HLC { stamps++; return base }, recs); err != nil {
			t.Fatalf("step %d: SupersedeMany: %v", step, err)
		}
		// recs[i] is entry i's record: its version, and for a key's last
		// entry what the store holds.
		last := map[string]int{}
		for i, k := range batch {
			last[string(k)] = i
			got, err := version.Decode(recs[i])
			if err != nil || len(got) != 1 || got[0].Timestamp != base+version.HLC(i) || string(got[0].Value) != string(vers[i].Value) {
				t.Fatalf("step %d: recs[%d] = %x (%v): not entry %d's version", step, i, recs[i], err, i)
			}
		}
		for k, i := range last {
			_, stored, err := sup.GetRecord(db, []byte(k))
			if err != nil || string(stored) != string(recs[i]) {
				t.Fatalf("step %d: key %q holds %x (%v), recs[%d] = %x", step, k, stored, err, i, recs[i])
			}
		}
		if stamps != 1 {
			t.Fatalf("step %d: stamp called %d times, want once", step, stamps)
		}
		err := upd.UpdateMany(db, batch, func(i int, cur version.Siblings) (version.Siblings, error) {
			v := vers[i]
			v.Timestamp = base + version.HLC(i)
			v.Clock = cur.Clock().Increment(v.Writer, v.Timestamp)
			return version.Siblings{v}, nil
		})
		if err != nil {
			t.Fatalf("step %d: UpdateMany: %v", step, err)
		}
		hlc += version.HLC(n)
		for i := range vers {
			if vers[i].Timestamp != 0 || vers[i].Clock != nil {
				t.Fatalf("step %d: SupersedeMany modified vers[%d]", step, i)
			}
		}

		clk.Advance(time.Duration(r.IntN(10)) * time.Millisecond)
		if r.IntN(10) == 0 {
			sup.expireCycle()
			upd.expireCycle()
		}
		if step%100 == 99 {
			sup = reopen(t, sup)
		}
		checkStoresAgree(t, step, sup, upd, "SupersedeMany", "UpdateMany", dbs, keys, slots)
	}
}

// TestSupersedeManyRefuses: a writer the store cannot hold is refused with
// nothing written, as UpdateMany refuses the version it would make, and so
// are keys and versions that do not pair up.
func TestSupersedeManyRefuses(t *testing.T) {
	s := newTestStore(t, newFakeClock(t0))
	mustMerge(t, s, 0, "k", ver("n1", 1, 5, "old"))
	stamp := func() version.HLC { return 100 }
	keys := [][]byte{[]byte("new"), []byte("k")}
	for name, w := range map[string]string{"empty": "", "too long": strings.Repeat("w", maxWriterLen+1)} {
		vers := []version.Version{{Writer: w, Value: []byte("x")}, {Writer: w, Value: []byte("y")}}
		if err := s.SupersedeMany(0, keys, vers, stamp, nil); err == nil {
			t.Errorf("%s writer: stored", name)
		}
	}
	if err := s.SupersedeMany(0, keys, []version.Version{{Writer: "n1"}}, stamp, nil); err == nil {
		t.Error("2 keys with 1 version: stored")
	}
	if got := values(mustGet(t, s, 0, "k")); len(got) != 1 || got[0] != "old" {
		t.Errorf("k holds %q after the refusals, want old", got)
	}
	if got := mustGet(t, s, 0, "new"); len(got) != 0 {
		t.Errorf("new holds %q after the refusals, want nothing", values(got))
	}
}

// BenchmarkSupersedeMany is BenchmarkUpdateMany's SETs through
// SupersedeMany, as the coordinator now writes them.
func BenchmarkSupersedeMany(b *testing.B) {
	for _, size := range []int{1, 16} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := benchStore(b, FsyncEverySec)
			preload(b, s)
			value := []byte(strings.Repeat("v", benchValue))
			r := rand.New(rand.NewPCG(2, 2))
			batch := make([][]byte, size)
			vers := make([]version.Version, size)
			for i := range vers {
				vers[i] = version.Version{Writer: hotNodes[0], Kind: version.KindString, Value: value}
			}
			hlc := version.MakeHLC(t0+1e9, 0)
			stamp := func() version.HLC { hlc += version.HLC(size); return hlc }
			b.ReportAllocs()
			b.SetBytes(benchValue)
			b.ResetTimer()
			defer startCPU().report(b)
			for i := 0; i < b.N; i += size {
				n := min(size, b.N-i)
				for j := range n {
					batch[j] = benchKey(r.IntN(benchKeys))
				}
				if err := s.SupersedeMany(0, batch[:n], vers[:n], stamp, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
