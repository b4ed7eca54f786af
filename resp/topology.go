package resp

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/ring"
)

// RingAdmin is what the RING and CLUSTER commands need from the membership
// layer: one consistent view of the ring, and the administrative actions.
type RingAdmin interface {
	View() *RingView
	Join(addrs []string) error
	Leave(ctx context.Context) error
	Forget(node string) error
}

// RingView is one snapshot of the ring as this node sees it. Every topology
// reply is built from a single RingView, so SLOTS, SHARDS and NODES agree.
type RingView struct {
	Self string
	// Topology is the coordinator's snapshot of the same membership state
	// as Members: the slot table, N, who is down and who is syncing. Every
	// range's nodes and master come from its Serving, the rule the
	// coordinator's Master applies to decide what KEYS, SCAN and DBSIZE
	// list, so a client that scans the masters CLUSTER SLOTS names sees each
	// key once. Never nil.
	Topology *coordinator.Topology
	Members  map[string]RingMember
}

// RingMember is one node of the view: its addresses and gossip state, for
// display. Health and syncing, which decide ranges, are the Topology's.
type RingMember struct {
	ID         string
	RESPAddr   string // host:port clients reach it at
	PeerAddr   string // host:port of its peer port (the cluster bus of CLUSTER NODES)
	GossipAddr string
	State      string // "up", "suspect", "down" or "left"
	Since      time.Time
}

// up reports whether the view counts id as healthy, as the coordinator does.
func (v *RingView) up(id string) bool { return id == v.Self || v.Topology.Up(id) }

// slotRange is one entry of CLUSTER SLOTS: a run of slots with the same
// serving nodes, master first.
type slotRange struct {
	start, end uint16
	nodes      []string
}

// ranges derives the client-facing topology: for each range of the slot
// table, the nodes coordinator.Topology.Serving names, master first; adjacent
// ranges served by the same nodes merge, and slots with no healthy node are
// left out (they fail). A table range has one preference list (ring: it
// depends only on the primary), so its first slot speaks for all of them.
func (v *RingView) ranges() []slotRange {
	t := v.Topology
	if t == nil || t.Table == nil {
		return nil
	}
	var out []slotRange
	for _, r := range t.Table.Ranges(nil) {
		nodes := t.Serving(nil, r.Start, v.Self)
		if len(nodes) == 0 {
			continue // no healthy node at all: these slots fail
		}
		if n := len(out); n > 0 && out[n-1].end+1 == r.Start && slices.Equal(out[n-1].nodes, nodes) {
			out[n-1].end = r.End
			continue
		}
		out = append(out, slotRange{start: r.Start, end: r.End, nodes: nodes})
	}
	return out
}

