package coordinator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
)

// remoteCalls counts the calls node 0 made to the other nodes.
func (tc *testCluster) remoteCalls() int {
	n := 0
	for _, id := range tc.ids[1:] {
		n += tc.net.Calls(tc.ids[0], id)
	}
	return n
}

func TestReadAsksROfNReplicas(t *testing.T) {
	ctx := context.Background()
	tc := newTestClusterWith(t, 3, 7, func(c *coordinator.Config) { c.ReadRepairChance = 0 })
	for i := range 20 {
		if err := tc.nodes[0].Set(ctx, 0, fmt.Appendf(nil, "k%d", i), str("v")); err != nil {
			t.Fatal(err)
		}
	}
	tc.settle()
	for _, r := range []int{1, 2, 3} {
		before := tc.remoteCalls()
		for i := range 20 {
			v, ok, err := tc.nodes[0].Get(coordinator.WithQuorum(ctx, r, 0), 0, fmt.Appendf(nil, "k%d", i))
			if err != nil || !ok || string(v.Data) != "v" {
				t.Fatalf("R=%d: %v %v %v", r, v, ok, err)
			}
		}
		tc.settle()
		// Node 0 replicates every key (N=3 of 3 nodes): it reads its own
		// copy and asks R-1 others.
		if got, want := tc.remoteCalls()-before, 20*(r-1); got != want {
			t.Errorf("R=%d: %d replica calls for 20 reads, want %d", r, got, want)
		}
	}
}

func TestReadRepairChanceOneAsksEveryReplica(t *testing.T) {
	ctx := context.Background()
	tc := newTestClusterWith(t, 3, 8, func(c *coordinator.Config) { c.ReadRepairChance = 1 })
	key := []byte("k")
	tc.net.Add(coordtest.Partition{A: tc.ids[2:], B: tc.ids[:2]})
	if err := tc.nodes[0].Set(ctx, 0, key, str("v")); err != nil {
		t.Fatal(err)
	}
	tc.settle()
	tc.net.Heal()
	// R=2 is reached by nodes 0 and 1, but every replica is asked, so the
	// one that missed the write is repaired.
	if _, _, err := tc.nodes[0].Get(ctx, 0, key); err != nil {
		t.Fatal(err)
	}
	tc.settle()
	if got := tc.visibleOn(2, "k"); got != "v" {
		t.Fatalf("node 2 holds %q after a full read, want the repaired \"v\"", got)
	}
}

func TestReadFallsBackWhenAnAskedReplicaFails(t *testing.T) {
	ctx := context.Background()
	tc := newTestClusterWith(t, 3, 9, func(c *coordinator.Config) {
		c.ReadRepairChance = 0
		c.SpeculativeRead = time.Hour // only a failure may widen the read
	})
	for i := range 20 {
		if err := tc.nodes[0].Set(ctx, 0, fmt.Appendf(nil, "k%d", i), str("v")); err != nil {
			t.Fatal(err)
		}
	}
	tc.settle()
	// Node 0 cannot reach node 1; whichever replica each read asks first,
	// every read must reach R=2 through node 2.
	tc.net.Add(coordtest.Partition{A: tc.ids[:1], B: tc.ids[1:2]})
	for i := range 20 {
		v, ok, err := tc.nodes[0].Get(ctx, 0, fmt.Appendf(nil, "k%d", i))
		if err != nil || !ok || string(v.Data) != "v" {
			t.Fatalf("k%d: %v %v %v", i, v, ok, err)
		}
	}
	if tc.nodes[0].Stats().SpeculativeReads.Load() != 0 {
		t.Fatal("a speculative read was counted although SpeculativeRead is an hour")
	}
}

func TestSpeculativeReadAsksTheOthersWhenSlow(t *testing.T) {
	tc := newTestClusterWith(t, 3, 10, func(c *coordinator.Config) {
		c.ReadRepairChance = 0
		c.SpeculativeRead = 5 * time.Millisecond
		c.CallTimeout = time.Minute // a stalled replica never fails the call
	})
	ctx := context.Background()
	for i := range 20 {
		if err := tc.nodes[0].Set(ctx, 0, fmt.Appendf(nil, "k%d", i), str("v")); err != nil {
			t.Fatal(err)
		}
	}
	tc.settle()
	// Node 1 answers only after 3 s. The reads that asked it first must
	// finish through node 2 long before that.
	tc.net.Add(coordtest.Stall{To: tc.ids[1], For: 3 * time.Second})
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for i := range 20 {
		v, ok, err := tc.nodes[0].Get(rctx, 0, fmt.Appendf(nil, "k%d", i))
		if err != nil || !ok || string(v.Data) != "v" {
			t.Fatalf("k%d: %v %v %v", i, v, ok, err)
		}
	}
	if tc.nodes[0].Stats().SpeculativeReads.Load() == 0 {
		t.Fatal("no read asked node 1 first? none was counted as speculative")
	}
	tc.net.Heal()
}

// TestStartedReadsSpeculateFromTheirSend: reads started together and
// waited for one after another (a pipeline's GETs) count SpeculativeRead
// from when each was sent, so a stalled replica delays the whole batch by
// about one SpeculativeRead, not one per read that asked it first.
func TestStartedReadsSpeculateFromTheirSend(t *testing.T) {
	const spec = 200 * time.Millisecond
	tc := newTestClusterWith(t, 3, 11, func(c *coordinator.Config) {
		c.ReadRepairChance = 0
		c.SpeculativeRead = spec
		c.CallTimeout = time.Minute // a stalled replica never fails the call
	})
	ctx := context.Background()
	const n = 20
	for i := range n {
		if err := tc.nodes[0].Set(ctx, 0, fmt.Appendf(nil, "k%d", i), str("v")); err != nil {
			t.Fatal(err)
		}
	}
	tc.settle()
	tc.net.Add(coordtest.Stall{To: tc.ids[1], For: 3 * time.Second})
	defer tc.net.Heal()
	start := time.Now()
	prs := make([]coordinator.PendingRead, n)
	for i := range prs {
		tc.nodes[0].StartGet(ctx, 0, fmt.Appendf(nil, "k%d", i), &prs[i])
	}
	for i := range prs {
		v, ok, err := prs[i].Get(ctx)
		if err != nil || !ok || string(v.Data) != "v" {
			t.Fatalf("k%d: %v %v %v", i, v, ok, err)
		}
	}
	speculated := tc.nodes[0].Stats().SpeculativeReads.Load()
	if speculated < 2 {
		t.Fatalf("%d reads asked the stalled node first; the test needs several", speculated)
	}
	// Counted from each wait, the batch would take speculated x spec.
	if took := time.Since(start); took >= time.Duration(speculated)*spec/2 {
		t.Fatalf("%d started reads took %v with %d speculations of %v each: the waits added up", n, took, speculated, spec)
	}
}
