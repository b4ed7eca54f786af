package resp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
)

// startRingServer serves node 0 of a three-node in-memory ring, so that
// pipelined batches run concurrently.
func startRingServer(t *testing.T) string {
	t.Helper()
	net3 := coordtest.NewNetwork(1)
	var log []ring.Event
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("%040x", i+1)
		ids = append(ids, id)
		log = append(log, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: uint64(i + 1)})
	}
	topo := &coordinator.Topology{Table: ring.Build(log)}
	var coords []*coordinator.Coordinator
	for _, id := range ids {
		cfg := coordinator.DefaultConfig()
		cfg.NodeID = id
		cfg.Transport = net3.Transport(id)
		cfg.Topology = func() *coordinator.Topology { return topo }
		c, err := coordinator.New(cfg, coordtest.NewMemStore(ring.Slot))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		coords = append(coords, c)
	}
	var srvs []*Server
	for _, c := range coords {
		srv, err := NewServer(DefaultConfig(), c)
		if err != nil {
			t.Fatal(err)
		}
		srvs = append(srvs, srv)
	}
	for i, id := range ids {
		net3.Register(id, forwardingPeer{coords[i], srvs[i]})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srvs[0].Serve(ln)
	t.Cleanup(func() { srvs[0].Close() })
	if !srvs[0].concurrentPipelines() {
		t.Fatal("a three-node ring does not run pipelines concurrently")
	}
	return ln.Addr().String()
}

type forwardingPeer struct {
	*coordinator.Coordinator
	srv *Server
}

func (p forwardingPeer) ServeForward(ctx context.Context, db int, args [][]byte) ([]byte, error) {
	return p.srv.ExecuteForwarded(ctx, db, args), nil
}

// TestConcurrentPipelineKeepsOrder sends one pipeline mixing writes and
// reads of the same keys, a SELECT in the middle, and many independent
// keys; every reply must be what the commands run one by one would give.
func TestConcurrentPipelineKeepsOrder(t *testing.T) {
	addr := startRingServer(t)
	rc := dialRaw(t, addr)
	var req strings.Builder
	var want []string
	add := func(reply string, args ...string) {
		fmt.Fprintf(&req, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
		}
		want = append(want, reply)
	}
	add("+OK\r\n", "SET", "ctr", "0")
	for i := 1; i <= 30; i++ {
		add(fmt.Sprintf(":%d\r\n", i), "INCR", "ctr")
		add("+OK\r\n", "SET", fmt.Sprint("k", i), fmt.Sprint(i))
	}
	add("$2\r\n30\r\n", "GET", "ctr")
	add("+OK\r\n", "SELECT", "1")
	add("$-1\r\n", "GET", "ctr")
	add("+OK\r\n", "SET", "ctr", "db1")
	add("+OK\r\n", "SELECT", "0")
	add("$2\r\n30\r\n", "GET", "ctr")
	for i := 1; i <= 30; i++ {
		add(fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i), "GET", fmt.Sprint("k", i))
	}
	add(":1\r\n", "DEL", "k1")
	add("$-1\r\n", "GET", "k1")
	rc.send(req.String())
	for i, w := range want {
		if got := rc.reply(); got != w {
			t.Fatalf("reply %d = %q, want %q", i, got, w)
		}
	}
}
