package resp

import (
	"context"
	"strconv"
	"time"
)

// Server commands: COMMAND (cmdinfo.go), INFO (info.go), CONFIG
// (configcmd.go), CLUSTER (cluster.go), DBSIZE, TIME, FLUSHALL, FLUSHDB.

func (srv *Server) serverCommands() []*command {
	return []*command{
		srv.commandCommand(),
		{name: "info", arity: -1, flags: []string{"loading", "stale"}, acl: []string{"@slow", "@dangerous"}, handler: srv.cmdInfo},
		srv.configCommand(),
		srv.clusterCommand(),
		{name: "dbsize", arity: 1, flags: []string{"readonly", "fast"}, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdDBSize},
		{name: "time", arity: 1, flags: []string{"loading", "stale", "fast"}, acl: []string{"@fast"}, handler: srv.cmdTime},
		{name: "flushall", arity: -1, flags: []string{"write"}, acl: []string{"@keyspace", "@write", "@slow", "@dangerous"}, handler: srv.cmdFlushAll},
		{name: "flushdb", arity: -1, flags: []string{"write"}, acl: []string{"@keyspace", "@write", "@slow", "@dangerous"}, handler: srv.cmdFlushDB},
	}
}

// cmdDBSize is DBSIZE: the keys of the selected database.
func (srv *Server) cmdDBSize(ctx context.Context, s *Session, w *Writer, _ [][]byte) {
	n, err := srv.coord.DBSize(ctx, s.DB)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Int(n)
}

// cmdTime is TIME: [unix seconds, microseconds], as bulk strings.
func (srv *Server) cmdTime(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	// The coordinator's clock (which tests may control) has milliseconds;
	// when it is the wall clock, take the microseconds from it too.
	us := srv.coord.NowMillis() * 1000
	if now := time.Now().UnixMicro(); now/1000 == us/1000 {
		us = now
	}
	var buf [20]byte
	w.Array(2)
	w.Bulk(strconv.AppendInt(buf[:0], us/1e6, 10))
	w.Bulk(strconv.AppendInt(buf[:0], us%1e6, 10))
}

// flushMode checks FLUSHALL/FLUSHDB's optional ASYNC|SYNC. Both flush
// before answering: the engine's flush is a range deletion either way.
func flushMode(w *Writer, args [][]byte) bool {
	if len(args) > 2 || len(args) == 2 && !asciiEqualFold(args[1], "async") && !asciiEqualFold(args[1], "sync") {
		w.Error(errSyntax)
		return false
	}
	return true
}

// cmdFlushAll is FLUSHALL [ASYNC|SYNC].
func (srv *Server) cmdFlushAll(ctx context.Context, _ *Session, w *Writer, args [][]byte) {
	if !flushMode(w, args) {
		return
	}
	if err := srv.coord.FlushAll(ctx); err != nil {
		srv.writeError(w, err)
		return
	}
	srv.keyspace.touch()
	w.Status("OK")
}

// cmdFlushDB is FLUSHDB [ASYNC|SYNC]: the selected database.
func (srv *Server) cmdFlushDB(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	if !flushMode(w, args) {
		return
	}
	if err := srv.coord.FlushDB(ctx, s.DB); err != nil {
		srv.writeError(w, err)
		return
	}
	srv.keyspace.touch()
	w.Status("OK")
}
