package resp

import (
	"context"

	"github.com/ringstore/ringstore/ring"
)

// CLUSTER KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, MYID, HELP. The
// topology subcommands (SLOTS, SHARDS, NODES, INFO) join this table with
// the ring.

func (srv *Server) clusterCommand() *command {
	stale := []string{"stale"}
	acl := []string{"@slow"}
	c := &command{name: "cluster", arity: -2, acl: acl, subs: table{}}
	c.subs.add(
		&command{name: "cluster|keyslot", arity: 3, flags: stale, acl: acl, handler: srv.cmdClusterKeySlot},
		&command{name: "cluster|countkeysinslot", arity: 3, flags: stale, acl: acl, handler: srv.cmdClusterCountKeysInSlot},
		&command{name: "cluster|getkeysinslot", arity: 4, flags: stale, acl: acl, handler: srv.cmdClusterGetKeysInSlot},
		&command{name: "cluster|myid", arity: 2, flags: stale, acl: acl, handler: srv.cmdClusterMyID},
		&command{name: "cluster|help", arity: 2, flags: []string{"loading", "stale"}, acl: acl, handler: srv.cmdClusterHelp},
		&command{name: "cluster|slots", arity: 2, flags: stale, acl: acl, handler: srv.cmdClusterSlots},
		&command{name: "cluster|shards", arity: 2, flags: stale, acl: acl, handler: srv.cmdClusterShards},
		&command{name: "cluster|nodes", arity: 2, flags: stale, acl: acl, handler: srv.cmdClusterNodes},
		&command{name: "cluster|info", arity: 2, flags: stale, acl: acl, handler: srv.cmdClusterInfo},
	)
	return c
}

// cmdClusterKeySlot is CLUSTER KEYSLOT key: the key's hash slot, with
// {hash tags}, as Redis Cluster computes it.
func (srv *Server) cmdClusterKeySlot(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	w.Int(int64(ring.Slot(args[2])))
}

// parseSlot parses a slot argument: an integer (else Redis's "not an
// integer" error), then in range.
func parseSlot(b []byte) (slot int64, errText string) {
	n, ok := parseRedisInt(b)
	if !ok {
		return 0, errNotInteger
	}
	return n, ""
}

// cmdClusterCountKeysInSlot is CLUSTER COUNTKEYSINSLOT slot, in the
// selected database.
func (srv *Server) cmdClusterCountKeysInSlot(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	slot, bad := parseSlot(args[2])
	if bad != "" {
		w.Error(bad)
		return
	}
	if slot < 0 || slot >= ring.NumSlots {
		w.Error("ERR Invalid slot")
		return
	}
	n, err := srv.coord.CountKeysInSlot(ctx, s.DB, uint16(slot))
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Int(n)
}

// cmdClusterGetKeysInSlot is CLUSTER GETKEYSINSLOT slot count.
func (srv *Server) cmdClusterGetKeysInSlot(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	slot, bad := parseSlot(args[2])
	if bad != "" {
		w.Error(bad)
		return
	}
	count, ok := parseRedisInt(args[3])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	if slot < 0 || slot >= ring.NumSlots || count < 0 {
		w.Error("ERR Invalid slot or number of keys")
		return
	}
	keys, err := srv.coord.KeysInSlot(ctx, s.DB, uint16(slot), int(min(count, int64(^uint(0)>>1))))
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Array(len(keys))
	for _, k := range keys {
		w.Bulk(k)
	}
}

// cmdClusterMyID is CLUSTER MYID: this node's 40-hex ID.
func (srv *Server) cmdClusterMyID(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	w.BulkString(srv.coord.NodeID())
}

func (srv *Server) cmdClusterHelp(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	writeHelp(w, "CLUSTER",
		"COUNTKEYSINSLOT <slot>",
		"    Return the number of keys in <slot>.",
		"GETKEYSINSLOT <slot> <count>",
		"    Return key names stored by current node in a slot.",
		"INFO",
		"    Return information about the cluster.",
		"KEYSLOT <key>",
		"    Return the hash slot for <key>.",
		"MYID",
		"    Return the node id.",
		"NODES",
		"    Return cluster configuration seen by node. Output format:",
		"    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
		"SLOTS",
		"    Return information about slots range mappings. Each range is made of:",
		"    start, end, master and replicas IP addresses, ports and ids",
		"SHARDS",
		"    Return information about slot range mappings and the nodes associated with them.",
	)
}
