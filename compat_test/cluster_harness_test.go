package compat_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// convergeTimeout bounds how long a started cluster may take until a
	// write through any node is readable through every other node.
	convergeTimeout = 60 * time.Second
	// clusterStopTimeout bounds how long a cluster node may take to exit
	// after SIGTERM at the end of a test before it is killed.
	clusterStopTimeout = 10 * time.Second
)

// clusterOptions configures every node of a test cluster. Zero values leave
// ringstore's defaults.
type clusterOptions struct {
	Fsync   string // --fsync always|everysec|no
	N, R, W int    // --n, --r, --w
	Secret  string // --cluster-secret
	// AntiEntropyMs is --anti-entropy-interval-ms when not zero.
	AntiEntropyMs int
}

// cluster is a ring of real ringstore processes on loopback ports, started
// by startCluster. Its methods are safe for concurrent use, so that a test
// may inject faults while other goroutines send requests.
type cluster struct {
	t     testing.TB
	opts  clusterOptions
	Nodes []*clusterNode
}

// clusterNode is one member of a test cluster. Its ports and data directory
// stay the same across restarts, so that it keeps its identity.
type clusterNode struct {
	Index      int
	Addr       string // RESP host:port
	Port       int    // RESP port
	GossipPort int    // memberlist port (TCP and UDP)
	PeerPort   int    // node-to-node port
	DataDir    string

	out *syncBuffer // output of every incarnation, with harness markers

	mu      sync.Mutex // guards proc, args, stopped, starts
	proc    *server    // the current (or last) process
	args    []string
	stopped bool // SIGSTOP sent and no SIGCONT since
	starts  int
}

// GossipAddr is the address other nodes --join this node at.
func (n *clusterNode) GossipAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.GossipPort))
}

