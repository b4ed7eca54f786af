package node

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ringstore/ringstore/antientropy"
	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/resp"
	"github.com/ringstore/ringstore/version"
)

// ports returns the peer and gossip ports cfg asks for: explicit ones, the
// Redis-style offsets from the RESP port, or 0 (a free port) when the RESP
// port itself is chosen by the system or the offset would pass 65535.
func (c Config) ports() (peer, gossip int) {
	derive := func(explicit, offset int) int {
		if explicit != 0 || c.Port == 0 || c.Port+offset > 65535 {
			return explicit
		}
		return c.Port + offset
	}
	return derive(c.PeerPort, 10000), derive(c.GossipPort, 20000)
}

// announce returns the host clients and peers use to reach this node.
func (c Config) announceHost() string {
	if c.AnnounceIP != "" {
		return c.AnnounceIP
	}
	if ip := net.ParseIP(c.Bind); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return c.Bind
}

// topologyView adapts membership snapshots to the coordinator's Topology,
// converting each snapshot once. The RESP layer's RingView (ringAdmin) gets
// its Topology here too, so CLUSTER SLOTS and KEYS apply the master rule to
// the very same snapshot.
type topologyView struct {
	m    *cluster.Membership
	n    int // replication factor
	last atomic.Pointer[convertedTopology]
}

type convertedTopology struct {
	snap *cluster.Snapshot
	topo *coordinator.Topology
}

func (v *topologyView) Topology() *coordinator.Topology { return v.of(v.m.Snapshot()) }

// of returns the Topology of s: the cached one when s is the snapshot last
// converted. A conversion of an older snapshot than the cached one (a View
// that raced a change) is not cached, so it cannot evict the current one and
// cost the coordinator its plans (keyed by Topology).
func (v *topologyView) of(s *cluster.Snapshot) *coordinator.Topology {
	c := v.last.Load()
	if c != nil && c.snap == s {
		return c.topo
	}
	t := &coordinator.Topology{Table: s.Table, Down: map[string]bool{}, Syncing: map[string]bool{}, N: v.n}
	for _, id := range s.Table.Members() {
		if !s.Up(id) {
			t.Down[id] = true
		}
		if !s.Ready(id) {
			t.Syncing[id] = true
		}
	}
	if c == nil || c.snap.Epoch <= s.Epoch {
		v.last.Store(&convertedTopology{snap: s, topo: t})
	}
	return t
}

// startRing opens the peer port, joins gossip and builds the transport. It
// fills n.peerLn, n.members and n.transport.
func (n *Node) startRing(respAddr string) error {
	cfg := n.cfg
	peerPort, gossipPort := cfg.ports()
	var err error
	if n.peerLn, err = net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(peerPort))); err != nil {
		return fmt.Errorf("peer-port: %w", err)
	}
	host := cfg.announceHost()
	peerAddr := net.JoinHostPort(host, strconv.Itoa(n.peerLn.Addr().(*net.TCPAddr).Port))

	mcfg := cluster.DefaultMembershipConfig()
	if cfg.GossipProfile == "local" {
		mcfg = cluster.DefaultLocalMembershipConfig()
	}
	mcfg.NodeID = n.id
	mcfg.BindAddr = cfg.Bind
	mcfg.GossipPort = gossipPort
	if host != cfg.Bind {
		mcfg.AdvertiseAddr = host
	}
	mcfg.RESPAddr = respAddr
	mcfg.PeerAddr = peerAddr
	mcfg.Secret = []byte(cfg.ClusterSecret)
	mcfg.Join = cfg.Join
	mcfg.Meta = n.store
	mcfg.Logger = n.log.With("component", "membership")
	if n.members, err = cluster.StartMembership(mcfg); err != nil {
		return fmt.Errorf("gossip: %w", err)
	}

	tcfg := cluster.DefaultTransportConfig()
	tcfg.NodeID = n.id
	tcfg.Secret = []byte(cfg.ClusterSecret)
	tcfg.Resolve = n.members.Resolve
	tcfg.Logger = n.log.With("component", "transport")
	tcfg.OnUnreachable = n.members.ReportUnreachable
	tcfg.OnReachable = n.members.ReportReachable
	if n.transport, err = cluster.NewTransport(tcfg); err != nil {
		return err
	}
	// CONFIG GET shows the ports in use, not "derive me".
	n.cfg.PeerPort = n.peerLn.Addr().(*net.TCPAddr).Port
	if _, p, err := net.SplitHostPort(n.members.GossipAddr()); err == nil {
		n.cfg.GossipPort, _ = strconv.Atoi(p)
	}
	return nil
}

