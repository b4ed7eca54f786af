package coordinator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// TestKeyCountsOverTheEngine checks DBSIZE, INFO's key counts and CLUSTER
// COUNTKEYSINSLOT, which read the engine's per-slot counts and scan only
// slots with expiring keys, against a scan of every visible key, while
// values with and without expiry are written and deleted and time passes
// with no expiry cycle to tidy up (so expired values are still stored).
func TestKeyCountsOverTheEngine(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_735_689_600_000)
	ecfg := engine.DefaultLocalConfig()
	ecfg.ExpireInterval = time.Hour
	ecfg.Now = func() time.Time { return now }
	st, err := engine.Open(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.Now = func() time.Time { return now }
	c, err := coordinator.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}

	r := rand.New(rand.NewPCG(3, 5))
	check := func(step int) {
		t.Helper()
		for db := range 2 {
			var keys, expires int64
			perSlot := map[uint16]int64{}
			if _, err := c.Scan(ctx, db, 0, 1<<30, func(key []byte, v coordinator.Value) {
				keys++
				if v.ExpireAt != 0 {
					expires++
				}
				perSlot[ring.Slot(key)]++
			}); err != nil {
				t.Fatal(err)
			}
			n, err := c.DBSize(ctx, db)
			if err != nil || n != keys {
				t.Fatalf("step %d: DBSIZE of db %d = %d, %v; a scan sees %d keys", step, db, n, err, keys)
			}
			k, e, err := c.KeyCounts(ctx, db)
			if err != nil || k != keys || e != expires {
				t.Fatalf("step %d: KeyCounts(%d) = %d, %d, %v; a scan sees %d, %d", step, db, k, e, err, keys, expires)
			}
			for _, tag := range []string{"{a}", "{b}", "{c}"} {
				slot := ring.Slot([]byte(tag))
				got, err := c.CountKeysInSlot(ctx, db, slot)
				if err != nil || got != perSlot[slot] {
					t.Fatalf("step %d: COUNTKEYSINSLOT %d in db %d = %d, %v; a scan sees %d", step, slot, db, got, err, perSlot[slot])
				}
			}
		}
	}
	for step := range 250 {
		db := r.IntN(2)
		key := fmt.Appendf(nil, "{%c}k%d", 'a'+rune(r.IntN(3)), r.IntN(20))
		switch op := r.IntN(10); {
		case op < 5:
			v := coordinator.Value{Kind: version.KindString, Data: []byte("v")}
			if r.IntN(2) == 0 {
				v.ExpireAt = now.UnixMilli() + int64(1+r.IntN(30))
			}
			if err := c.Set(ctx, db, key, v); err != nil {
				t.Fatal(err)
			}
		case op < 7:
			if _, err := c.Del(ctx, db, key); err != nil {
				t.Fatal(err)
			}
		default:
			now = now.Add(time.Duration(r.IntN(10)) * time.Millisecond)
		}
		check(step)
	}
}
