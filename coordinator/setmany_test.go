package coordinator_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// batchCountingStore is the engine, counting SupersedeMany calls.
type batchCountingStore struct {
	*engine.Store
	batches atomic.Int64
}

func (s *batchCountingStore) SupersedeMany(db int, keys [][]byte, vers []version.Version, stamp func() version.HLC, recs [][]byte) error {
	s.batches.Add(1)
	return s.Store.SupersedeMany(db, keys, vers, stamp, recs)
}

// TestSetManyAloneIsOneBatch: a one-node ring sets every key of a SetMany in
// one engine batch; a repeated key ends with its last value; the versions
// supersede what was stored, so no sibling is left.
func TestSetManyAloneIsOneBatch(t *testing.T) {
	ctx := context.Background()
	st, err := engine.Open(engine.DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs := &batchCountingStore{Store: st}
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = "n1"
	c, err := coordinator.New(cfg, bs)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, 2, []byte("a"), str("old")); err != nil {
		t.Fatal(err)
	}
	before := bs.batches.Load()
	if before != 1 {
		t.Fatalf("a lone Set made %d SupersedeMany calls, want 1", before)
	}
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a"), []byte("c")}
	vals := []coordinator.Value{str("a1"), str("b1"), str("a2"), str("c1")}
	if err := c.SetMany(ctx, 2, keys, vals); err != nil {
		t.Fatal(err)
	}
	if n := bs.batches.Load() - before; n != 1 {
		t.Fatalf("SetMany made %d engine batches, want 1", n)
	}
	stamps := map[string]version.HLC{}
	for k, want := range map[string]string{"a": "a2", "b": "b1", "c": "c1"} {
		sib, err := st.Get(2, []byte(k))
		if err != nil || len(sib) != 1 || string(sib[0].Value) != want {
			t.Fatalf("%s: stored %v, %v; want one version %q", k, sib, err, want)
		}
		stamps[k] = sib[0].Timestamp
	}
	// Each key of the batch took its own reading, in batch order (a is
	// entry 2, of 0..3), and the next write reads a later one.
	if !(stamps["b"] < stamps["a"] && stamps["a"] < stamps["c"]) {
		t.Fatalf("timestamps b %d, a %d, c %d: not in batch order", stamps["b"], stamps["a"], stamps["c"])
	}
	if err := c.Set(ctx, 2, []byte("b"), str("b2")); err != nil {
		t.Fatal(err)
	}
	if sib, _ := st.Get(2, []byte("b")); len(sib) != 1 || sib[0].Timestamp <= stamps["c"] {
		t.Fatalf("a Set after the batch stamped %v, not after its last key's %d", sib, stamps["c"])
	}
	if err := c.SetMany(ctx, 2, keys, vals[:1]); err == nil {
		t.Fatal("SetMany with fewer values than keys: no error")
	}
	if err := c.SetMany(ctx, 99, keys, vals); err == nil {
		t.Fatal("SetMany on db 99: no error")
	}
}

// TestSetManyOnARing: on a ring SetMany writes key by key through quorum,
// so every key can be read back through every node.
func TestSetManyOnARing(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 1)
	var keys [][]byte
	var vals []coordinator.Value
	for i := range 20 {
		keys = append(keys, fmt.Appendf(nil, "key%d", i))
		vals = append(vals, str(fmt.Sprint(i)))
	}
	if err := tc.nodes[0].SetMany(ctx, 0, keys, vals); err != nil {
		t.Fatal(err)
	}
	for _, n := range tc.nodes {
		for i, k := range keys {
			v, ok, err := n.Get(ctx, 0, k)
			if err != nil || !ok || string(v.Data) != fmt.Sprint(i) {
				t.Fatalf("%s through a node: %q, %v, %v; want %d", k, v.Data, ok, err, i)
			}
		}
	}
}

// joiningStore is a MemStore with a SupersedeMany (key by key) that runs
// join first: the node joins a ring while its batch is being written.
type joiningStore struct {
	*coordtest.MemStore
	join   func()
	vanish func()
}

func (s *joiningStore) SupersedeMany(db int, keys [][]byte, vers []version.Version, stamp func() version.HLC, recs [][]byte) error {
	s.join()
	base := stamp()
	for i, k := range keys {
		v := vers[i]
		v.Timestamp = base + version.HLC(i)
		sib, err := s.Update(db, k, func(cur version.Siblings) (version.Siblings, error) {
			v.Clock = cur.Clock().Increment(v.Writer, v.Timestamp)
			return version.Siblings{v}, nil
		})
		if err != nil {
			return err
		}
		if recs != nil {
			recs[i] = sib.AppendBinary(nil)
		}
	}
	if s.vanish != nil {
		s.vanish() // what the keys hold is gone before the caller reads it
	}
	return nil
}

