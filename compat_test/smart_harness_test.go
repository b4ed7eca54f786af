package compat_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The smart-client tests (issue 5) start their own small rings instead of
// the shared cluster harness, because they need node flags it does not pass
// (--n, --cluster-redirects) and a node that joins a running ring. What is
// here is only that: start, join, kill, wait until every live node shows the
// same topology, and read a node's counters. Processes are started through
// startProcess, so they are stopped (SIGTERM, checked for a clean exit) when
// the test ends and their output is logged if it failed.

const (
	// smartSettleTimeout bounds how long a ring may take until every live node
	// shows the same topology after a start, a join or a kill.
	smartSettleTimeout = 60 * time.Second
	// numSlots is Redis Cluster's slot count.
	numSlots = 16384
)

// smartOptions are the node flags of a smart-client test ring.
type smartOptions struct {
	N         int  // --n; 0 leaves the default (3)
	Redirects bool // --cluster-redirects yes
}

// smartRing is a ring of ringstore processes on loopback ports. Kill, Add
// and the accessors are safe for concurrent use with client traffic.
type smartRing struct {
	t    testing.TB
	opts smartOptions

	mu    sync.Mutex // guards nodes and each node's killed flag
	nodes []*smartNode
}

// smartNode is one process of a smartRing.
type smartNode struct {
	Index      int
	ID         string // CLUSTER MYID
	Addr       string // RESP host:port
	Port       int
	GossipPort int
	srv        *server
	killed     bool
}

// startSmartRing starts n nodes (node 0 alone, the others joining it) and
// waits until every node shows all n members up and the same slot map.
func startSmartRing(t testing.TB, n int, opts smartOptions) *smartRing {
	t.Helper()
	if standin() != "" {
		t.Skipf("skipping: a ring test cannot run against the stand-in %s", standin())
	}
	r := &smartRing{t: t, opts: opts}
	for range n {
		r.start()
	}
	r.waitSettled(t, true)
	return r
}

// start launches one more node, joining the first live node (if any), and
// returns once it answers PING.
func (r *smartRing) start() *smartNode {
	r.t.Helper()
	bin := ringstoreBinary(r.t)
	r.mu.Lock()
	join := ""
	for _, nd := range r.nodes {
		if !nd.killed {
			join = net.JoinHostPort("127.0.0.1", strconv.Itoa(nd.GossipPort))
			break
		}
	}
	nd := &smartNode{Index: len(r.nodes)}
	r.mu.Unlock()
	dataDir := r.t.TempDir()
	nd.srv = startProcess(r.t, fmt.Sprintf("ringstore node %d", nd.Index), serverOptions{DataDir: dataDir}, func(port int) []string {
		ports := udpAndTCPPorts(r.t, 2, port)
		nd.Port, nd.GossipPort = port, ports[0]
		args := []string{bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--gossip-port", strconv.Itoa(ports[0]), "--peer-port", strconv.Itoa(ports[1]),
			"--data-dir", dataDir, "--gossip-profile", "local"}
		if join != "" {
			args = append(args, "--join", join)
		}
		if r.opts.N != 0 {
			args = append(args, "--n", strconv.Itoa(r.opts.N))
		}
		if r.opts.Redirects {
			args = append(args, "--cluster-redirects", "yes")
		}
		return args
	})
	nd.Addr = nd.srv.Addr
	rdb := redis.NewClient(&redis.Options{Addr: nd.Addr})
	defer rdb.Close()
	id, err := rdb.ClusterMyID(context.Background()).Result()
	if err != nil {
		r.t.Fatalf("node %d: CLUSTER MYID: %v", nd.Index, err)
	}
	nd.ID = id
	r.mu.Lock()
	r.nodes = append(r.nodes, nd)
	r.mu.Unlock()
	return nd
}

// udpAndTCPPorts returns k loopback ports, other than avoid, on which both
// TCP and UDP were free a moment ago (gossip listens on both).
func udpAndTCPPorts(t testing.TB, k, avoid int) []int {
	t.Helper()
	var ports []int
	for tries := 0; len(ports) < k; tries++ {
		if tries > 100 {
			t.Fatalf("no free TCP+UDP loopback port after %d tries", tries)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		if p != avoid && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// Add starts a new node that joins the ring, and waits until every live node
// shows it. With probe, it also waits until keys written through every node
// read back through every node; without, it sends no keyed command (so that
// the nodes' forwarded counters count only the test's own traffic).
func (r *smartRing) Add(probe bool) *smartNode {
	r.t.Helper()
	nd := r.start()
	r.waitSettled(r.t, probe)
	return nd
}

// Kill crashes node i with SIGKILL. It does not wait for the others to
// notice (see waitSettled).
func (r *smartRing) Kill(i int) {
	r.mu.Lock()
	nd := r.nodes[i]
	nd.killed = true
	r.mu.Unlock()
	nd.srv.Kill()
}

// Node returns node i.
func (r *smartRing) Node(i int) *smartNode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodes[i]
}

// Live returns the indexes of the nodes not killed.
func (r *smartRing) Live() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var live []int
	for _, nd := range r.nodes {
		if !nd.killed {
			live = append(live, nd.Index)
		}
	}
	return live
}

// Addrs returns the RESP addresses of the live nodes.
func (r *smartRing) Addrs() []string {
	var addrs []string
	for _, i := range r.Live() {
		addrs = append(addrs, r.Node(i).Addr)
	}
	return addrs
}

// Client returns a plain go-redis client of node i, closed when the test ends.
func (r *smartRing) Client(i int) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: r.Node(i).Addr})
	r.t.Cleanup(func() { rdb.Close() })
	return rdb
}

