package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// testCluster is n coordinators over in-memory stores, joined by a
// fault-injecting in-memory network.
type testCluster struct {
	t      *testing.T
	net    *coordtest.Network
	ids    []string
	nodes  []*coordinator.Coordinator
	stores []*coordtest.MemStore
	topo   atomic.Pointer[coordinator.Topology]
	table  *ring.Table
}

// setDown publishes a topology in which the given nodes are down.
func (tc *testCluster) setDown(ids ...string) {
	t := &coordinator.Topology{Table: tc.table, Down: map[string]bool{}}
	for _, id := range ids {
		t.Down[id] = true
	}
	tc.topo.Store(t)
}

type peer struct{ *coordinator.Coordinator }

func (peer) ServeForward(context.Context, int, [][]byte) ([]byte, error) {
	return nil, errors.New("no forwarding in coordinator tests")
}

func newTestCluster(t *testing.T, n int, seed uint64) *testCluster {
	t.Helper()
	return newTestClusterWith(t, n, seed, nil)
}

// newTestClusterWith is newTestCluster with each node's config passed
// through tune (nil: unchanged).
func newTestClusterWith(t *testing.T, n int, seed uint64, tune func(*coordinator.Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, net: coordtest.NewNetwork(seed)}
	var log []ring.Event
	for i := range n {
		id := fmt.Sprintf("%040x", i+1)
		tc.ids = append(tc.ids, id)
		log = append(log, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: uint64(i + 1)})
	}
	tc.table = ring.Build(log)
	tc.setDown()
	for _, id := range tc.ids {
		st := coordtest.NewMemStore(ring.Slot)
		cfg := coordinator.DefaultConfig()
		cfg.NodeID = id
		cfg.Transport = tc.net.Transport(id)
		cfg.Topology = tc.topo.Load
		cfg.CallTimeout = 200 * time.Millisecond
		cfg.Hints = st
		cfg.HandoffInterval = 5 * time.Millisecond
		if tune != nil {
			tune(&cfg)
		}
		c, err := coordinator.New(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		tc.net.Register(id, peer{c})
		tc.nodes = append(tc.nodes, c)
		tc.stores = append(tc.stores, st)
	}
	t.Cleanup(func() {
		for _, c := range tc.nodes {
			c.Close()
		}
	})
	return tc
}

// settle waits for background replica calls and repairs.
func (tc *testCluster) settle() {
	for _, c := range tc.nodes {
		c.Quiesce()
	}
}

