package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ringstore/ringstore/ring"
)

// Detection and convergence bounds for the Local gossip settings. They are
// generous (the race detector on a 2-core machine); the tests log what
// they measured.
const (
	convergeWithin = 5 * time.Second
	detectWithin   = 8 * time.Second
)

// gossipCluster starts memberships on 127.0.0.1 with ephemeral gossip ports,
// fast probes and in-memory meta stores, and closes them when the test ends.
type gossipCluster struct {
	t     *testing.T
	log   *slog.Logger
	nodes []*gossipNode
}

type gossipNode struct {
	i    int
	id   string
	meta *memMeta
	cfg  MembershipConfig
	*Membership
}

func newGossipCluster(t *testing.T) *gossipCluster {
	return &gossipCluster{t: t, log: gossipTestLogger(t)}
}

// gossipID returns a distinct valid node ID for i, e.g. 0101...01 for 1.
func gossipID(i int) string { return strings.Repeat(fmt.Sprintf("%02x", i), 20) }

// short abbreviates node IDs in messages.
func shortIDs(ids ...string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(id[:min(4, len(id))])
	}
	return b.String()
}

func (c *gossipCluster) config(i int, join ...string) MembershipConfig {
	return MembershipConfig{
		NodeID:   gossipID(i),
		BindAddr: "127.0.0.1",
		RESPAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i),
		PeerAddr: fmt.Sprintf("127.0.0.1:%d", 17000+i),
		Join:     join,
		Meta:     newMemMeta(),
		Local:    true,
		// Tests reuse each other's ephemeral ports; the label keeps a
		// reconnect from reaching into another test's ring.
		ClusterName: c.t.Name(),
		Logger:      c.log.With("test_node", i),
	}
}

// start starts node i with cfg (from config, possibly adjusted).
func (c *gossipCluster) start(i int, cfg MembershipConfig) *gossipNode {
	c.t.Helper()
	n, err := c.tryStart(i, cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	return n
}

func (c *gossipCluster) tryStart(i int, cfg MembershipConfig) (*gossipNode, error) {
	m, err := StartMembership(cfg)
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { m.Close() })
	n := &gossipNode{i: i, id: cfg.NodeID, meta: cfg.Meta.(*memMeta), cfg: cfg, Membership: m}
	c.nodes = append(c.nodes, n)
	return n, nil
}

// startRing starts n nodes, the first alone and the others joining it.
func (c *gossipCluster) startRing(n int) []*gossipNode {
	c.t.Helper()
	seed := c.start(1, c.config(1))
	nodes := []*gossipNode{seed}
	for i := 2; i <= n; i++ {
		nodes = append(nodes, c.start(i, c.config(i, seed.GossipAddr())))
	}
	c.waitConverged("ring of "+fmt.Sprint(n), nodes, nodeIDs(nodes))
	return nodes
}

// restart starts n, which the caller has closed, again with its ID, meta
// store and gossip port, as a process restarted with its data dir would.
func (c *gossipCluster) restart(n *gossipNode, join ...string) *gossipNode {
	c.t.Helper()
	cfg := n.cfg
	cfg.GossipPort = gossipPort(c.t, n.GossipAddr())
	cfg.Join = join
	return c.start(n.i, cfg)
}

func gossipPort(t *testing.T, addr string) int {
	var port int
	if _, err := fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port); err != nil {
		t.Fatalf("gossip address %q: %v", addr, err)
	}
	return port
}

func nodeIDs(nodes []*gossipNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.id)
	}
	slices.Sort(out)
	return out
}

// waitConverged waits until every node's table has exactly members, the
// tables are identical, and every node sees every member Up.
func (c *gossipCluster) waitConverged(what string, nodes []*gossipNode, members []string) time.Duration {
	c.t.Helper()
	d := eventually(c.t, convergeWithin, what, func() error { return ringConverged(nodes, members) })
	c.t.Logf("%s: converged in %v", what, d.Round(time.Millisecond))
	return d
}

func ringConverged(nodes []*gossipNode, members []string) error {
	var ref *Snapshot
	for _, n := range nodes {
		s := n.Snapshot()
		if got := s.Table.Members(); !slices.Equal(got, members) {
			return fmt.Errorf("node %d has members [%s], want [%s]", n.i, shortIDs(got...), shortIDs(members...))
		}
		for _, id := range members {
			if !s.Up(id) {
				return fmt.Errorf("node %d sees %s %s", n.i, shortIDs(id), s.Members[id].State)
			}
		}
		if ref == nil {
			ref = s
		} else if err := sameTable(ref.Table, s.Table); err != nil {
			return fmt.Errorf("node %d: %v", n.i, err)
		}
	}
	return nil
}

