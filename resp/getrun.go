package resp

import "github.com/ringstore/ringstore/coordinator"

// Pipelined GETs on a ring without a worker.
//
// On a ring a read's cost is its replica round trip, which runBatch hides
// by running a pipeline's commands concurrently on the worker pool. For a
// GET that this node coordinates, the pool is more than the read needs:
// its local read is a store lookup, and its remote calls are asynchronous
// already (Coordinator.StartGet sends them and returns). So runBatch starts
// such a GET in the connection's goroutine and collects its answer when it
// writes the replies (or earlier, when a later command of the pipeline
// touches the same key), which saves per GET a hand-over to a worker, the
// worker's wake-up and park, and its wait for the quorum: in profiles of
// redis-benchmark -P 16 through one node of a 3-node ring, that channel and
// scheduler work was about a quarter of the node's CPU. A GET the node
// forwards (it is not a replica of the key), or any GET while
// --cluster-redirects is on, still runs on a worker through execute.

// startGet starts it, a GET that runBatch is about to hand to a worker, in
// the connection's goroutine instead, with the accounting execute keeps;
// it reports false, having done nothing, when the GET must run through
// execute.
func (srv *Server) startGet(it *batchItem) bool {
	s, key := it.sess, it.args[1]
	if srv.cfg.Redirects || s.forwarded {
		return false
	}
	if _, local := srv.coord.Route(key, false); !local {
		return false
	}
	s.setLastCmd(srv.getCmd)
	s.commands.Add(1)
	it.ctx = withQuorum(it.ctx, s)
	srv.coord.StartGet(it.ctx, s.DB, key, &it.read)
	it.reading = true
	return true
}

// finishGet waits for a GET that startGet started and writes its reply,
// as cmdGet does.
func (srv *Server) finishGet(it *batchItem) {
	it.reading = false
	mark := it.w.Len()
	v, ok, err := it.read.Get(it.ctx)
	it.read = coordinator.PendingRead{}
	switch {
	case err != nil:
		srv.writeError(&it.w, err)
	case !ok:
		it.w.Null()
	case !isString(v):
		it.w.Error(txtWrongType)
	default:
		it.w.Bulk(v.Data)
	}
	if it.w.Len() > mark && it.w.b[mark] == '-' {
		it.sess.errors.Add(1)
	}
}
