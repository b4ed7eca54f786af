package resp

import (
	"fmt"

	"github.com/ringstore/ringstore/coordinator"
)

// Pipelined GETs and SETs on a ring without a worker.
//
// On a ring a command's cost is its replicas' round trip, which runBatch
// hides by running a pipeline's commands concurrently on the worker pool.
// For a GET or a plain SET that this node coordinates, the pool is more
// than the command needs: its local part is a store access, and its replica
// calls are asynchronous already (Coordinator.StartGet and StartSet send
// them and return). So runBatch starts such a command in the connection's
// goroutine and collects its answer when it writes the replies (or earlier,
// when a later command of the pipeline touches the same key). That saves,
// per command, the hand-over to a worker, the worker's wake-up and park,
// and its wait for the quorum: in profiles of redis-benchmark -P 16 through
// one node of a 3-node ring, that channel and scheduler work was about a
// quarter of the node's CPU. A command the node forwards (it does not
// replicate the key), a SET with options, and anything while
// --cluster-redirects is on still run on a worker through execute.

// start starts it (command c, which runBatch is about to hand to a worker)
// in the connection's goroutine instead, with the accounting execute keeps,
// when c is GET or a plain SET of a key this node replicates; otherwise it
// reports false, having done nothing. A panic while starting answers the
// command with an internal error, as execute would, and counts as handled
// (true, nothing started), so that the command does not run a second time
// on a worker and answer twice.
func (srv *Server) start(c *command, it *batchItem) (handled bool) {
	s, args := it.sess, it.args
	get := c == srv.getCmd
	if !get && (c != srv.setCmd || len(args) != 3) {
		return false
	}
	if srv.cfg.Redirects || s.forwarded {
		return false
	}
	count := func() {
		s.setLastCmd(c)
		s.commands.Add(1)
		if c.write {
			srv.keyspace.touch()
		}
	}
	if srv.recoverPanics {
		mark := it.w.Len()
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			handled = true
			if it.started {
				// Started before the panic: finish answers it (and its
				// pending request is waited for).
				srv.log.Error("command panicked after it started", "cmd", c.name, "panic", fmt.Sprint(r))
				return
			}
			// Not started, so not counted yet: count it, and its error
			// reply, as execute counts a command that panicked.
			srv.panicked(r, &it.w, mark, c.name)
			count()
			s.errors.Add(1)
		}()
	}
	ctx := withQuorum(it.ctx, s)
	if get {
		it.started = srv.coord.StartGetHere(ctx, s.DB, args[1], &it.read)
	} else {
		it.started = srv.coord.StartSetHere(ctx, s.DB, args[1], stringValue(args[2], 0), &it.write)
	}
	if !it.started {
		return false // another node's key: the command runs as usual, forwarded
	}
	it.ctx = ctx
	count()
	return true
}

// finish waits for a command that start started and writes its reply, as
// cmdGet or cmdSet does.
func (srv *Server) finish(it *batchItem) {
	it.started = false
	w := &it.w
	mark := w.Len()
	if len(it.args) == 2 { // GET
		defer srv.recoverInto(w, mark, "get")
		v, ok, err := it.read.Get(it.ctx)
		it.read = coordinator.PendingRead{}
		srv.writeGet(w, v, ok, err)
	} else {
		defer srv.recoverInto(w, mark, "set")
		err := it.write.Wait()
		it.write = coordinator.PendingWrite{}
		if err != nil {
			srv.writeError(w, err)
		} else {
			w.Status("OK")
		}
	}
	if w.Len() > mark && w.b[mark] == '-' {
		it.sess.errors.Add(1)
	}
}
