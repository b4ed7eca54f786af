package compat_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// localKeys sums CLUSTER COUNTKEYSINSLOT over every slot: the keys node
// rdb holds itself, master of their slot or not.
func localKeys(ctx context.Context, rdb *redis.Client) (int64, error) {
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for slot := range 16384 {
			p.ClusterCountKeysInSlot(ctx, slot)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range cmds {
		n += c.(*redis.IntCmd).Val()
	}
	return n, nil
}

// infoInt reads an integer field of rdb's INFO ringstore.
func infoInt(ctx context.Context, rdb *redis.Client, field string) (int64, error) {
	info, err := rdb.Info(ctx, "ringstore").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO ringstore has no %s", field)
}

// TestClusterRestartCatchesUp kills a node of a three-process ring
// (N=3) with SIGKILL, writes through the others while it is down, and
// restarts it: it must pull no slot (the ring did not change) and still end
// up holding every key, brought by hinted handoff and anti-entropy, with
// every key readable through it.
func TestClusterRestartCatchesUp(t *testing.T) {
	c := startCluster(t, 3, clusterOptions{Fsync: "everysec", AntiEntropyMs: 200})
	ctx := withTimeout(t, 2*time.Minute)
	rdbs := clusterClients(t, c)
	const before, during = 600, 300
	for i := range before {
		if err := rdbs[i%3].Set(ctx, fmt.Sprint("rs:", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill(2)
	for i := range during {
		k := before + i
		if err := rdbs[i%2].Set(ctx, fmt.Sprint("rs:", k), k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.Restart(2)
	start := time.Now()
	// With N=3 every node holds every key, the harness's own probe keys
	// included: the restarted node must come to hold what node 0 holds.
	var held int64
	for {
		n, err := localKeys(ctx, rdbs[2])
		want, werr := localKeys(ctx, rdbs[0])
		if err == nil && werr == nil && n == want && n >= before+during {
			held = n
			break
		}
		if ctx.Err() != nil || time.Since(start) > time.Minute {
			t.Fatalf("the restarted node holds %d keys and node 0 %d a minute after the restart (%v, %v)", n, want, err, werr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the restarted node held all %d keys %v after its restart", held, time.Since(start).Round(time.Millisecond))
	if n, err := infoInt(ctx, rdbs[2], "slots_transferred"); err != nil || n != 0 {
		t.Fatalf("the restarted node pulled %d slots (%v) of a ring that did not change", n, err)
	}
	for i := range before + during {
		v, err := rdbs[2].Get(ctx, fmt.Sprint("rs:", i)).Int()
		if err != nil || v != i {
			t.Fatalf("rs:%d through the restarted node: %d, %v", i, v, err)
		}
	}
}