// logf writes a harness marker into the node's output.
func (n *clusterNode) logf(format string, args ...any) {
	fmt.Fprintf(n.out, "=== harness %s: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// startCluster starts n ringstore processes as one ring: node 0 alone, the
// others with --join at node 0's gossip address. It returns once every node
// answers PING and a write through every node is readable through every
// other node. When t ends, every process is stopped (SIGTERM, then SIGKILL)
// and its data directory removed; if t failed, each node's output goes to the
// test log.
func startCluster(t testing.TB, n int, opts clusterOptions) *cluster {
	t.Helper()
	if standin() != "" {
		t.Skipf("skipping: a cluster test cannot run against the stand-in %s", standin())
	}
	bin := ringstoreBinary(t)
	c := &cluster{t: t, opts: opts}
	for i := range n {
		c.Nodes = append(c.Nodes, &clusterNode{Index: i, DataDir: t.TempDir(), out: &syncBuffer{}})
	}
	// Registered after the data directories, so it runs before they are removed.
	t.Cleanup(c.cleanup)
	c.launch(bin, c.Nodes[0])
	var wg sync.WaitGroup
	errs := make([]error, n)
	for _, node := range c.Nodes[1:] {
		wg.Go(func() { errs[node.Index] = c.tryLaunch(bin, node) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatalf("cluster of %d did not converge: %v", n, err)
	}
	return c
}

// launch is tryLaunch that fails the test.
func (c *cluster) launch(bin string, node *clusterNode) {
	c.t.Helper()
	if err := c.tryLaunch(bin, node); err != nil {
		c.t.Fatal(err)
	}
}

// tryLaunch picks free ports for node and starts its first process, trying
// other ports if the process dies before it answers PING (another process
// took a port between the check and the bind).
func (c *cluster) tryLaunch(bin string, node *clusterNode) error {
	var err error
	for range 3 {
		ports, perr := freePorts(3)
		if perr != nil {
			return perr
		}
		node.Port, node.GossipPort, node.PeerPort = ports[0], ports[1], ports[2]
		node.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(node.Port))
		args := []string{bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(node.Port),
			"--gossip-port", strconv.Itoa(node.GossipPort), "--peer-port", strconv.Itoa(node.PeerPort),
			"--data-dir", node.DataDir, "--gossip-profile", "local"}
		if node.Index > 0 {
			args = append(args, "--join", c.Nodes[0].GossipAddr())
		}
		if o := c.opts; o.Fsync != "" {
			args = append(args, "--fsync", o.Fsync)
		}
		for _, f := range []struct {
			flag string
			v    int
		}{{"--n", c.opts.N}, {"--r", c.opts.R}, {"--w", c.opts.W}} {
			if f.v != 0 {
				args = append(args, f.flag, strconv.Itoa(f.v))
			}
		}
		if c.opts.Secret != "" {
			args = append(args, "--cluster-secret", c.opts.Secret)
		}
		if c.opts.AntiEntropyMs != 0 {
			args = append(args, "--anti-entropy-interval-ms", strconv.Itoa(c.opts.AntiEntropyMs))
		}
		node.mu.Lock()
		node.args = args
		node.mu.Unlock()
		if err = node.start(); err == nil {
			return nil
		}
		node.mu.Lock()
		exited := node.proc.hasExited()
		node.mu.Unlock()
		if !exited {
			break
		}
		node.logf("start failed (%v); retrying on other ports", err)
	}
	return fmt.Errorf("node %d did not start: %v", node.Index, err)
}

// freePorts returns k distinct loopback ports on which TCP and UDP were
// free a moment ago (gossip needs both on its port).
func freePorts(k int) ([]int, error) {
	var ports []int
	for len(ports) < k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %v", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		pc, uerr := net.ListenPacket("udp", ln.Addr().String())
		ln.Close()
		if uerr != nil {
			continue
		}
		pc.Close()
		dup := false
		for _, q := range ports {
			dup = dup || q == p
		}
		if !dup {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// start runs the node's command line and waits until it answers PING.
func (n *clusterNode) start() error {
	n.mu.Lock()
	n.starts++
	n.logf("start #%d: %s", n.starts, strings.Join(n.args, " "))
	s := &server{name: fmt.Sprintf("ringstore node %d", n.Index), Addr: n.Addr, Port: n.Port,
		DataDir: n.DataDir, out: n.out, exited: make(chan struct{})}
	s.cmd = exec.Command(n.args[0], n.args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = n.out, n.out
	s.cmd.SysProcAttr = childProcAttr()
	n.proc, n.stopped = s, false
	if err := s.cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("node %d: %v", n.Index, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		n.logf("process %d exited: %v", s.cmd.Process.Pid, s.waitErr)
		close(s.exited)
	}()
	n.mu.Unlock()
	if err := s.waitReady(); err != nil {
		return fmt.Errorf("node %d on %s: %v", n.Index, n.Addr, err)
	}
	return nil
}

// hasExited reports whether the process has exited; s may be nil.
func (s *server) hasExited() bool {
	if s == nil {
		return true
	}
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Kill crashes node i with SIGKILL and waits until it is gone.
func (c *cluster) Kill(i int) {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	n.logf("SIGKILL")
	n.proc.Kill()
	n.stopped = false
}

// Stop pauses node i with SIGSTOP: its sockets stay open but it answers
// nothing until Cont.
func (c *cluster) Stop(i int) {
	c.signal(i, syscall.SIGSTOP)
}

// Cont resumes node i after Stop.
func (c *cluster) Cont(i int) {
	c.signal(i, syscall.SIGCONT)
}

func (c *cluster) signal(i int, sig syscall.Signal) {
	c.t.Helper()
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	n.logf("%v", sig)
	if n.proc.hasExited() {
		c.t.Fatalf("node %d: %v: the process has exited", i, sig)
	}
	if err := n.proc.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("node %d: %v: %v", i, sig, err)
	}
	n.stopped = sig == syscall.SIGSTOP
}

// Restart starts node i again with the same ports, data directory and
// flags, and waits until it answers PING. A node that is still running is
// first stopped with SIGTERM (resumed first if paused).
func (c *cluster) Restart(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	n.mu.Lock()
	if !n.proc.hasExited() {
		n.logf("restart: SIGTERM")
		if n.stopped {
			n.proc.cmd.Process.Signal(syscall.SIGCONT)
			n.stopped = false
		}
		if err := n.proc.Stop(); err != nil {
			n.mu.Unlock()
			c.t.Fatalf("node %d: %v", i, err)
		}
	}
	n.mu.Unlock()
	if err := n.start(); err != nil {
		c.t.Fatal(err)
	}
}

// Up reports whether node i's process is running and not paused.
func (c *cluster) Up(i int) bool {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.proc.hasExited() && !n.stopped
}

// Client returns a go-redis client with default options for node i, closed
// when the test ends.
func (c *cluster) Client(i int) *redis.Client {
	return c.ClientWith(i, &redis.Options{})
}

// ClientWith returns a go-redis client for node i with opts (Addr is set
// here), closed when the test ends.
func (c *cluster) ClientWith(i int, opts *redis.Options) *redis.Client {
	o := *opts
	o.Addr = c.Nodes[i].Addr
	rdb := redis.NewClient(&o)
	c.t.Cleanup(func() { rdb.Close() })
	return rdb
}

// WaitConverged polls until every node that is up answers PING and a fresh
// write of several keys (spread over slots) through each such node reads
// back through every such node, twice in a row. It returns the last failure
// if ctx ends first.
func (c *cluster) WaitConverged(ctx context.Context) error {
	var up []int
	for i := range c.Nodes {
		if c.Up(i) {
			up = append(up, i)
		}
	}
	clients := make([]*redis.Client, len(c.Nodes))
	for _, i := range up {
		clients[i] = redis.NewClient(&redis.Options{Addr: c.Nodes[i].Addr, MaxRetries: -1,
			DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
		defer clients[i].Close()
	}
	const keysPerNode = 16
	var last error
	good := 0
	for round := 0; good < 2; round++ {
		if round > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%v (last failure: %v)", ctx.Err(), last)
			case <-time.After(50 * time.Millisecond):
			}
		}
		last = c.checkConverged(ctx, clients, up, round, keysPerNode)
		if last != nil {
			good = 0
			continue
		}
		good++
	}
	return nil
}

// checkConverged writes keys through each node in up and reads them through
// every node in up.
func (c *cluster) checkConverged(ctx context.Context, clients []*redis.Client, up []int, round, keys int) error {
	token := strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.Itoa(round)
	for _, i := range up {
		if err := clients[i].Ping(ctx).Err(); err != nil {
			return fmt.Errorf("node %d: PING: %v", i, err)
		}
	}
	for _, i := range up {
		for k := range keys {
			key := fmt.Sprintf("harness:converge:%d:%d", i, k)
			if err := clients[i].Set(ctx, key, token, time.Minute).Err(); err != nil {
				return fmt.Errorf("node %d: SET %s: %v", i, key, err)
			}
		}
	}
	for _, i := range up {
		for _, j := range up {
			for k := range keys {
				key := fmt.Sprintf("harness:converge:%d:%d", i, k)
				got, err := clients[j].Get(ctx, key).Result()
				if err != nil || got != token {
					return fmt.Errorf("node %d: GET %s (written through node %d) = %q, %v; want %q", j, key, i, got, err, token)
				}
			}
		}
	}
	return nil
}

// cleanup stops every node (SIGCONT, SIGTERM, then SIGKILL after
// clusterStopTimeout) in parallel and, if the test failed, logs each node's
// output. An unclean exit after SIGTERM fails the test.
func (c *cluster) cleanup() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			s := n.proc
			if s.hasExited() {
				return
			}
			if n.stopped {
				s.cmd.Process.Signal(syscall.SIGCONT)
				n.stopped = false
			}
			n.logf("cleanup: SIGTERM")
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
				if s.waitErr != nil {
					c.t.Errorf("node %d: unclean exit after SIGTERM: %v", n.Index, s.waitErr)
				}
			case <-time.After(clusterStopTimeout):
				n.logf("cleanup: still running after %v; SIGKILL", clusterStopTimeout)
				s.Kill()
				c.t.Errorf("node %d: still running %v after SIGTERM; killed", n.Index, clusterStopTimeout)
			}
		})
	}
	wg.Wait()
	if c.t.Failed() {
		for _, n := range c.Nodes {
			c.t.Logf("node %d (RESP %s, gossip %d, peer %d) output:\n%s", n.Index, n.Addr, n.GossipPort, n.PeerPort, n.out.String())
		}
	}
}