// TestSetManyJoinedMeanwhile: a node that was alone when SetMany (or Set)
// began and is part of a ring when its batch is stored sends every key to
// the other replicas, as a Set on the ring would have; a batch that stays
// alone sends nothing.
func TestSetManyJoinedMeanwhile(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 2, 5)
	const self = "ffffffffffffffffffffffffffffffffffffffff"
	var topo atomic.Pointer[coordinator.Topology]
	alone := &coordinator.Topology{Table: ring.Build([]ring.Event{{Kind: ring.EventJoin, Node: self, Stamp: 1}}), N: 3}
	ringed := &coordinator.Topology{Table: ring.Build([]ring.Event{
		{Kind: ring.EventJoin, Node: self, Stamp: 1},
		{Kind: ring.EventJoin, Node: tc.ids[0], Stamp: 2},
		{Kind: ring.EventJoin, Node: tc.ids[1], Stamp: 3},
	}), N: 3}
	topo.Store(alone)
	st := &joiningStore{MemStore: coordtest.NewMemStore(ring.Slot), join: func() {}}
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = self
	cfg.Transport = tc.net.Transport(self)
	cfg.Topology = topo.Load
	cfg.Hints = st.MemStore
	c, err := coordinator.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a")}
	vals := []coordinator.Value{str("1"), str("2"), str("3")}
	if err := c.SetMany(ctx, 0, keys, vals); err != nil {
		t.Fatal(err)
	}
	for _, s := range tc.stores {
		if sib, _ := s.Get(0, []byte("b")); len(sib) != 0 {
			t.Fatalf("a batch that stayed alone reached another node: %v", sib)
		}
	}

	st.join = func() { topo.Store(ringed) }
	vals = []coordinator.Value{str("4"), str("5"), str("6")}
	if err := c.SetMany(ctx, 0, keys, vals); err != nil {
		t.Fatal(err)
	}
	// A lone Set takes the same way (a SupersedeMany of one key). And
	// what is sent is the version written, even when the local record is
	// gone by the time it is sent (a purge of the slots the join moved).
	topo.Store(alone)
	st.vanish = func() { st.MemStore.FlushAll() }
	if err := c.Set(ctx, 0, []byte("c"), str("7")); err != nil {
		t.Fatal(err)
	}
	topo.Store(alone)
	if err := c.SetMany(ctx, 0, [][]byte{[]byte("d"), []byte("e")}, []coordinator.Value{str("8"), str("9")}); err != nil {
		t.Fatal(err)
	}
	c.Quiesce()
	for i, s := range tc.stores {
		for k, want := range map[string]string{"a": "6", "b": "5", "c": "7", "d": "8", "e": "9"} {
			sib, err := s.Get(0, []byte(k))
			v, ok := sib.Visible(time.Now().UnixMilli())
			if err != nil || !ok || string(v.Value) != want {
				t.Fatalf("node %d: %s = %v (%v); want %q sent by the node that joined mid-batch", i, k, sib, err, want)
			}
		}
	}
}

// TestLoneSetAllocatesItsRecord: on a node alone in its ring a SET
// allocates its record and nothing else (SupersedeMany, blindBatch), and a
// SetMany one record per key. The bounds leave room for a rare allocation
// of pebble's (a memtable rotation) or of a pool emptied by the collector.
func TestLoneSetAllocatesItsRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector are not a SET's")
	}
	st, err := engine.Open(engine.DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = "00ff10a9b3c4d5e6f708192a3b4c5d6e7f8091a2"
	c, err := coordinator.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	val := coordinator.Value{Kind: version.KindString, Data: make([]byte, 100)}
	keys := make([][]byte, 16)
	vals := make([]coordinator.Value, 16)
	for i := range keys {
		keys[i], vals[i] = fmt.Appendf(nil, "key:%d", i), val
	}
	if err := c.SetMany(ctx, 0, keys, vals); err != nil { // the keys exist: no first-write costs
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(500, func() {
		if err := c.Set(ctx, 0, keys[3], val); err != nil {
			t.Fatal(err)
		}
	}); n > 1.5 {
		t.Errorf("a SET allocates %.2f times, want 1 (its record)", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		if err := c.SetMany(ctx, 0, keys, vals); err != nil {
			t.Fatal(err)
		}
	}); n > 20 {
		t.Errorf("a SetMany of 16 keys allocates %.2f times, want 16 (their records)", n)
	}
}
