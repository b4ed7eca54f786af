package resp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
)

// startRingServer serves node 0 of a three-node in-memory ring, so that
// pipelined batches run concurrently. mod, if given, adjusts that node's
// Server before it serves.
func startRingServer(t testing.TB, mod ...func(*Server)) string {
	t.Helper()
	addr, _ := startRingServerOn(t, coordtest.NewNetwork(1), mod...)
	return addr
}

// startRingServerOn is startRingServer on net3, whose faults the caller
// controls; it also returns node 0's store.
func startRingServerOn(t testing.TB, net3 *coordtest.Network, mod ...func(*Server)) (string, *coordtest.MemStore) {
	t.Helper()
	var log []ring.Event
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("%040x", i+1)
		ids = append(ids, id)
		log = append(log, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: uint64(i + 1)})
	}
	topo := &coordinator.Topology{Table: ring.Build(log)}
	var coords []*coordinator.Coordinator
	var stores []*coordtest.MemStore
	for _, id := range ids {
		cfg := coordinator.DefaultConfig()
		cfg.NodeID = id
		cfg.Transport = net3.Transport(id)
		cfg.Topology = func() *coordinator.Topology { return topo }
		st := coordtest.NewMemStore(ring.Slot)
		stores = append(stores, st)
		cfg.Hints = st
		c, err := coordinator.New(cfg, st)
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
	for _, m := range mod {
		m(srvs[0])
	}
	go srvs[0].Serve(ln)
	t.Cleanup(func() { srvs[0].Close() })
	if !srvs[0].concurrentPipelines() {
		t.Fatal("a three-node ring does not run pipelines concurrently")
	}
	return ln.Addr().String(), stores[0]
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
	rc := dialRaw(t, startRingServer(t))
	req, want := orderPipeline("")
	rc.send(req)
	checkReplies(t, rc, want)
}

// TestConcurrentPipelineOneWorker: with a single worker, commands that
// wait for each other (same key) and barriers still all complete, in
// order, on several connections at once: no worker ever waits for work
// queued behind it.
func TestConcurrentPipelineOneWorker(t *testing.T) {
	addr := startRingServer(t, func(srv *Server) { srv.workers.max = 1 })
	var conns []*rawClient
	var wants [][]string
	for i := range 4 {
		req, want := orderPipeline(fmt.Sprint("c", i, ":"))
		rc := dialRaw(t, addr)
		rc.send(req) // all four batches are in the server before a reply is read
		conns, wants = append(conns, rc), append(wants, want)
	}
	for i, rc := range conns {
		checkReplies(t, rc, wants[i])
	}
}

// orderPipeline returns a pipeline mixing dependent and independent
// commands and barriers, and the replies Redis gives it. Its keys start
// with prefix, so pipelines with different prefixes do not meet.
func orderPipeline(prefix string) (string, []string) {
	var req strings.Builder
	var want []string
	add := func(reply string, args ...string) {
		fmt.Fprintf(&req, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
		}
		want = append(want, reply)
	}
	add("+OK\r\n", "SET", prefix+"ctr", "0")
	for i := 1; i <= 30; i++ {
		add(fmt.Sprintf(":%d\r\n", i), "INCR", prefix+"ctr")
		add("+OK\r\n", "SET", fmt.Sprint(prefix, "k", i), fmt.Sprint(i))
	}
	add("$2\r\n30\r\n", "GET", prefix+"ctr")
	add("+OK\r\n", "SELECT", "1")
	add("$-1\r\n", "GET", prefix+"ctr")
	add("+OK\r\n", "SET", prefix+"ctr", "db1")
	add("+OK\r\n", "SELECT", "0")
	add("$2\r\n30\r\n", "GET", prefix+"ctr")
	for i := 1; i <= 30; i++ {
		add(fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i), "GET", fmt.Sprint(prefix, "k", i))
	}
	add(":1\r\n", "DEL", prefix+"k1")
	add("$-1\r\n", "GET", prefix+"k1")
	return req.String(), want
}

func checkReplies(t *testing.T, rc *rawClient, want []string) {
	t.Helper()
	for i, w := range want {
		if got := rc.reply(); got != w {
			t.Fatalf("reply %d = %q, want %q", i, got, w)
		}
	}
}

// TestConcurrentPipelineQuit: QUIT in a concurrent batch answers OK after
// the replies before it, then the connection closes and nothing the client
// sent after QUIT has run.
func TestConcurrentPipelineQuit(t *testing.T) {
	addr := startRingServer(t)
	rc := dialRaw(t, addr)
	rc.send("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n" +
		"*1\r\n$4\r\nQUIT\r\n" +
		"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n")
	for _, want := range []string{"+OK\r\n", "+OK\r\n"} {
		if got := rc.reply(); got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	if n, err := rc.r.ReadByte(); err == nil {
		t.Fatalf("read %q after QUIT's reply, want the connection closed", n)
	}
	rc2 := dialRaw(t, addr)
	rc2.send("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
	if a, b := rc2.reply(), rc2.reply(); a != "$1\r\n1\r\n" || b != "$-1\r\n" {
		t.Fatalf("GET a, GET b = %q, %q; want \"1\" and nil", a, b)
	}
}

// TestWorkersEndWithServer: Close returns only after the pool's workers
// have exited, and the pool started no more workers than commands ran at
// once.
func TestWorkersEndWithServer(t *testing.T) {
	var srv *Server
	addr := startRingServer(t, func(s *Server) { srv = s })
	rc := dialRaw(t, addr)
	var req strings.Builder
	for i := range 64 {
		// With an option: a plain SET would start without a worker.
		fmt.Fprintf(&req, "*5\r\n$3\r\nSET\r\n$3\r\nk%02d\r\n$1\r\nv\r\n$2\r\nEX\r\n$3\r\n100\r\n", i)
	}
	rc.send(req.String())
	for range 64 {
		if got := rc.reply(); got != "+OK\r\n" {
			t.Fatalf("reply %q", got)
		}
	}
	srv.workers.mu.Lock()
	started := srv.workers.started
	srv.workers.mu.Unlock()
	if started < 1 || started > 64 {
		t.Fatalf("%d workers started for one 64-command batch", started)
	}
	srv.Close()
	done := make(chan struct{})
	go func() { srv.workers.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("workers still running after Close")
	}
}
