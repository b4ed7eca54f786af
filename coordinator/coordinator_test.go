package coordinator_test

import (
	"context"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/version"
)

func newTestCoordinator(t *testing.T, now *time.Time) (*coordinator.Coordinator, *coordtest.MemStore) {
	t.Helper()
	st := coordtest.NewMemStore(func(k []byte) uint16 { return uint16(len(k)) })
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = "n1"
	if now != nil {
		cfg.Now = func() time.Time { return *now }
	}
	c, err := coordinator.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func TestSetGetDelete(t *testing.T) {
	ctx := context.Background()
	c, _ := newTestCoordinator(t, nil)
	if _, ok, _ := c.Get(ctx, 0, []byte("k")); ok {
		t.Fatal("absent key visible")
	}
	if err := c.Set(ctx, 0, []byte("k"), coordinator.Value{Kind: version.KindString, Data: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, 0, []byte("k"), coordinator.Value{Kind: version.KindString, Data: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.Get(ctx, 0, []byte("k"))
	if err != nil || !ok || string(v.Data) != "v2" {
		t.Fatalf("get = %q %v %v", v.Data, ok, err)
	}
	if _, ok, _ := c.Get(ctx, 1, []byte("k")); ok {
		t.Fatal("db 1 sees db 0's key")
	}
	existed, err := c.Del(ctx, 0, []byte("k"))
	if err != nil || !existed {
		t.Fatal(existed, err)
	}
	if _, ok, _ := c.Get(ctx, 0, []byte("k")); ok {
		t.Fatal("deleted key visible")
	}
	if existed, _ := c.Del(ctx, 0, []byte("k")); existed {
		t.Fatal("second delete reported existed")
	}
	if _, _, err := c.Get(ctx, 16, []byte("k")); err == nil {
		t.Fatal("db 16 accepted")
	}
}

func TestExpiryIsImmediate(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_000_000)
	c, _ := newTestCoordinator(t, &now)
	c.Set(ctx, 0, []byte("k"), coordinator.Value{Kind: version.KindString, Data: []byte("v"), ExpireAt: now.UnixMilli() + 10})
	if _, ok, _ := c.Get(ctx, 0, []byte("k")); !ok {
		t.Fatal("live key invisible")
	}
	now = now.Add(10 * time.Millisecond)
	if _, ok, _ := c.Get(ctx, 0, []byte("k")); ok {
		t.Fatal("expired key visible")
	}
}

func TestContextSiblings(t *testing.T) {
	ctx := context.Background()
	c, st := newTestCoordinator(t, nil)
	key := []byte("k")
	c.Set(ctx, 0, key, coordinator.Value{Kind: version.KindString, Data: []byte("a")})
	tok, vals, err := c.GetContext(ctx, 0, key)
	if err != nil || len(vals) != 1 || tok == "" {
		t.Fatal(tok, vals, err)
	}
	// A concurrent write from another coordinator that has not seen "a".
	other := version.Version{Clock: version.Clock(nil).Increment("n2", 1), Timestamp: 1, Writer: "n2", Kind: version.KindString, Value: []byte("b")}
	st.Merge(0, key, version.Siblings{other})
	_, vals, _ = c.GetContext(ctx, 0, key)
	if len(vals) != 2 {
		t.Fatalf("want 2 siblings, got %d", len(vals))
	}
	// Superseding with the old context keeps the sibling it did not see.
	if err := c.SetContext(ctx, 0, key, tok, coordinator.Value{Kind: version.KindString, Data: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	tok2, vals, _ := c.GetContext(ctx, 0, key)
	if len(vals) != 2 {
		t.Fatalf("want b and c, got %d", len(vals))
	}
	if err := c.SetContext(ctx, 0, key, tok2, coordinator.Value{Kind: version.KindString, Data: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if _, vals, _ = c.GetContext(ctx, 0, key); len(vals) != 1 || string(vals[0].Data) != "d" {
		t.Fatalf("resolved set = %v", vals)
	}
	if err := c.SetContext(ctx, 0, key, "!!bad", coordinator.Value{}); err == nil {
		t.Fatal("malformed context accepted")
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	c, st := newTestCoordinator(t, nil)
	before := st.Merges
	err := c.Update(ctx, 0, []byte("k"), func(coordinator.Value, bool) (coordinator.Change, error) {
		return coordinator.Change{Op: coordinator.Put}, context.Canceled
	})
	if err != context.Canceled || st.Merges != before {
		t.Fatal(err, st.Merges)
	}
}

// TestSetContextKeepsWritesTheContextMissed: a client reads a context, then
// two plain writes go through the same coordinator, then the client's
// SETCTX with its old context must not drop them: they stay as siblings.
func TestSetContextKeepsWritesTheContextMissed(t *testing.T) {
	ctx := context.Background()
	c, _ := newTestCoordinator(t, nil)
	key := []byte("k")
	c.Set(ctx, 0, key, coordinator.Value{Kind: version.KindString, Data: []byte("a")})
	tok, _, _ := c.GetContext(ctx, 0, key)
	for _, v := range []string{"b", "c"} {
		c.Set(ctx, 0, key, coordinator.Value{Kind: version.KindString, Data: []byte(v)})
	}
	if err := c.SetContext(ctx, 0, key, tok, coordinator.Value{Kind: version.KindString, Data: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	_, vals, _ := c.GetContext(ctx, 0, key)
	got := map[string]bool{}
	for _, v := range vals {
		got[string(v.Data)] = true
	}
	if len(vals) != 2 || !got["c"] || !got["d"] {
		t.Fatalf("siblings = %v, want c and d", got)
	}
	// A context that saw everything resolves them.
	tok, _, _ = c.GetContext(ctx, 0, key)
	c.SetContext(ctx, 0, key, tok, coordinator.Value{Kind: version.KindString, Data: []byte("e")})
	if _, vals, _ = c.GetContext(ctx, 0, key); len(vals) != 1 || string(vals[0].Data) != "e" {
		t.Fatalf("after resolving: %v", vals)
	}
}