// pendingHints sums the hints held on every node.
func (tc *testCluster) pendingHints() int {
	n := 0
	for _, st := range tc.stores {
		m, _ := st.HintCounts()
		for _, c := range m {
			n += c
		}
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// visibleOn returns what store i holds visibly for key ("" when nothing).
func (tc *testCluster) visibleOn(i int, key string) string {
	s, _ := tc.stores[i].Get(0, []byte(key))
	v, ok := s.Visible(time.Now().UnixMilli())
	if !ok {
		return ""
	}
	return string(v.Value)
}

func str(s string) coordinator.Value {
	return coordinator.Value{Kind: version.KindString, Data: []byte(s)}
}

func TestQuorumReadAfterWriteFromEveryNode(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 5, 1)
	for i, w := range tc.nodes {
		key := []byte(fmt.Sprintf("key-%d", i))
		if err := w.Set(ctx, 0, key, str(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
		for j, r := range tc.nodes {
			v, ok, err := r.Get(ctx, 0, key)
			if err != nil || !ok || string(v.Data) != fmt.Sprint("v", i) {
				t.Fatalf("write via %d, read via %d: %q %v %v", i, j, v.Data, ok, err)
			}
		}
	}
	tc.settle()
	// Every key is on exactly N=3 stores.
	for i := range tc.nodes {
		key := []byte(fmt.Sprintf("key-%d", i))
		holders := 0
		for _, st := range tc.stores {
			if s, _ := st.Get(0, key); len(s) > 0 {
				holders++
			}
		}
		if holders != 3 {
			t.Fatalf("key-%d on %d stores, want 3", i, holders)
		}
	}
}

func TestQuorumFailureIsAnError(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 2)
	tc.net.Add(coordtest.Partition{A: tc.ids[:1], B: tc.ids[1:]})
	err := tc.nodes[0].Set(ctx, 0, []byte("k"), str("v"))
	var qe *coordinator.QuorumError
	if !errors.As(err, &qe) || qe.Need != 2 || qe.Got != 1 {
		t.Fatalf("isolated write: %v (faults %s)", err, tc.net.Faults())
	}
	_, _, err = tc.nodes[0].Get(ctx, 0, []byte("k"))
	if !errors.As(err, &qe) {
		t.Fatalf("isolated read: %v", err)
	}
	// R=1 through QUORUM still reads locally.
	if _, _, err := tc.nodes[0].Get(coordinator.WithQuorum(ctx, 1, 1), 0, []byte("k")); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionMakesSiblingsAndSetCtxResolves(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 3)
	key := []byte("cart")
	q1 := coordinator.WithQuorum(ctx, 1, 1)
	tc.net.Add(coordtest.Partition{A: tc.ids[:1], B: tc.ids[1:]})
	if err := tc.nodes[0].Set(q1, 0, key, str("left")); err != nil {
		t.Fatal(err)
	}
	if err := tc.nodes[1].Set(q1, 0, key, str("right")); err != nil {
		t.Fatal(err)
	}
	tc.net.Heal()
	token, vals, err := tc.nodes[2].GetContext(coordinator.WithQuorum(ctx, 3, 3), 0, key)
	if err != nil || len(vals) != 2 {
		t.Fatalf("siblings after heal: %d %v", len(vals), err)
	}
	// Plain GET shows the last writer.
	v, _, _ := tc.nodes[0].Get(ctx, 0, key)
	if string(v.Data) != "right" {
		t.Fatalf("last writer = %q", v.Data)
	}
	if err := tc.nodes[2].SetContext(ctx, 0, key, token, str("merged")); err != nil {
		t.Fatal(err)
	}
	for i, n := range tc.nodes {
		_, vals, err := n.GetContext(coordinator.WithQuorum(ctx, 3, 3), 0, key)
		if err != nil || len(vals) != 1 || string(vals[0].Data) != "merged" {
			t.Fatalf("node %d after SETCTX: %v %v", i, vals, err)
		}
	}
}

func TestReadRepairUpdatesStaleReplica(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 4)
	key := []byte("k")
	// Node 2 misses the write.
	tc.net.Add(coordtest.Partition{A: tc.ids[2:], B: tc.ids[:2]})
	if err := tc.nodes[0].Set(ctx, 0, key, str("v")); err != nil {
		t.Fatal(err)
	}
	tc.settle()
	if s, _ := tc.stores[2].Get(0, key); len(s) != 0 {
		t.Fatal("partitioned replica got the write")
	}
	tc.net.Heal()
	tc2 := tc.nodes[0]
	if v, ok, err := tc2.Get(coordinator.WithQuorum(ctx, 3, 2), 0, key); err != nil || !ok || string(v.Data) != "v" {
		t.Fatal(v, ok, err)
	}
	tc.settle()
	if s, _ := tc.stores[2].Get(0, key); len(s) != 1 || string(s[0].Value) != "v" {
		t.Fatalf("stale replica not repaired: %v", s)
	}
	if tc2.Stats().ReadRepairs.Load() == 0 {
		t.Fatal("no read repair counted")
	}
}

// TestRandomHistory writes and reads random keys through random nodes under
// drops and delays and checks, against a model of acknowledged writes, that
// no acknowledged write is lost and every read returns a value that was
// written (or nothing after a delete).
func TestRandomHistory(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx := context.Background()
	tc := newTestCluster(t, 4, seed)
	tc.net.Add(coordtest.Drop{Rate: 0.05}, coordtest.Delay{Max: 2 * time.Millisecond})
	rng := rand.New(rand.NewPCG(seed, 7))
	const keys = 8
	var mu sync.Mutex
	written := map[string]map[string]bool{} // key -> every value ever sent (acked or not)
	// Per key, the writes in the order its owning goroutine issued them; a
	// failed write may still have reached a replica, so the final value must
	// be the last acknowledged one or a write attempted after it.
	type op struct {
		val   string // "" = delete
		acked bool
	}
	history := map[string][]op{}
	var wg sync.WaitGroup
	for g := range 4 {
		g := g
		seedG := rng.Uint64()
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seedG, uint64(g)))
			for i := range 150 {
				// Each goroutine owns keys g, g+4 so "last acknowledged" is well defined.
				key := fmt.Sprintf("k%d", g+4*r.IntN(keys/4))
				node := tc.nodes[r.IntN(len(tc.nodes))]
				switch r.IntN(3) {
				case 0, 1:
					val := fmt.Sprintf("%d-%d", g, i)
					mu.Lock()
					if written[key] == nil {
						written[key] = map[string]bool{}
					}
					written[key][val] = true
					mu.Unlock()
					err := node.Set(ctx, 0, []byte(key), str(val))
					mu.Lock()
					history[key] = append(history[key], op{val, err == nil})
					mu.Unlock()
				case 2:
					_, err := node.Del(ctx, 0, []byte(key))
					mu.Lock()
					history[key] = append(history[key], op{"", err == nil})
					mu.Unlock()
				}
				v, ok, err := node.Get(ctx, 0, []byte(key))
				if err == nil && ok {
					mu.Lock()
					valid := written[key][string(v.Data)]
					mu.Unlock()
					if !valid {
						t.Errorf("read %s = %q, never written (seed %d)", key, v.Data, seed)
					}
				}
			}
		})
	}
	wg.Wait()
	tc.net.Heal()
	tc.settle()
	for key, ops := range history {
		allowed := map[string]bool{}
		for _, o := range ops {
			if o.acked {
				clear(allowed)
			}
			allowed[o.val] = true
		}
		// With no faults, an R=N read sees every replica.
		v, ok, err := tc.nodes[0].Get(coordinator.WithQuorum(ctx, 3, 2), 0, []byte(key))
		if err != nil {
			t.Fatalf("final read %s: %v", key, err)
		}
		got := ""
		if ok {
			got = string(v.Data)
		}
		if !allowed[got] {
			t.Errorf("%s = %q, want one of %v: an acknowledged write was lost (seed %d, faults were drop 5%% + delay)", key, got, allowed, seed)
		}
	}
}

