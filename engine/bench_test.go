package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// Benchmarks run on the real filesystem (a temp dir), with 100-byte values
// over 100k keys, as redis-benchmark -d 100 -r 100000 would.
const (
	benchKeys  = 100_000
	benchValue = 100
)

func benchStore(b *testing.B, policy FsyncPolicy) *Store {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Dir = b.TempDir()
	cfg.Fsync = policy
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// cpuMeter reports the process CPU time per operation (all threads, pebble's
// included) beside the wall time, which on a shared machine says more than
// ns/op about the work an operation costs.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-m.start)/float64(b.N), "cpu-ns/op")
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "key:%012d", i%benchKeys) }

// benchSET is a SET as a coordinator would issue it: a new version whose
// clock supersedes every earlier one (counter from a shared sequence),
// written by a node with an ID as clusters make them, so that records have
// their real size.
func benchSET(seq *atomic.Uint64, value []byte) version.Siblings {
	n := seq.Add(1)
	at := version.MakeHLC(t0+int64(n), 0)
	return version.Siblings{{
		Clock:     version.Clock{{Node: hotNodes[0], Counter: n, Stamp: at}},
		Timestamp: at,
		Writer:    hotNodes[0],
		Kind:      version.KindString,
		Value:     value,
	}}
}

func preload(b *testing.B, s *Store) *atomic.Uint64 {
	b.Helper()
	var seq atomic.Uint64
	value := []byte(strings.Repeat("v", benchValue))
	for i := range benchKeys {
		if _, err := s.Merge(0, benchKey(i), benchSET(&seq, value)); err != nil {
			b.Fatal(err)
		}
	}
	return &seq
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b, FsyncEverySec)
	preload(b, s)
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	b.ResetTimer()
	defer startCPU().report(b)
	for b.Loop() {
		sib, err := s.Get(0, keys[r.IntN(benchKeys)])
		if err != nil || len(sib) != 1 {
			b.Fatal(sib, err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := benchStore(b, FsyncEverySec)
	preload(b, s)
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	defer startCPU().report(b)
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seed.Add(1), 1))
		for pb.Next() {
			if _, err := s.Get(0, keys[r.IntN(benchKeys)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetMissing(b *testing.B) {
	s := benchStore(b, FsyncEverySec)
	preload(b, s)
	key := []byte("absent-key")
	b.ReportAllocs()
	b.ResetTimer()
	defer startCPU().report(b)
	for b.Loop() {
		if sib, err := s.Get(0, key); err != nil || sib != nil {
			b.Fatal(sib, err)
		}
	}
}

// BenchmarkMerge writes SETs of random keys into an empty store (the first
// write of each key also looks for it in pebble), and "/warm" into a store
// that already holds every key (the read is a cache hit).
func BenchmarkMerge(b *testing.B) {
	for _, mode := range []struct {
		name   string
		policy FsyncPolicy
		warm   bool
	}{{"everysec", FsyncEverySec, false}, {"everysec/warm", FsyncEverySec, true}, {"always", FsyncAlways, false}} {
		b.Run(mode.name, func(b *testing.B) {
			s := benchStore(b, mode.policy)
			var seq atomic.Uint64
			if mode.warm {
				seq.Store(preload(b, s).Load())
			}
			value := []byte(strings.Repeat("v", benchValue))
			keys := make([][]byte, benchKeys)
			for i := range keys {
				keys[i] = benchKey(i)
			}
			r := rand.New(rand.NewPCG(2, 2))
			b.ReportAllocs()
			b.SetBytes(benchValue)
			b.ResetTimer()
			defer startCPU().report(b)
			for b.Loop() {
				if _, err := s.Merge(0, keys[r.IntN(benchKeys)], benchSET(&seq, value)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMergeParallel(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncEverySec, FsyncAlways} {
		b.Run(policy.String(), func(b *testing.B) {
			s := benchStore(b, policy)
			var seq, seed atomic.Uint64
			value := []byte(strings.Repeat("v", benchValue))
			keys := make([][]byte, benchKeys)
			for i := range keys {
				keys[i] = benchKey(i)
			}
			b.ReportAllocs()
			b.SetBytes(benchValue)
			if policy == FsyncAlways {
				// Many writers in flight, as with 50 clients: they share fsyncs.
				b.SetParallelism(32)
			}
			b.ResetTimer()
			defer startCPU().report(b)
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(seed.Add(1), 2))
				for pb.Next() {
					if _, err := s.Merge(0, keys[r.IntN(benchKeys)], benchSET(&seq, value)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkScanSlot measures the fixed cost of a per-slot iterator over
// empty slots, which is what a DBSIZE built on ScanSlot pays 16384 times.
func BenchmarkScanSlotEmpty(b *testing.B) {
	s := benchStore(b, FsyncEverySec)
	preload(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	defer startCPU().report(b)
	var slot uint16
	for b.Loop() {
		slot = (slot + 1) % ring.NumSlots
		if err := s.ScanSlot(1, slot, nil, func([]byte, version.Siblings) bool { return true }); err != nil {
			b.Fatal(err)
		}
	}
}

// hotNodes are three node IDs as a real cluster names them (40 hex digits),
// the replicas of every key in the hot-path benchmarks.
var hotNodes = [3]string{
	"3f9a1c0b7e2d4a6f8b1c3e5d7f9a0b2c4d6e8f01",
	"8c2e4a6b0d1f3e5c7a9b1d3f5e7c9a0b2d4f6e82",
	"d41d8cd98f00b204e9800998ecf8427e5a1b2c39",
}

// hotKeys is small enough that every key stays in the record cache: the
// hot-path benchmarks measure the engine's own work around pebble's write.
const hotKeys = 1024

// hotStore is a store holding hotKeys keys, each one version with a clock
// of all three hotNodes and a 100-byte value, all cached.
func hotStore(b *testing.B) (*Store, [][]byte, []version.Siblings) {
	b.Helper()
	s := benchStore(b, FsyncEverySec)
	value := []byte(strings.Repeat("v", benchValue))
	keys := make([][]byte, hotKeys)
	sibs := make([]version.Siblings, hotKeys)
	for i := range keys {
		keys[i] = benchKey(i)
		at := version.MakeHLC(t0+int64(i), 0)
		var c version.Clock
		for j, n := range hotNodes {
			c = append(c, version.Entry{Node: n, Counter: uint64(j + 1), Stamp: at})
		}
		sibs[i] = version.Siblings{{Clock: c, Timestamp: at, Writer: hotNodes[0], Kind: version.KindString, Value: value}}
		if _, err := s.Merge(0, keys[i], sibs[i]); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(0, keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	return s, keys, sibs
}

// BenchmarkHotPath measures a node's per-request engine work on cached keys:
// "update" is a replica coordinator's SET (fn builds the new version from
// the current clock, as coordinator.newVersion does), "merge" a replica
// write arriving from a peer (its clock supersedes the stored one), "get" a
// GET. The merge loop reuses one version per key, bumped in place, so that
// the benchmark itself allocates nothing.
func BenchmarkHotPath(b *testing.B) {
	value := []byte(strings.Repeat("w", benchValue))
	b.Run("update", func(b *testing.B) {
		s, keys, _ := hotStore(b)
		ts := version.MakeHLC(t0+hotKeys, 0)
		fn := func(cur version.Siblings) (version.Siblings, error) {
			ts++
			return version.Siblings{{
				Clock:     cur.Clock().Increment(hotNodes[0], ts),
				Timestamp: ts,
				Writer:    hotNodes[0],
				Kind:      version.KindString,
				Value:     value,
			}}, nil
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer startCPU().report(b)
		i := 0
		for b.Loop() {
			i = (i + 1) % hotKeys
			if _, err := s.Update(0, keys[i], fn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("merge", func(b *testing.B) {
		s, keys, sibs := hotStore(b)
		ts := version.MakeHLC(t0+hotKeys, 0)
		b.ReportAllocs()
		b.ResetTimer()
		defer startCPU().report(b)
		i := 0
		for b.Loop() {
			i = (i + 1) % hotKeys
			ts++
			v := &sibs[i][0]
			v.Clock[1].Counter++
			v.Clock[1].Stamp = ts
			v.Timestamp, v.Writer, v.Value = ts, hotNodes[1], value
			if _, err := s.Merge(0, keys[i], sibs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		s, keys, _ := hotStore(b)
		b.ReportAllocs()
		b.ResetTimer()
		defer startCPU().report(b)
		i := 0
		for b.Loop() {
			i = (i + 1) % hotKeys
			if sib, err := s.Get(0, keys[i]); err != nil || len(sib) != 1 {
				b.Fatal(sib, err)
			}
		}
	})
}
