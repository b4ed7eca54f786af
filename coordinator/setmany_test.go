package coordinator_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/version"
)

// batchCountingStore is the engine, counting UpdateMany calls.
type batchCountingStore struct {
	*engine.Store
	batches atomic.Int64
}

func (s *batchCountingStore) UpdateMany(db int, keys [][]byte, fn func(int, version.Siblings) (version.Siblings, error)) error {
	s.batches.Add(1)
	return s.Store.UpdateMany(db, keys, fn)
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
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a"), []byte("c")}
	vals := []coordinator.Value{str("a1"), str("b1"), str("a2"), str("c1")}
	if err := c.SetMany(ctx, 2, keys, vals); err != nil {
		t.Fatal(err)
	}
	if n := bs.batches.Load(); n != 1 {
		t.Fatalf("SetMany made %d engine batches, want 1", n)
	}
	for k, want := range map[string]string{"a": "a2", "b": "b1", "c": "c1"} {
		sib, err := st.Get(2, []byte(k))
		if err != nil || len(sib) != 1 || string(sib[0].Value) != want {
			t.Fatalf("%s: stored %v, %v; want one version %q", k, sib, err, want)
		}
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