func sameTable(a, b *ring.Table) error {
	if a.Epoch() != b.Epoch() {
		return fmt.Errorf("table epoch %d, want %d", b.Epoch(), a.Epoch())
	}
	if !slices.Equal(a.Ranges(nil), b.Ranges(nil)) {
		return errors.New("slot ranges differ")
	}
	for _, slot := range []uint16{0, 1, 5000, 12182, ring.NumSlots - 1} {
		if pa, pb := a.PreferenceList(nil, slot, 3), b.PreferenceList(nil, slot, 3); !slices.Equal(pa, pb) {
			return fmt.Errorf("slot %d: preference list [%s], want [%s]", slot, shortIDs(pb...), shortIDs(pa...))
		}
	}
	return nil
}

// waitState waits until every observer sees node in state, and returns how
// long that took.
func waitMemberState(t *testing.T, within time.Duration, node string, want MemberState, observers ...*gossipNode) time.Duration {
	t.Helper()
	return eventually(t, within, fmt.Sprintf("%s %s everywhere", shortIDs(node), want), func() error {
		for _, o := range observers {
			if got, ok := o.Snapshot().Members[node]; !ok || got.State != want {
				return fmt.Errorf("node %d sees it %v (known: %v)", o.i, got.State, ok)
			}
		}
		return nil
	})
}

// waitFor polls cond until it returns nil, failing the test with cond's last
// error after within. It returns the time it waited.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not after %v: %v", what, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countEvents counts the events of kind about node in n's ring log.
func countEvents(n *gossipNode, kind ring.EventKind, node string) int {
	c := 0
	for _, e := range n.ringLog.Load().events {
		if e.Kind == kind && e.Node == node {
			c++
		}
	}
	return c
}

// gossipTestLogger logs to t.Output() until the test's cleanups are done
// (memberlist may log while it shuts down).
func gossipTestLogger(t *testing.T) *slog.Logger {
	w := &gossipLogSink{w: t.Output()}
	t.Cleanup(w.close) // registered first, so it runs after every Close
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type gossipLogSink struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gossipLogSink) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gossipLogSink) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func TestMembershipThreeNodesAgree(t *testing.T) {
	c := newGossipCluster(t)
	nodes := c.startRing(3)
	for _, n := range nodes {
		s := n.Snapshot()
		if s.Table.Len() != 3 || s.Self != n.id {
			t.Fatalf("node %d: %d members, self %s", n.i, s.Table.Len(), shortIDs(s.Self))
		}
		for _, peer := range nodes {
			mem := s.Members[peer.id]
			if mem.RESPAddr != peer.cfg.RESPAddr || mem.GossipAddr != peer.GossipAddr() {
				t.Errorf("node %d sees node %d at %+v", n.i, peer.i, mem)
			}
			if addr, ok := n.Resolve(peer.id); !ok || addr != peer.cfg.PeerAddr {
				t.Errorf("node %d resolves node %d to %q %v, want %q", n.i, peer.i, addr, ok, peer.cfg.PeerAddr)
			}
			if got := countEvents(n, ring.EventJoin, peer.id); got != 1 {
				t.Errorf("node %d has %d joins of node %d", n.i, got, peer.i)
			}
		}
		if _, ok := n.Resolve(gossipID(99)); ok {
			t.Errorf("node %d resolves an unknown node", n.i)
		}
		// The log is durable: what the meta store holds is the log in memory.
		lg, _, err := loadState(n.meta)
		if err != nil || lg.digest != n.ringLog.Load().digest {
			t.Errorf("node %d stored log %v (err %v), in memory %v", n.i, lg.digest, err, n.ringLog.Load().digest)
		}
	}
	// Every slot has a primary and balance holds.
	owned := map[string]int{}
	for slot := range ring.NumSlots {
		owned[nodes[0].Snapshot().Table.Primary(uint16(slot))]++
	}
	for id, n := range owned {
		if n < ring.NumSlots/3 || n > ring.NumSlots/3+1 {
			t.Errorf("%s holds %d primary slots", shortIDs(id), n)
		}
	}
}

