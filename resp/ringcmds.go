package resp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/ring"
)

// The ring's own commands: RING (STATUS, JOIN, LEAVE, FORGET) for
// operators, QUORUM for a connection's R and W.
func (srv *Server) ringCommands() []*command {
	acl := []string{"@admin", "@slow", "@dangerous"}
	ringCmd := &command{name: "ring", arity: -2, acl: acl, subs: table{}}
	ringCmd.subs.add(
		&command{name: "ring|status", arity: 2, flags: []string{"stale"}, acl: acl, handler: srv.cmdRingStatus},
		&command{name: "ring|join", arity: -3, flags: []string{"admin"}, acl: acl, handler: srv.cmdRingJoin},
		&command{name: "ring|leave", arity: 2, flags: []string{"admin"}, acl: acl, handler: srv.cmdRingLeave},
		&command{name: "ring|forget", arity: 3, flags: []string{"admin"}, acl: acl, handler: srv.cmdRingForget},
	)
	return []*command{
		ringCmd,
		{name: "quorum", arity: -1, flags: []string{"fast"}, acl: []string{"@connection", "@fast"}, handler: srv.cmdQuorum},
	}
}

// withQuorum applies the session's QUORUM setting to a command's context.
func withQuorum(ctx context.Context, s *Session) context.Context {
	if s.quorumR == 0 && s.quorumW == 0 {
		return ctx
	}
	return coordinator.WithQuorum(ctx, s.quorumR, s.quorumW)
}

// cmdQuorum is QUORUM (shows N, R, W for this connection) or QUORUM r w
// (sets them for this connection; 0 restores the node's default). R and W
// above N are clamped to N at request time, like the node's own defaults.
func (srv *Server) cmdQuorum(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	switch len(args) {
	case 1:
		r, wr := srv.coord.Quorum(withQuorum(ctx, s))
		w.Array(6)
		w.BulkString("n")
		w.Int(int64(srv.coord.N()))
		w.BulkString("r")
		w.Int(int64(r))
		w.BulkString("w")
		w.Int(int64(wr))
	case 3:
		r, ok1 := parseRedisInt(args[1])
		wr, ok2 := parseRedisInt(args[2])
		if !ok1 || !ok2 || r < 0 || wr < 0 || r > 64 || wr > 64 {
			w.Error("ERR QUORUM r and w must be integers from 0 (the node default) to N")
			return
		}
		s.quorumR, s.quorumW = int(r), int(wr)
		w.Status("OK")
	default:
		w.Error("ERR wrong number of arguments for 'quorum' command")
	}
}

// cmdRingStatus is RING STATUS: the ring as this node sees it, as
// "key:value" lines like INFO.
func (srv *Server) cmdRingStatus(ctx context.Context, _ *Session, w *Writer, _ [][]byte) {
	v, ok := srv.ringView(w)
	if !ok {
		return
	}
	primary := map[string]int{}
	replica := map[string]int{}
	var pl []string
	for _, r := range v.Topology.Table.Ranges(nil) {
		size := int(r.End-r.Start) + 1
		pl = v.Topology.Table.PreferenceList(pl[:0], r.Start, v.Topology.N)
		for i, id := range pl {
			if i == 0 {
				primary[id] += size
			} else {
				replica[id] += size
			}
		}
	}
	hints := srv.coord.HintCounts()
	r, wq := srv.coord.Quorum(ctx)
	st := srv.coord.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "self:%s\r\nring_epoch:%d\r\nmembers:%d\r\nn:%d\r\nr:%d\r\nw:%d\r\n", v.Self, v.Topology.Table.Epoch(), v.Topology.Table.Len(), v.Topology.N, r, wq)
	up, down := 0, 0
	members := v.Topology.Table.Members()
	for _, id := range members {
		if v.up(id) {
			up++
		} else {
			down++
		}
	}
	fmt.Fprintf(&b, "members_up:%d\r\nmembers_down:%d\r\n", up, down)
	total := 0
	for _, n := range hints {
		total += n
	}
	fmt.Fprintf(&b, "hints_pending:%d\r\nhints_stored:%d\r\nhints_handed_off:%d\r\n", total, st.HintsStored.Load(), st.HintsHandedOff.Load())
	// Members of the ring first, then nodes gossip knows outside it.
	others := []string{}
	for id := range v.Members {
		if !v.Topology.Table.Has(id) {
			others = append(others, id)
		}
	}
	slices.Sort(others)
	for i, id := range append(members, others...) {
		m := v.Members[id]
		state := m.State
		if state == "" {
			state = "down"
		}
		if id == v.Self {
			state = "up"
		}
		if !v.Topology.Table.Has(id) {
			state += ",not-in-ring"
		}
		self := ""
		if id == v.Self {
			self = ",myself"
		}
		fmt.Fprintf(&b, "node%d:id=%s,state=%s%s,addr=%s,gossip=%s,primary_slots=%d,replica_slots=%d,hints_pending=%d\r\n",
			i, id, state, self, m.RESPAddr, m.GossipAddr, primary[id], replica[id], hints[id])
	}
	w.BulkString(b.String())
}

