package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// Benchmarks of one quorum request (N=3, R=W=2) over coordtest's in-memory
// network, whose calls cost almost nothing: what remains is the
// coordinator's own overhead per request (planning, fan-out, counting,
// contexts, goroutines). allocs/op is the steady figure; ns/op is noisy on a
// shared machine.
//
//	go test -run XXX -bench Quorum -benchmem ./coordinator/

type benchPeer struct{ *coordinator.Coordinator }

func (benchPeer) ServeForward(context.Context, int, [][]byte) ([]byte, error) {
	return nil, errors.New("no forwarding in benchmarks")
}

// newBenchCluster starts n coordinators over in-memory stores and returns
// them.
func newBenchCluster(b *testing.B, n int) []*coordinator.Coordinator {
	b.Helper()
	net := coordtest.NewNetwork(1)
	var log []ring.Event
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%040x", i+1)
		ids = append(ids, id)
		log = append(log, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: uint64(i + 1)})
	}
	topo := &coordinator.Topology{Table: ring.Build(log), Down: map[string]bool{}}
	var nodes []*coordinator.Coordinator
	for _, id := range ids {
		st := coordtest.NewMemStore(ring.Slot)
		cfg := coordinator.DefaultConfig()
		cfg.NodeID = id
		cfg.Transport = net.Transport(id)
		cfg.Topology = func() *coordinator.Topology { return topo }
		cfg.Hints = st
		cfg.HandoffInterval = time.Hour
		c, err := coordinator.New(cfg, st)
		if err != nil {
			b.Fatal(err)
		}
		net.Register(id, benchPeer{c})
		nodes = append(nodes, c)
	}
	b.Cleanup(func() {
		for _, c := range nodes {
			c.Close()
		}
	})
	return nodes
}

// benchKeys returns keys of which node 0 is a replica, so that Set takes
// the replica path (local store plus N-1 calls), as with a smart client.
func benchKeys(b *testing.B, c *coordinator.Coordinator) [][]byte {
	var keys [][]byte
	for i := 0; len(keys) < 256; i++ {
		k := []byte(fmt.Sprint("key:", i))
		if _, here := c.Route(k, true); here {
			keys = append(keys, k)
		}
	}
	return keys
}

// instant is a Transport whose replicas answer at once, from the calling
// goroutine, with what the local store holds (so reads need no repair):
// the benchmark then measures the coordinator alone.
type instant struct{ st *coordtest.MemStore }

func (t *instant) SendRead(_ string, db int, key []byte, _ time.Time, to coordinator.Replies, i int) {
	sib, err := t.st.Get(db, key)
	to.Reply(i, sib, err)
}

func (t *instant) SendWrite(_ string, _ int, _ []byte, _ version.Siblings, _ string, _ time.Time, to coordinator.Replies, i int) {
	to.Reply(i, nil, nil)
}

func (t *instant) Forward(context.Context, string, int, [][]byte) ([]byte, error) {
	return nil, errors.New("no forwarding in benchmarks")
}

// newInstantCoordinator returns node 0 of a 3-node ring whose peers are
// instant, and keys it is a replica of.
func newInstantCoordinator(b *testing.B) (*coordinator.Coordinator, [][]byte) {
	ref := newBenchCluster(b, 3)[0]
	keys := benchKeys(b, ref)
	topo := ref.Topology()
	st := coordtest.NewMemStore(ring.Slot)
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = ref.NodeID()
	cfg.Transport = &instant{st}
	cfg.Topology = func() *coordinator.Topology { return topo }
	c, err := coordinator.New(cfg, st)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c, keys
}

// BenchmarkCoordinator is a quorum request's cost in the coordinator
// itself: the replicas answer instantly and for free.
func BenchmarkCoordinator(b *testing.B) {
	ctx := context.Background()
	val := coordinator.Value{Data: make([]byte, 100)}
	b.Run("set", func(b *testing.B) {
		c, keys := newInstantCoordinator(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := c.Set(ctx, 0, keys[i%len(keys)], val); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		c, keys := newInstantCoordinator(b)
		for _, k := range keys {
			if err := c.Set(ctx, 0, k, val); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := c.Get(ctx, 0, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkQuorum(b *testing.B) {
	ctx := context.Background()
	val := coordinator.Value{Data: make([]byte, 100)}
	b.Run("set", func(b *testing.B) {
		c := newBenchCluster(b, 3)[0]
		keys := benchKeys(b, c)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := c.Set(ctx, 0, keys[i%len(keys)], val); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c.Quiesce()
	})
	b.Run("get", func(b *testing.B) {
		c := newBenchCluster(b, 3)[0]
		keys := benchKeys(b, c)
		for _, k := range keys {
			if err := c.Set(ctx, 0, k, val); err != nil {
				b.Fatal(err)
			}
		}
		c.Quiesce()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := c.Get(ctx, 0, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c.Quiesce()
	})
	b.Run("route", func(b *testing.B) {
		c := newBenchCluster(b, 3)[0]
		keys := benchKeys(b, c)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c.Route(keys[i%len(keys)], false)
		}
	})
}