func TestMembershipConcurrentJoins(t *testing.T) {
	c := newGossipCluster(t)
	seed := c.start(1, c.config(1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 2; i <= 3; i++ {
		cfg := c.config(i, seed.GossipAddr())
		wg.Go(func() {
			m, err := StartMembership(cfg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			t.Cleanup(func() { m.Close() })
			c.nodes = append(c.nodes, &gossipNode{i: i, id: cfg.NodeID, meta: cfg.Meta.(*memMeta), cfg: cfg, Membership: m})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.waitConverged("concurrent joins", c.nodes, nodeIDs(c.nodes))
}

func TestMembershipClosedNodeIsDownThenRestarts(t *testing.T) {
	c := newGossipCluster(t)
	nodes := c.startRing(3)
	a, b, x := nodes[0], nodes[1], nodes[2]

	closed := time.Now()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	waitMemberState(t, detectWithin, x.id, MemberDown, a, b)
	t.Logf("closed node down everywhere after %v", time.Since(closed).Round(time.Millisecond))
	for _, n := range []*gossipNode{a, b} {
		s := n.Snapshot()
		if !s.Table.Has(x.id) || s.Table.Len() != 3 {
			t.Fatalf("node %d dropped the down node from the ring: %v", n.i, shortIDs(s.Table.Members()...))
		}
		if addr, ok := n.Resolve(x.id); !ok || addr != x.cfg.PeerAddr {
			t.Errorf("node %d no longer resolves the down node: %q", n.i, addr)
		}
		if err := n.Forget(a.id); !errors.Is(err, ErrNotDown) && !errors.Is(err, ErrForgetSelf) {
			t.Errorf("node %d forgetting a live node: %v", n.i, err)
		}
	}

	// Restart with the same ID, meta store and port, and no Join list: the
	// address book brings it back, with no second Join event.
	restarted := time.Now()
	x2 := c.restart(x)
	c.waitConverged("restart", []*gossipNode{a, b, x2}, nodeIDs(nodes))
	t.Logf("restarted node up everywhere after %v", time.Since(restarted).Round(time.Millisecond))
	for _, n := range []*gossipNode{a, b, x2} {
		if got := countEvents(n, ring.EventJoin, x.id); got != 1 {
			t.Errorf("node %d has %d joins of the restarted node", n.i, got)
		}
	}
}

// TestMembershipQuickRestart restarts a node (same ID, meta store, port and
// Join list) before the others notice it stopped, as after kill -9 and an
// immediate restart.
func TestMembershipQuickRestart(t *testing.T) {
	c := newGossipCluster(t)
	nodes := c.startRing(3)
	a, b, x := nodes[0], nodes[1], nodes[2]
	x.Close()
	x2 := c.restart(x, a.GossipAddr(), b.GossipAddr(), x.GossipAddr())
	c.waitConverged("quick restart", []*gossipNode{a, b, x2}, nodeIDs(nodes))
	for _, n := range []*gossipNode{a, b, x2} {
		if got := countEvents(n, ring.EventJoin, x.id); got != 1 {
			t.Errorf("node %d has %d joins of the restarted node", n.i, got)
		}
	}
	// The restarted process takes part in gossip: it learns of a newcomer.
	d := c.start(4, c.config(4, a.GossipAddr()))
	c.waitConverged("a join after the quick restart", []*gossipNode{a, b, x2, d}, nodeIDs([]*gossipNode{a, b, x2, d}))
}

func TestMembershipLeave(t *testing.T) {
	c := newGossipCluster(t)
	nodes := c.startRing(3)
	a, b, x := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := x.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Leave returned after %v", time.Since(start).Round(time.Millisecond))
	c.waitConverged("leave", []*gossipNode{a, b}, nodeIDs(nodes[:2]))
	eventually(t, detectWithin, "the left node gone from the survivors' members", func() error {
		for _, n := range []*gossipNode{a, b} {
			if mem, ok := n.Snapshot().Members[x.id]; ok {
				return fmt.Errorf("node %d still lists it %v", n.i, mem.State)
			}
		}
		return nil
	})
	if s := x.Snapshot(); s.Table.Has(x.id) || s.Members[x.id].State != MemberLeft {
		t.Fatalf("the leaver sees itself %v, in table %v", s.Members[x.id].State, s.Table.Has(x.id))
	}
	if err := x.Leave(ctx); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if err := x.Join([]string{a.GossipAddr()}); !errors.Is(err, ErrLeft) {
		t.Fatalf("Join after Leave: %v", err)
	}

	// A restart with the same data dir stays out of the ring.
	x.Close()
	x2 := c.restart(x, a.GossipAddr())
	eventually(t, convergeWithin, "the restarted leaver alive but outside the ring", func() error {
		for _, n := range []*gossipNode{a, b} {
			if mem := n.Snapshot().Members[x.id]; mem.State != MemberLeft {
				return fmt.Errorf("node %d sees it %v", n.i, mem.State)
			}
		}
		return nil
	})
	if x2.Snapshot().Table.Has(x.id) || a.Snapshot().Table.Len() != 2 {
		t.Fatal("a restarted leaver rejoined the ring by itself")
	}
}

func TestMembershipForget(t *testing.T) {
	c := newGossipCluster(t)
	nodes := c.startRing(3)
	a, b, x := nodes[0], nodes[1], nodes[2]
	if err := a.Forget(x.id); !errors.Is(err, ErrNotDown) {
		t.Fatalf("Forget of a live node: %v", err)
	}
	if err := a.Forget(a.id); !errors.Is(err, ErrForgetSelf) {
		t.Fatalf("Forget of itself: %v", err)
	}
	if err := a.Forget(gossipID(99)); !errors.Is(err, ErrNotMember) {
		t.Fatalf("Forget of a stranger: %v", err)
	}
	x.Close()
	waitMemberState(t, detectWithin, x.id, MemberDown, a, b)

	// The event is written before it is gossiped: a failed write changes
	// nothing anywhere.
	a.meta.setFail(errors.New("disk on fire"))
	if err := a.Forget(x.id); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Forget with a failing meta store: %v", err)
	}
	if !a.Snapshot().Table.Has(x.id) || countEvents(a, ring.EventLeave, x.id) != 0 {
		t.Fatal("a failed Forget changed the ring")
	}
	a.meta.setFail(nil)

	if err := a.Forget(x.id); err != nil {
		t.Fatal(err)
	}
	c.waitConverged("forget", []*gossipNode{a, b}, nodeIDs(nodes[:2]))
	if _, ok := a.Snapshot().Members[x.id]; ok {
		t.Fatal("a forgotten down node is still listed")
	}
}

func TestMembershipDownAfter(t *testing.T) {
	c := newGossipCluster(t)
	var nodes []*gossipNode
	for i := 1; i <= 3; i++ {
		cfg := c.config(i)
		if i > 1 {
			cfg.Join = []string{nodes[0].GossipAddr()}
		}
		cfg.DownAfter = 300 * time.Millisecond
		nodes = append(nodes, c.start(i, cfg))
	}
	c.waitConverged("ring", nodes, nodeIDs(nodes))
	nodes[2].Close()
	c.waitConverged("down-after", nodes[:2], nodeIDs(nodes[:2]))
}

func TestMembershipReportUnreachable(t *testing.T) {
	c := newGossipCluster(t)
	nodes := c.startRing(2)
	a, b := nodes[0], nodes[1]
	updates := a.Subscribe()
	before := <-updates

	a.ReportUnreachable(b.id)
	s := a.Snapshot()
	if s.Up(b.id) || s.Members[b.id].State != MemberSuspect || s.Epoch <= before.Epoch {
		t.Fatalf("after ReportUnreachable: %v, epoch %d (was %d)", s.Members[b.id].State, s.Epoch, before.Epoch)
	}
	if got := <-updates; got != s {
		t.Fatal("the subscription did not deliver the newest snapshot")
	}
	a.ReportUnreachable(b.id) // again: no change
	if a.Snapshot() != s {
		t.Fatal("a repeated report published a new snapshot")
	}
	// b is alive: the next ping answered restores it.
	d := waitMemberState(t, detectWithin, b.id, MemberUp, a)
	t.Logf("a gossip ping restored the node after %v", d.Round(time.Millisecond))

	a.ReportUnreachable(b.id)
	if a.Snapshot().Up(b.id) {
		t.Fatal("not suspect after the second report")
	}
	a.ReportReachable(b.id)
	if !a.Snapshot().Up(b.id) {
		t.Fatal("ReportReachable did not restore the node at once")
	}
	a.ReportUnreachable(a.id)
	if !a.Snapshot().Up(a.id) {
		t.Fatal("a node reported itself unreachable")
	}
	if b.Snapshot().Members[b.id].State != MemberUp {
		t.Fatal("a's evidence leaked into b's view")
	}

	a.Close()
	for range updates { // drains to the close
	}
	if _, ok := <-a.Subscribe(); ok {
		t.Fatal("Subscribe after Close gave an open channel")
	}
	if a.Snapshot() == nil {
		t.Fatal("no snapshot after Close")
	}
}

func TestMembershipSecret(t *testing.T) {
	c := newGossipCluster(t)
	cfg := c.config(1)
	cfg.Secret = []byte("right")
	a := c.start(1, cfg)

	for i, secret := range [][]byte{[]byte("wrong"), nil} {
		cfg := c.config(10+i, a.GossipAddr())
		cfg.Secret = secret
		if _, err := c.tryStart(10+i, cfg); err == nil {
			t.Fatalf("a node with secret %q joined", secret)
		}
	}
	cfg = c.config(12, a.GossipAddr())
	cfg.Secret, cfg.ClusterName = []byte("right"), "another ring"
	if _, err := c.tryStart(12, cfg); err == nil {
		t.Fatal("a node with another cluster name joined")
	}
	cfg = c.config(2, a.GossipAddr())
	cfg.Secret = []byte("right")
	b := c.start(2, cfg)
	c.waitConverged("right secret", []*gossipNode{a, b}, nodeIDs([]*gossipNode{a, b}))
	if got := a.Snapshot().Members; len(got) != 2 {
		t.Fatalf("members %v", got)
	}
}

// TestMembershipDigestRepair loses a broadcast and checks that the log
// digests in node meta bring the event to everyone anyway, long before the
// (disabled) periodic push/pull would.
func TestMembershipDigestRepair(t *testing.T) {
	c := newGossipCluster(t)
	noPushPull := func(mc *memberlist.Config) { mc.PushPullInterval = 0 }
	var nodes []*gossipNode
	for i := 1; i <= 3; i++ {
		cfg := c.config(i)
		if i > 1 {
			cfg.Join = []string{nodes[0].GossipAddr()}
		}
		cfg.tweak = noPushPull
		nodes = append(nodes, c.start(i, cfg))
	}
	c.waitConverged("ring", nodes, nodeIDs(nodes))

	// An event node 1 learned without relaying it, as if its broadcast had
	// been lost.
	ghost := gossipID(42)
	nodes[0].mergeEvents([]ring.Event{joinEv(ghost, nodes[0].ringLog.Load().nextStamp(time.Now()))}, false)
	d := eventually(t, convergeWithin, "the unrelayed event everywhere", func() error {
		for _, n := range nodes {
			if !n.Snapshot().Table.Has(ghost) {
				return fmt.Errorf("node %d lacks it", n.i)
			}
		}
		return nil
	})
	t.Logf("digest repair spread the event in %v", d.Round(time.Millisecond))
}

func TestMembershipFirstJoinFailureIsAnError(t *testing.T) {
	c := newGossipCluster(t)
	a := c.start(1, c.config(1))
	port := gossipPort(t, a.GossipAddr())
	a.Close()
	// Hold the freed port with a listener that hangs up on every
	// connection: the join then fails at once, and the new node cannot be
	// given the same port by the system and join itself (which CI saw).
	// If another process took the port meanwhile, it holds it just as well.
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		defer ln.Close()
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}()
	}
	cfg := c.config(2, fmt.Sprintf("127.0.0.1:%d", port))
	if _, err := c.tryStart(2, cfg); err == nil {
		t.Fatal("a fresh node started with an unreachable Join list")
	}
	if _, ok, _ := cfg.Meta.GetMeta(metaRingLog); ok {
		t.Fatal("the failed start recorded a ring log")
	}
}

func TestMembershipJoinMergesRings(t *testing.T) {
	c := newGossipCluster(t)
	a := c.start(1, c.config(1))
	b := c.start(2, c.config(2)) // a one-node ring of its own
	if err := b.Join([]string{a.GossipAddr()}); err != nil {
		t.Fatal(err)
	}
	c.waitConverged("merged rings", []*gossipNode{a, b}, nodeIDs([]*gossipNode{a, b}))
	if err := b.Join(nil); err == nil {
		t.Fatal("Join with no address succeeded")
	}
}
