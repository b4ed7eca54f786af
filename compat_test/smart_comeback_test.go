package compat_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSmartNodeComesBack: the topology follows the ring both ways. When a
// node of three is killed, the others stop publishing it (CLUSTER NODES
// marks it fail, CLUSTER SLOTS lists only healthy nodes, every slot still
// served); when it restarts with its data dir, it is published again as
// master of its primary ranges and as a replica of the others. The test
// logs how long each took (gossip detection and recovery).
func TestSmartNodeComesBack(t *testing.T) {
	c := startCluster(t, 3, clusterOptions{Fsync: "everysec"})
	ctx := withTimeout(t, 3*time.Minute)
	rdb0 := c.Client(0)
	id2, err := c.Client(2).ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// state reports, as node 0 publishes it, whether node 2 is marked
	// failed, whether it is listed in CLUSTER SLOTS at all, whether it is
	// master of some range, and whether every slot is served.
	type state struct{ failed, listed, master, covered bool }
	read := func() (state, error) {
		topo, err := readTopology(ctx, rdb0)
		if err != nil {
			return state{}, err
		}
		var s state
		for _, l := range topo.nodes {
			if l.id == id2 {
				s.failed = l.failed
			}
		}
		served := 0
		for _, r := range topo.slotRanges {
			if len(r.Nodes) == 0 {
				continue
			}
			served += int(r.End - r.Start + 1)
			if r.Nodes[0].ID == id2 {
				s.master = true
			}
			if slices.ContainsFunc(r.Nodes, func(n redis.ClusterNode) bool { return n.ID == id2 }) {
				s.listed = true
			}
		}
		s.covered = served == numSlots
		return s, nil
	}
	await := func(what string, cond func(state) bool) time.Duration {
		t.Helper()
		start := time.Now()
		var last state
		for time.Since(start) < time.Minute {
			s, err := read()
			if err == nil && cond(s) {
				return time.Since(start)
			}
			last = s
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("node 0 did not publish %s within a minute (last: %+v)", what, last)
		return 0
	}

	// A node that joined is master of its ranges once it has pulled them.
	await("node 2 a healthy master", func(s state) bool { return !s.failed && s.master && s.covered })
	c.Kill(2)
	gone := await("node 2 failed and out of CLUSTER SLOTS", func(s state) bool { return s.failed && !s.listed && s.covered })
	t.Logf("node 2 killed: node 0 marked it fail and stopped listing it %v later, every slot still served", gone.Round(time.Millisecond))

	c.Restart(2)
	back := await("node 2 back as a master", func(s state) bool { return !s.failed && s.master && s.covered })
	t.Logf("node 2 restarted: node 0 published it as a master again %v after it answered PING", back.Round(time.Millisecond))

	// A cluster client that loads the map now routes to it again.
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	masters := 0
	for _, r := range slots {
		if len(r.Nodes) > 0 && r.Nodes[0].ID == id2 {
			masters++
		}
	}
	if masters == 0 {
		t.Fatalf("a new ClusterClient sees node 2 master of no range: %v", slots)
	}
	for i := range 50 {
		key := fmt.Sprint("comeback:", i)
		if err := cc.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s after the restart: %v", key, err)
		}
		if v, err := c.Client(2).Get(context.Background(), key).Int(); err != nil || v != i {
			t.Fatalf("GET %s through the restarted node: %d, %v", key, v, err)
		}
	}
}