// ClusterClient returns a go-redis ClusterClient seeded with every live
// node, with default options except those opts sets (nil for none), closed
// when the test ends.
func (r *smartRing) ClusterClient(opts *redis.ClusterOptions) *redis.ClusterClient {
	o := redis.ClusterOptions{}
	if opts != nil {
		o = *opts
	}
	o.Addrs = r.Addrs()
	cc := redis.NewClusterClient(&o)
	r.t.Cleanup(func() { cc.Close() })
	return cc
}

// waitSettled waits until every live node lists every started node, the
// killed ones as failed and the others as connected, and all live nodes
// give the same CLUSTER SLOTS covering every slot; then, with probe, until
// a key written through each live node reads back through every live node.
// It fails t if that takes longer than smartSettleTimeout.
func (r *smartRing) waitSettled(t testing.TB, probe bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), smartSettleTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if last = r.settled(ctx, probe); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ring did not settle within %v: %v", smartSettleTimeout, last)
}

// settled is one check of waitSettled.
func (r *smartRing) settled(ctx context.Context, probe bool) error {
	want := map[string]bool{} // id -> killed
	r.mu.Lock()
	for _, nd := range r.nodes {
		want[nd.ID] = nd.killed
	}
	r.mu.Unlock()
	live := r.Live()
	var first *topology
	for _, i := range live {
		rdb := redis.NewClient(&redis.Options{Addr: r.Node(i).Addr, MaxRetries: -1, ReadTimeout: 2 * time.Second})
		topo, err := readTopology(ctx, rdb)
		rdb.Close()
		if err != nil {
			return fmt.Errorf("node %d: %v", i, err)
		}
		if len(topo.nodes) != len(want) {
			return fmt.Errorf("node %d: CLUSTER NODES lists %d nodes, want %d", i, len(topo.nodes), len(want))
		}
		for _, line := range topo.nodes {
			killed, ok := want[line.id]
			if !ok {
				return fmt.Errorf("node %d: CLUSTER NODES lists unknown node %s", i, line.id)
			}
			if line.failed != killed {
				return fmt.Errorf("node %d: CLUSTER NODES shows %s (killed: %v) with flags %s", i, line.addr, killed, line.flags)
			}
		}
		if err := topo.complete(); err != nil {
			return fmt.Errorf("node %d: %v", i, err)
		}
		if first == nil {
			first = topo
		} else if topo.slots != first.slots {
			return fmt.Errorf("node %d: CLUSTER SLOTS differs from node %d's", i, live[0])
		}
	}
	if !probe {
		return nil
	}
	return r.readYourWrites(ctx, live)
}

// readYourWrites writes one key per live node through it and reads all of
// them through every live node, then deletes them.
func (r *smartRing) readYourWrites(ctx context.Context, live []int) error {
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	clients := make([]*redis.Client, len(live))
	for k, i := range live {
		clients[k] = redis.NewClient(&redis.Options{Addr: r.Node(i).Addr, MaxRetries: -1, ReadTimeout: 2 * time.Second})
		defer clients[k].Close()
	}
	key := func(k int) string { return "smart:settle:" + strconv.Itoa(live[k]) }
	for k, rdb := range clients {
		if _, err := followMoved(ctx, rdb, "set", key(k), token, "ex", 60); err != nil {
			return fmt.Errorf("node %d: SET: %v", live[k], err)
		}
	}
	for k := range clients {
		for j, rdb := range clients {
			if got, err := followMoved(ctx, rdb, "get", key(k)); err != nil || got != token {
				return fmt.Errorf("node %d: GET %s = %v, %v; want %q", live[j], key(k), got, err, token)
			}
		}
	}
	for k, rdb := range clients {
		if _, err := followMoved(ctx, rdb, "del", key(k)); err != nil {
			return fmt.Errorf("node %d: DEL: %v", live[k], err)
		}
	}
	return nil
}

// followMoved runs a command on rdb and, if it answers MOVED (a node with
// --cluster-redirects), once more on the node it names.
func followMoved(ctx context.Context, rdb *redis.Client, args ...any) (any, error) {
	v, err := rdb.Do(ctx, args...).Result()
	if err == nil || !errRedirect(err) {
		return v, err
	}
	f := strings.Fields(err.Error())
	other := redis.NewClient(&redis.Options{Addr: f[2], MaxRetries: -1, ReadTimeout: 2 * time.Second})
	defer other.Close()
	return other.Do(ctx, args...).Result()
}

// Forwarded returns the `forwarded:` counter of INFO ringstore of every
// live node, by node index: requests it sent on to another coordinator.
func (r *smartRing) Forwarded(ctx context.Context) (map[int]int64, error) {
	counts := map[int]int64{}
	for _, i := range r.Live() {
		rdb := redis.NewClient(&redis.Options{Addr: r.Node(i).Addr, MaxRetries: -1, ReadTimeout: 2 * time.Second})
		info, err := rdb.Info(ctx, "ringstore").Result()
		rdb.Close()
		if err != nil {
			return nil, fmt.Errorf("node %d: INFO ringstore: %v", i, err)
		}
		n, ok := infoField(info, "forwarded")
		if !ok {
			return nil, fmt.Errorf("node %d: INFO ringstore has no forwarded: field:\n%s", i, info)
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("node %d: forwarded:%s: %v", i, n, err)
		}
		counts[i] = v
	}
	return counts, nil
}

// infoField returns the value of a "name:value" line of an INFO reply.
func infoField(info, name string) (string, bool) {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+":"); ok {
			return v, true
		}
	}
	return "", false
}

// errRedirect reports whether err is a MOVED or ASK reply.
func errRedirect(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}