// splitAddr returns the host and port of a host:port address.
func splitAddr(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

func (srv *Server) ringView(w *Writer) (*RingView, bool) {
	if srv.cfg.Ring == nil {
		w.Error("ERR This instance has cluster support disabled")
		return nil, false
	}
	return srv.cfg.Ring.View(), true
}

// cmdClusterSlots is CLUSTER SLOTS: [start, end, [ip, port, id, {}]...] per
// range. The fourth element of a node is Redis 7's map of the node's other
// endpoints (hostname, ...), empty as on a node with no hostname set: a
// reply read off redis-server 7.0 in cluster mode.
func (srv *Server) cmdClusterSlots(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	v, ok := srv.ringView(w)
	if !ok {
		return
	}
	rs := v.ranges()
	w.Array(len(rs))
	for _, r := range rs {
		w.Array(2 + len(r.nodes))
		w.Int(int64(r.start))
		w.Int(int64(r.end))
		for _, id := range r.nodes {
			host, port := splitAddr(v.Members[id].RESPAddr)
			w.Array(4)
			w.BulkString(host)
			w.Int(int64(port))
			w.BulkString(id)
			w.Array(0)
		}
	}
}

// cmdClusterShards is CLUSTER SHARDS: one shard per set of ranges served by
// the same nodes.
func (srv *Server) cmdClusterShards(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	v, ok := srv.ringView(w)
	if !ok {
		return
	}
	type shard struct {
		nodes []string
		slots []uint16
	}
	var shards []*shard
	byNodes := map[string]*shard{}
	for _, r := range v.ranges() {
		k := strings.Join(r.nodes, ",")
		sh := byNodes[k]
		if sh == nil {
			sh = &shard{nodes: r.nodes}
			byNodes[k] = sh
			shards = append(shards, sh)
		}
		sh.slots = append(sh.slots, r.start, r.end)
	}
	w.Array(len(shards))
	for _, sh := range shards {
		w.Array(4)
		w.BulkString("slots")
		w.Array(len(sh.slots))
		for _, s := range sh.slots {
			w.Int(int64(s))
		}
		w.BulkString("nodes")
		w.Array(len(sh.nodes))
		for i, id := range sh.nodes {
			m := v.Members[id]
			host, port := splitAddr(m.RESPAddr)
			role := "replica"
			if i == 0 {
				role = "master"
			}
			w.Array(14)
			w.BulkString("id")
			w.BulkString(id)
			w.BulkString("port")
			w.Int(int64(port))
			w.BulkString("ip")
			w.BulkString(host)
			w.BulkString("endpoint")
			w.BulkString(host)
			w.BulkString("role")
			w.BulkString(role)
			w.BulkString("replication-offset")
			w.Int(0)
			w.BulkString("health")
			w.BulkString("online")
		}
	}
}

// cmdClusterNodes is CLUSTER NODES: every ring member as a master with the
// slots it serves as master; preference-list replicas appear only in SLOTS
// and SHARDS, because a Redis replica follows exactly one master.
func (srv *Server) cmdClusterNodes(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	v, ok := srv.ringView(w)
	if !ok {
		return
	}
	w.BulkString(clusterNodesText(v))
}

func clusterNodesText(v *RingView) string {
	served := map[string][]string{}
	for _, r := range v.ranges() {
		s := strconv.Itoa(int(r.start))
		if r.end != r.start {
			s += "-" + strconv.Itoa(int(r.end))
		}
		served[r.nodes[0]] = append(served[r.nodes[0]], s)
	}
	epoch := strconv.FormatUint(v.Topology.Table.Epoch(), 10)
	var b strings.Builder
	for _, id := range v.Topology.Table.Members() {
		m := v.Members[id]
		host, port := splitAddr(m.RESPAddr)
		_, cport := splitAddr(m.PeerAddr)
		b.WriteString(id)
		b.WriteByte(' ')
		b.WriteString(net.JoinHostPort(host, strconv.Itoa(port)))
		b.WriteByte('@')
		b.WriteString(strconv.Itoa(cport))
		b.WriteByte(' ')
		if id == v.Self {
			b.WriteString("myself,")
		}
		b.WriteString("master")
		link := "connected"
		if !v.up(id) {
			b.WriteString(",fail")
			link = "disconnected"
		}
		b.WriteString(" - 0 0 ")
		b.WriteString(epoch)
		b.WriteByte(' ')
		b.WriteString(link)
		for _, s := range served[id] {
			b.WriteByte(' ')
			b.WriteString(s)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// cmdClusterInfo is CLUSTER INFO.
func (srv *Server) cmdClusterInfo(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	v, ok := srv.ringView(w)
	if !ok {
		return
	}
	assigned := 0
	masters := map[string]bool{}
	for _, r := range v.ranges() {
		assigned += int(r.end-r.start) + 1
		masters[r.nodes[0]] = true
	}
	state := "ok"
	if assigned < ring.NumSlots {
		state = "fail"
	}
	epoch := strconv.FormatUint(v.Topology.Table.Epoch(), 10)
	var b strings.Builder
	line := func(k, val string) {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(val)
		b.WriteString("\r\n")
	}
	line("cluster_state", state)
	line("cluster_slots_assigned", strconv.Itoa(ring.NumSlots))
	line("cluster_slots_ok", strconv.Itoa(assigned))
	line("cluster_slots_pfail", "0")
	line("cluster_slots_fail", strconv.Itoa(ring.NumSlots-assigned))
	line("cluster_known_nodes", strconv.Itoa(v.Topology.Table.Len()))
	line("cluster_size", strconv.Itoa(len(masters)))
	line("cluster_current_epoch", epoch)
	line("cluster_my_epoch", epoch)
	line("cluster_stats_messages_sent", "0")
	line("cluster_stats_messages_received", "0")
	line("total_cluster_links_buffer_limit_exceeded", "0")
	w.BulkString(b.String())
}
