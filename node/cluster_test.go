package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
)

// testCluster is n real nodes in this process: real pebble in temp dirs,
// real memberlist and peer transport on loopback, with every node's
// transport passing through one shared fault set.
type testCluster struct {
	t      *testing.T
	faults *coordtest.Faults
	cfgs   []Config
	nodes  []*Node
	ids    []string
}

func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return startTestClusterWith(t, n, nil)
}

// startTestClusterWith starts n nodes whose configurations mod (if not nil)
// changes first.
func startTestClusterWith(t *testing.T, n int, mod func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, faults: coordtest.NewFaults(uint64(time.Now().UnixNano()))}
	for i := range n {
		cfg := DefaultConfig()
		cfg.Port = 0
		cfg.DataDir = t.TempDir()
		cfg.GossipProfile = "local"
		if mod != nil {
			mod(&cfg)
		}
		if i > 0 {
			cfg.Join = []string{tc.nodes[0].members.GossipAddr()}
		}
		tc.cfgs = append(tc.cfgs, cfg)
		tc.nodes = append(tc.nodes, nil)
		tc.start(i)
		tc.ids = append(tc.ids, tc.nodes[i].ID())
	}
	t.Cleanup(func() {
		for _, nd := range tc.nodes {
			if nd != nil {
				nd.Close()
			}
		}
	})
	tc.waitUp(n)
	return tc
}

// start (re)starts node i; a restart reuses its ports and data dir.
func (tc *testCluster) start(i int) {
	tc.t.Helper()
	nd, err := StartWith(tc.cfgs[i], Options{WrapTransport: func(self string, inner coordinator.Transport) coordinator.Transport {
		return &coordtest.Faulty{Inner: inner, From: self, Faults: tc.faults}
	}})
	if err != nil {
		tc.t.Fatalf("start node %d: %v", i, err)
	}
	tc.nodes[i] = nd
	// Pin the ports the system chose, for a restart.
	_, p, _ := net.SplitHostPort(nd.Addr())
	tc.cfgs[i].Port, _ = strconv.Atoi(p)
	tc.cfgs[i].PeerPort = nd.cfg.PeerPort
	tc.cfgs[i].GossipPort = nd.cfg.GossipPort
}

// waitUp waits until every running node sees members nodes, all up.
func (tc *testCluster) waitUp(members int) {
	tc.t.Helper()
	waitFor(tc.t, fmt.Sprintf("%d members up everywhere", members), func() bool {
		for _, nd := range tc.nodes {
			s := nd.members.Snapshot()
			if s.Table.Len() != members {
				return false
			}
			for _, id := range s.Table.Members() {
				if !s.Up(id) {
					return false
				}
			}
		}
		return true
	})
}