// TestEveryKeyListedOnce: KEYS/SCAN/DBSIZE on each node cover the slots it
// is master of, so scanning every node sees each key exactly once, also
// while a node is down.
func TestEveryKeyListedOnce(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 21)
	const keys = 300
	for i := range keys {
		if err := tc.nodes[i%3].Set(ctx, 0, []byte(fmt.Sprint("key:", i)), str("v")); err != nil {
			t.Fatal(err)
		}
	}
	tc.settle()
	count := func(nodes []int) map[string]int {
		seen := map[string]int{}
		for _, i := range nodes {
			var cur uint64
			for {
				next, err := tc.nodes[i].Scan(ctx, 0, cur, 50, func(k []byte, _ coordinator.Value) { seen[string(k)]++ })
				if err != nil {
					t.Fatal(err)
				}
				if cur = next; cur == 0 {
					break
				}
			}
		}
		return seen
	}
	check := func(seen map[string]int) {
		t.Helper()
		if len(seen) != keys {
			t.Fatalf("listed %d distinct keys, want %d", len(seen), keys)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("%s listed %d times", k, n)
			}
		}
	}
	check(count([]int{0, 1, 2}))
	var total int64
	for _, n := range tc.nodes {
		size, _ := n.DBSize(ctx, 0)
		total += size
	}
	if total != keys {
		t.Fatalf("DBSIZE summed over nodes = %d, want %d", total, keys)
	}
	// Node 2 down: the survivors take over its slots.
	tc.setDown(tc.ids[2])
	check(count([]int{0, 1}))
}

// Plans are cached per topology snapshot: a new snapshot must take effect
// at once, for a slot planned before it too.
func TestRouteFollowsNewTopology(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	key := []byte("k")
	first, _ := tc.nodes[0].Route(key, true)
	tc.setDown(first)
	if again, _ := tc.nodes[0].Route(key, true); again == first {
		t.Fatalf("rmw route still goes to %s after it went down", first[:6])
	}
	tc.setDown()
	if back, _ := tc.nodes[0].Route(key, true); back != first {
		t.Fatalf("rmw route goes to %s after heal, want %s", back[:6], first[:6])
	}
}
