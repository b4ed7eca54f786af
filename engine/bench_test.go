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
// clock supersedes every earlier one (counter from a shared sequence).
func benchSET(seq *atomic.Uint64, value []byte) version.Siblings {
	n := seq.Add(1)
	at := version.MakeHLC(t0+int64(n), 0)
	return version.Siblings{{
		Clock:     version.Clock{{Node: "node-1", Counter: n, Stamp: at}},
		Timestamp: at,
		Writer:    "node-1",
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