// info is INFO's "# Ringstore" section: the ring as seen from here and the
// coordinator's counters (Dynamo's figures: reads that saw divergent
// versions, read repairs, hinted handoff).
func (n *Node) info(section string) string {
	switch section {
	case "default", "all", "everything", "ringstore":
	default:
		return ""
	}
	s := n.members.Snapshot()
	up, down := 0, 0
	for _, id := range s.Table.Members() {
		if id == n.id || s.Up(id) {
			up++
		} else {
			down++
		}
	}
	st := n.coord.Stats()
	reads, multi := st.Reads.Load(), st.ReadsSiblings.Load()
	pct := 0.0
	if reads > 0 {
		pct = 100 * float64(multi) / float64(reads)
	}
	hints := n.coord.HintCounts()
	pending := 0
	for _, c := range hints {
		pending += c
	}
	var b strings.Builder
	b.WriteString("# Ringstore\r\n")
	fmt.Fprintf(&b, "node_id:%s\r\nring_epoch:%d\r\nmembers:%d\r\nmembers_up:%d\r\nmembers_down:%d\r\n", n.id, s.Table.Epoch(), s.Table.Len(), up, down)
	fmt.Fprintf(&b, "n:%d\r\nr:%d\r\nw:%d\r\n", n.cfg.N, n.cfg.R, n.cfg.W)
	fmt.Fprintf(&b, "quorum_reads:%d\r\nreads_with_siblings:%d\r\nreads_with_siblings_pct:%.4f\r\nreads_single_version_pct:%.4f\r\n", reads, multi, pct, 100-pct)
	fmt.Fprintf(&b, "read_repairs:%d\r\nspeculative_reads:%d\r\nforwarded:%d\r\nreplica_failures:%d\r\nquorum_failures:%d\r\n", st.ReadRepairs.Load(), st.SpeculativeReads.Load(), st.Forwarded.Load(), st.ReplicaFailed.Load(), st.QuorumFailures.Load())
	fmt.Fprintf(&b, "hints_pending:%d\r\nhints_stored:%d\r\nhints_handed_off:%d\r\n", pending, st.HintsStored.Load(), st.HintsHandedOff.Load())
	ts := n.transfers.Stats()
	fmt.Fprintf(&b, "ring_synced:%d\r\nslots_pending_transfer:%d\r\nranges_pending_transfer:%d\r\nslots_transferred:%d\r\n", boolInt(s.Ready(n.id)), ts.SlotsPending.Load(), ts.RangesPending.Load(), ts.SlotsPulled.Load())
	fmt.Fprintf(&b, "records_transferred:%d\r\nbytes_transferred:%d\r\ntransfer_pages:%d\r\ntransfer_pages_failed:%d\r\n", ts.Records.Load(), ts.Bytes.Load(), ts.Pages.Load(), ts.PagesFailed.Load())
	if ae := n.antiEntropy; ae != nil {
		as := ae.Stats()
		fmt.Fprintf(&b, "antientropy_rounds:%d\r\nantientropy_slots_compared:%d\r\nantientropy_slots_differing:%d\r\n", as.Rounds.Load(), as.SlotsCompared.Load(), as.SlotsDiffering.Load())
		fmt.Fprintf(&b, "antientropy_keys_differing:%d\r\nantientropy_keys_pulled:%d\r\nantientropy_keys_pushed:%d\r\nantientropy_keys_left:%d\r\nantientropy_failures:%d\r\n", as.KeysDiffering.Load(), as.KeysPulled.Load(), as.KeysPushed.Load(), as.KeysLeft.Load(), as.Failures.Load())
	}
	fmt.Fprintf(&b, "slots_purged:%d\r\nrecords_purged:%d\r\n", ts.SlotsPurged.Load(), ts.RecordsPurged.Load())
	targets := make([]string, 0, len(hints))
	for t := range hints {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	for _, t := range targets {
		fmt.Fprintf(&b, "hints_pending_for:%s=%d\r\n", t, hints[t])
	}
	return b.String()
}

// engineHints adapts the engine's hint store to the coordinator's.
type engineHints struct{ st *engine.Store }

func (h engineHints) PutHint(target string, db int, key []byte, sib version.Siblings) error {
	return h.st.PutHint(target, db, key, sib)
}

func (h engineHints) PendingHints(target string, limit int) ([]coordinator.Hint, error) {
	hs, err := h.st.Hints(target, limit)
	out := make([]coordinator.Hint, len(hs))
	for i, x := range hs {
		out[i] = coordinator.Hint{Target: x.Target, DB: x.DB, Key: x.Key, Siblings: x.Siblings, Seq: x.Seq}
	}
	return out, err
}

func (h engineHints) RemoveHint(x coordinator.Hint) error {
	return h.st.DeleteHint(engine.Hint{Target: x.Target, DB: x.DB, Key: x.Key, Siblings: x.Siblings, Seq: x.Seq})
}

func (h engineHints) HintCounts() (map[string]int, error) { return h.st.HintCounts() }

// ringAdmin gives the RESP layer's RING and CLUSTER commands the membership.
type ringAdmin struct {
	m    *cluster.Membership
	topo *topologyView
}

func (a ringAdmin) View() *resp.RingView { return ringView(a.m.Snapshot(), a.topo) }

// ringView is the RESP layer's view of s. Its Topology is the coordinator's
// for s, not a second conversion of it: CLUSTER SLOTS must name the masters
// whose KEYS, SCAN and DBSIZE list each slot.
func ringView(s *cluster.Snapshot, topo *topologyView) *resp.RingView {
	v := &resp.RingView{Self: s.Self, Topology: topo.of(s), Members: make(map[string]resp.RingMember, len(s.Members))}
	for id, m := range s.Members {
		v.Members[id] = resp.RingMember{ID: id, RESPAddr: m.RESPAddr, PeerAddr: m.PeerAddr, GossipAddr: m.GossipAddr, State: m.State.String(), Since: m.Since}
	}
	return v
}

func (a ringAdmin) Join(addrs []string) error       { return a.m.Join(addrs) }
func (a ringAdmin) Leave(ctx context.Context) error { return a.m.Leave(ctx) }
func (a ringAdmin) Forget(node string) error        { return a.m.Forget(node) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// startAntiEntropy starts the anti-entropy rounds (package antientropy)
// unless anti-entropy-interval-ms is 0.
func (n *Node) startAntiEntropy() error {
	if n.cfg.AntiEntropyInterval == 0 {
		return nil
	}
	acfg := antientropy.Config{
		NodeID:   n.id,
		N:        n.cfg.N,
		Interval: n.cfg.AntiEntropyInterval,
		Logger:   n.log.With("component", "antientropy"),
	}
	var err error
	n.antiEntropy, err = antientropy.Start(acfg, n.store, n.transport, n.members.Snapshot)
	return err
}

// startTransfers starts pulling the records of slots this node newly
// holds, driven by membership snapshots (see cluster.Transfers); a pulled
// table is announced in gossip, which lets this node become the master of
// its new slots (coordinator.Topology.Master). Once every member is synced
// it drops the records of the slots it lost (cluster's purge).
func (n *Node) startTransfers() error {
	tcfg := cluster.DefaultTransferConfig()
	tcfg.NodeID = n.id
	tcfg.N = n.cfg.N
	tcfg.Databases = n.cfg.Databases
	tcfg.Logger = n.log.With("component", "transfer")
	if n.cfg.AntiEntropyInterval > 0 {
		// Pulling only the slots gained while down relies on anti-entropy
		// for what the node lost in a crash (the last second under fsync
		// everysec) and for a slot lost and regained while it was down:
		// without it, a restart pulls every slot as before.
		tcfg.Held = n.store
	}
	tcfg.Dropper = n.store
	var err error
	n.transfers, err = cluster.StartTransfers(tcfg, n.store, n.transport, n.members.Subscribe(), n.members.SetSynced)
	return err
}
