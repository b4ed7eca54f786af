package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ringstore/ringstore/version"
)

// crashAfterAcks runs writers that Merge distinct keys on a crashable
// in-memory filesystem under policy, takes a crash image once at least
// minAcks writes are acknowledged (while writers keep going), and returns the
// keys acknowledged before the image was taken and the store reopened on it.
// Writers stop after about maxWrites writes (0: never).
func crashAfterAcks(t *testing.T, policy FsyncPolicy, minAcks, maxWrites int, cfg vfs.CrashCloneCfg) (acked []string, crashed *Store) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	s := newTestStore(t, nil, func(c *Config) { c.FS = fs; c.Fsync = policy })

	var (
		mu     sync.Mutex
		keys   []string
		n      atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if maxWrites > 0 && n.Load() >= int64(maxWrites) {
					<-stop
					return
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Merge(0, []byte(key), version.Siblings{ver("a", 1, t0, key)}); err != nil {
					failed.Store(err)
					return
				}
				mu.Lock()
				keys = append(keys, key)
				mu.Unlock()
				n.Add(1)
			}
		})
	}
	for n.Load() < int64(minAcks) && failed.Load() == nil {
		time.Sleep(100 * time.Microsecond)
	}
	mu.Lock()
	acked = append(acked, keys...) // every write acknowledged so far...
	mu.Unlock()
	image := fs.CrashClone(cfg) // ...must be in the image taken after it
	close(stop)
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("Merge: %v", err)
	}

	c := s.cfg
	c.FS = image
	crashed, err := Open(c)
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	t.Cleanup(func() { crashed.Close() })
	return acked, crashed
}

func missing(t *testing.T, s *Store, keys []string) int {
	t.Helper()
	lost := 0
	for _, k := range keys {
		got := mustGet(t, s, 0, k)
		if len(got) != 1 || string(got[0].Value) != k {
			lost++
		}
	}
	return lost
}

func TestFsyncAlwaysSurvivesCrash(t *testing.T) {
	for name, cfg := range map[string]vfs.CrashCloneCfg{
		"only synced data":   {},
		"some unsynced data": {UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(1, 2))},
	} {
		t.Run(name, func(t *testing.T) {
			acked, s := crashAfterAcks(t, FsyncAlways, 2000, 0, cfg)
			if lost := missing(t, s, acked); lost > 0 {
				t.Fatalf("%d of %d acknowledged writes lost in the crash", lost, len(acked))
			}
		})
	}
}

// TestFsyncNoLosesUnsyncedWrites shows that the crash harness detects lost
// writes: without syncs, acknowledged writes vanish from a crash image. The
// writes stay well below pebble's first memtable (256 KiB), whose rotation
// would sync the WAL: with no cap, fast writers sometimes got past it before
// the image was taken, and everything survived.
func TestFsyncNoLosesUnsyncedWrites(t *testing.T) {
	acked, s := crashAfterAcks(t, FsyncNo, 500, 1000, vfs.CrashCloneCfg{})
	if lost := missing(t, s, acked); lost == 0 {
		t.Fatalf("all %d unsynced writes survived a crash image of synced data only; the harness cannot see loss", len(acked))
	}
}

func TestFsyncEverySecSyncsWithinASecond(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := newTestStore(t, nil, func(c *Config) { c.FS = fs; c.Fsync = FsyncEverySec })
	const n = 200
	for i := range n {
		k := fmt.Sprintf("key%d", i)
		mustMerge(t, s, 0, k, ver("a", 1, t0, k))
	}
	// Wait (poll) until a periodic sync has covered every write above.
	written := s.stats.writes()
	deadline := time.Now().Add(5 * time.Second)
	for s.syncedWrites.Load() < written {
		if time.Now().After(deadline) {
			t.Fatalf("no periodic sync covered %d writes within 5s", written)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := s.cfg
	c.FS = fs.CrashClone(vfs.CrashCloneCfg{})
	crashed, err := Open(c)
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	defer crashed.Close()
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("key%d", i))
	}
	if lost := missing(t, crashed, keys); lost > 0 {
		t.Fatalf("%d of %d writes lost after a periodic sync", lost, n)
	}
}

func TestReopenRecoversAfterClose(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Fsync = FsyncNo
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		k := fmt.Sprintf("key%d", i)
		if _, err := s.Merge(i%16, []byte(k), version.Siblings{ver("a", 1, t0, k)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutMeta("node-id", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	for i := range n {
		k := fmt.Sprintf("key%d", i)
		got, err := s.Get(i%16, []byte(k))
		if err != nil || len(got) != 1 || string(got[0].Value) != k {
			t.Fatalf("after reopen %q = %v, %v", k, values(got), err)
		}
	}
	if v, ok, _ := s.GetMeta("node-id"); !ok || string(v) != "n1" {
		t.Fatalf("meta after reopen: %q %v", v, ok)
	}
}
