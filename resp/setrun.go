package resp

import (
	"context"

	"github.com/ringstore/ringstore/coordinator"
)

// Runs of blind SETs on a node alone in its ring.
//
// redis-benchmark -P 16, and any client that pipelines writes, sends runs
// of plain SET key value commands. One by one, each pays a whole storage
// commit: pebble's commit pipeline, a write-ahead log record and the
// store's locking. A node that is its ring's only member hands such a run
// to Coordinator.SetMany instead, one engine batch (engine.SupersedeMany) for
// the whole run, and answers +OK to each. The client cannot tell: the
// commands are consecutive in its own pipeline, nothing else of the
// connection runs between them, and a later SET of a key wins over an
// earlier one as it would run in order. The run is atomic, which is more
// than Redis promises and costs nothing. On a ring the batch path
// (pipeline.go) runs a read's commands concurrently instead, because there
// a command's cost is its replicas' round trip, not the local commit.

// blindSetRun returns how many commands at the start of batch are plain
// "SET key value" that the session may run (authenticated), when this
// node is alone in its ring; 0 otherwise. A SET with options (EX, NX,
// GET, ...) ends the run and runs through execute as usual.
func (srv *Server) blindSetRun(s *Session, batch [][][]byte) int {
	if !s.Authed || len(batch) < 2 || !srv.coord.Alone() {
		return 0
	}
	n := 0
	for _, args := range batch {
		if len(args) != 3 || !asciiEqualFold(args[0], "set") {
			break
		}
		n++
	}
	return n
}

// runBlindSets runs a run that blindSetRun found as one SetMany and
// writes one reply per command, in order: +OK each, or each the error.
// It keeps the accounting execute keeps for each command.
func (srv *Server) runBlindSets(ctx context.Context, cs *connState, run [][][]byte) {
	s, w := &cs.sess, &cs.w
	keys, vals := cs.setKeys[:0], cs.setVals[:0]
	for _, args := range run {
		keys = append(keys, args[1])
		vals = append(vals, stringValue(args[2], 0))
	}
	s.setLastCmd(srv.setCmd)
	s.commands.Add(int64(len(run)))
	srv.keyspace.touch()
	err := srv.coord.SetMany(withQuorum(ctx, s), s.DB, keys, vals)
	for range run {
		if err != nil {
			srv.writeError(w, err)
			s.errors.Add(1)
		} else {
			w.Status("OK")
		}
	}
	// Drop the references to the read buffer; keep the slices for the
	// next run unless a huge pipeline grew them.
	clear(keys)
	clear(vals)
	if cap(keys) > maxKeptBatch {
		keys, vals = nil, nil
	}
	cs.setKeys, cs.setVals = keys, vals
}

// setRunState is what a connection keeps between runs of blind SETs.
type setRunState struct {
	setKeys [][]byte
	setVals []coordinator.Value
}