// cmdRingJoin is RING JOIN host:port [host:port ...]: join the ring of the
// node whose gossip listens there.
func (srv *Server) cmdRingJoin(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	if srv.cfg.Ring == nil {
		w.Error("ERR This instance has cluster support disabled")
		return
	}
	var addrs []string
	for _, a := range args[2:] {
		if _, port, err := net.SplitHostPort(string(a)); err != nil || port == "" {
			w.Error("ERR Invalid address '" + string(cString(clip(a, maxErrArg))) + "': expected host:port of a node's gossip port")
			return
		}
		addrs = append(addrs, string(a))
	}
	if err := srv.cfg.Ring.Join(addrs); err != nil {
		w.Error("ERR join failed: " + err.Error())
		return
	}
	w.Status("OK")
}

// cmdRingLeave is RING LEAVE: this node leaves the ring for good; its slots
// pass to the other members.
func (srv *Server) cmdRingLeave(ctx context.Context, _ *Session, w *Writer, _ [][]byte) {
	if srv.cfg.Ring == nil {
		w.Error("ERR This instance has cluster support disabled")
		return
	}
	if err := srv.cfg.Ring.Leave(ctx); err != nil {
		w.Error("ERR leave failed: " + err.Error())
		return
	}
	w.Status("OK")
}

// cmdRingForget is RING FORGET node-id: remove a down member from the ring.
func (srv *Server) cmdRingForget(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	if srv.cfg.Ring == nil {
		w.Error("ERR This instance has cluster support disabled")
		return
	}
	if err := srv.cfg.Ring.Forget(string(args[2])); err != nil {
		w.Error("ERR forget failed: " + err.Error())
		return
	}
	w.Status("OK")
}

// redirect answers -MOVED slot host:port when key's preference list does not
// include this node, naming the slot's master as CLUSTER SLOTS shows it.
func (srv *Server) redirect(w *Writer, key []byte) bool {
	if srv.cfg.Ring == nil {
		return false
	}
	v := srv.cfg.Ring.View()
	if v.Topology.Table == nil || v.Topology.Table.Len() < 2 {
		return false
	}
	slot := ring.Slot(key)
	var buf [16]string
	for _, id := range v.Topology.Table.PreferenceList(buf[:0], slot, v.Topology.N) {
		if id == v.Self {
			return false
		}
	}
	for _, r := range v.ranges() {
		if r.start <= slot && slot <= r.end {
			master := r.nodes[0]
			addr := v.Members[master].RESPAddr
			if master == v.Self || addr == "" {
				// This node stands in for a preference list that is all
				// down, or the master's address is not known yet: a MOVED
				// would send the client back here, or nowhere. Serve it.
				return false
			}
			w.Error("MOVED " + strconv.Itoa(int(slot)) + " " + addr)
			return true
		}
	}
	return false
}

// route runs a single-key command where it belongs: a node outside the
// key's preference list (or, for a read-modify-write, any node but the
// key's primary) forwards it there in one hop and relays the raw reply. It
// reports whether it answered. A forward that cannot reach its node falls
// back to running the command here, which the quorum logic allows from any
// node: availability first, as Dynamo would.
func (srv *Server) route(ctx context.Context, c *command, s *Session, w *Writer, args [][]byte) bool {
	if c.firstKey <= 0 || c.firstKey >= len(args) || s.forwarded {
		return false
	}
	rmw := c.rmw && (c.blind == nil || !c.blind(args))
	if c.lastKey != c.firstKey && !rmw {
		return false // multi-key commands fan out key by key in the coordinator
	}
	key := args[c.firstKey]
	if srv.cfg.Redirects && srv.redirect(w, key) {
		return true
	}
	node, local := srv.coord.Route(key, rmw)
	if local {
		return false
	}
	raw, err := srv.coord.Forward(ctx, node, s.DB, args)
	if err != nil {
		if errors.Is(err, coordinator.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		srv.writeError(w, err)
		return true
	}
	w.Raw(raw)
	return true
}