func (tc *testCluster) client(i int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: tc.nodes[i].Addr(), Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// writeKeys SETs n keys named prefix0..prefix<n-1> to their own names (or
// to value, if not empty) through node 0, waits for every replica call to
// finish, and returns the keys.
func (tc *testCluster) writeKeys(prefix, value string, n int) []string {
	tc.t.Helper()
	c := tc.client(0)
	keys := make([]string, 0, n)
	for i := range n {
		key := fmt.Sprint(prefix, i)
		v := value
		if v == "" {
			v = key
		}
		if err := c.Set(context.Background(), key, v, 0).Err(); err != nil {
			tc.t.Fatal(err)
		}
		keys = append(keys, key)
	}
	for _, nd := range tc.nodes {
		if nd != nil {
			nd.coord.Quiesce()
		}
	}
	return keys
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterReadYourWritesThroughEveryNode(t *testing.T) {
	ctx := context.Background()
	tc := startTestCluster(t, 3)
	for i := range tc.nodes {
		w := tc.client(i)
		for k := range 20 {
			key := fmt.Sprintf("n%d:k%d", i, k)
			if err := w.Set(ctx, key, key, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for j := range tc.nodes {
		r := tc.client(j)
		for i := range tc.nodes {
			for k := range 20 {
				key := fmt.Sprintf("n%d:k%d", i, k)
				if got, err := r.Get(ctx, key).Result(); err != nil || got != key {
					t.Fatalf("node %d reads %s = %q, %v", j, key, got, err)
				}
			}
		}
	}
	// Read-modify-writes from every node go through the key's primary.
	for i := range tc.nodes {
		for range 10 {
			if err := tc.client(i).Incr(ctx, "counter").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, _ := tc.client(0).Get(ctx, "counter").Result(); got != "30" {
		t.Fatalf("counter = %s, want 30", got)
	}
}

// TestClusterPartitionSiblings: both sides of a partition write the same key
// with W=1; after the heal GETCTX shows both versions and one SETCTX with
// their context resolves them everywhere.
func TestClusterPartitionSiblings(t *testing.T) {
	ctx := context.Background()
	tc := startTestCluster(t, 3)
	// One connection each, so QUORUM sticks.
	lc, rc := tc.client(0).Conn(), tc.client(1).Conn()
	defer lc.Close()
	defer rc.Close()
	lc.Do(ctx, "QUORUM", 1, 1)
	rc.Do(ctx, "QUORUM", 1, 1)
	tc.faults.Add(coordtest.Partition{A: tc.ids[:1], B: tc.ids[1:]})
	if err := lc.Set(ctx, "cart", "left", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Set(ctx, "cart", "right", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tc.faults.Heal()
	tc.waitUp(3) // failed calls made peers suspect; gossip pings clear that
	third := tc.client(2).Conn()
	defer third.Close()
	third.Do(ctx, "QUORUM", 3, 3)
	res, err := third.Do(ctx, "GETCTX", "cart").Slice()
	if err != nil || len(res) != 2 {
		t.Fatalf("GETCTX = %v, %v", res, err)
	}
	vals := res[1].([]any)
	if len(vals) != 2 {
		t.Fatalf("want two siblings after the partition, got %v", vals)
	}
	if err := third.Do(ctx, "SETCTX", "cart", res[0], "both").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range tc.nodes {
		c := tc.client(i).Conn()
		c.Do(ctx, "QUORUM", 3, 3)
		res, err := c.Do(ctx, "GETCTX", "cart").Slice()
		c.Close()
		if err != nil || len(res[1].([]any)) != 1 || res[1].([]any)[0] != "both" {
			t.Fatalf("node %d after SETCTX: %v %v", i, res, err)
		}
	}
}

// TestClusterHintsSurviveHolderRestart: one node is cut off while writes
// and deletes continue with W=2; the hint holders restart; after the heal
// every hint reaches the node, which then holds every key itself.
func TestClusterHintsSurviveHolderRestart(t *testing.T) {
	ctx := context.Background()
	tc := startTestCluster(t, 3)
	tc.faults.Add(coordtest.Partition{A: tc.ids[2:], B: tc.ids[:2]})
	c := tc.client(0)
	want := map[string]string{}
	for k := range 50 {
		key := fmt.Sprint("h", k)
		if err := c.Set(ctx, key, key, 0).Err(); err != nil {
			t.Fatalf("write during the partition: %v", err)
		}
		want[key] = key
	}
	for k := 0; k < 50; k += 5 {
		key := fmt.Sprint("h", k)
		if err := c.Del(ctx, key).Err(); err != nil {
			t.Fatalf("delete during the partition: %v", err)
		}
		want[key] = ""
	}
	tc.nodes[0].coord.Quiesce()
	tc.nodes[1].coord.Quiesce()
	pending := func() int {
		n := 0
		for _, nd := range tc.nodes[:2] {
			for _, c := range nd.coord.HintCounts() {
				n += c
			}
		}
		return n
	}
	if pending() == 0 {
		t.Fatal("no hints kept for the partitioned node")
	}
	// Restart both holders while the partition lasts: hints are durable.
	for i := range 2 {
		tc.nodes[i].Close()
		tc.start(i)
	}
	if pending() == 0 {
		t.Fatal("hints lost across a restart")
	}
	tc.faults.Heal()
	tc.waitUp(3)
	waitFor(t, "hints handed off", func() bool { return pending() == 0 })
	now := time.Now().UnixMilli()
	for key, v := range want {
		sib, err := tc.nodes[2].store.Get(0, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if x, ok := sib.Visible(now); ok {
			got = string(x.Value)
		}
		if got != v {
			t.Fatalf("node 2 holds %s = %q, want %q", key, got, v)
		}
	}
}
