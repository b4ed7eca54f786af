package resp

import (
	"bytes"
	"context"
	"sync"

	"github.com/ringstore/ringstore/coordinator"
)

// Pipelined batches run concurrently when the node is part of a larger
// ring. The connection loop (loop.go) writes the replies of a read's
// commands only after all of them ran, so a quorum wait per command would
// serialise a redis-benchmark -P 16 pipeline behind sixteen round trips to
// the replicas. Instead the loop hands the whole batch to runBatch, which
// hands each keyed command to a worker of the server's pool with its own
// reply Writer, and appends the replies in request order.
//
// Order is kept where a client can see it: a command waits for the commands
// before it that touch one of its keys (per-key order, so SET k; INCR k; GET
// k behaves as in Redis), and a command that is not a plain keyed data
// command (SELECT, QUORUM, AUTH, CLIENT, FLUSHALL, ...) is a barrier: it
// runs alone, after everything before it and before everything after it.
// Both waits happen in the connection's goroutine, before the command is
// handed over, so a worker never waits for anything but the command it
// runs: workers cannot deadlock on each other, however few are free.
//
// Why a pool and not a goroutine per command: a command's quorum path
// (coordinator, transport, store) is deep, and a fresh goroutine grows its
// stack from 2 KiB by copying each time it doubles; in CPU profiles of a
// ring under redis-benchmark -P 16 that stack growth was ~11% of the node.
// A worker keeps its grown stack from one command to the next (the GC
// halves an idle one's stack at most once per cycle, so it regrows at most
// once rather than from scratch).

// maxBatchWorkers bounds the pool. Each pipelined command in flight on the
// node occupies one worker for its quorum round trip, so the bound is the
// number of such commands the node runs at once: 2048 is 128 clients each
// with a 16-deep pipeline (redis-benchmark -c 50 -P 16 keeps 800 in
// flight). Past it, a connection waits for a free worker before handing
// over its next command, which is back-pressure rather than a stall: a
// busy worker always finishes (see above). Workers are started only when
// none is idle, and idle ones cost little (their stacks shrink at GC), so
// the bound is about the worst case, not the usual one.
const maxBatchWorkers = 2048

// workerPool runs batch items on long-lived goroutines. Its zero value has
// no workers; init makes it usable, stop ends it.
type workerPool struct {
	jobs chan *batchItem // unbuffered: a send succeeds only into a worker
	max  int

	mu      sync.Mutex
	started int  // guarded by mu
	stopped bool // guarded by mu
	wg      sync.WaitGroup
}

func (p *workerPool) init(max int) {
	p.jobs = make(chan *batchItem)
	p.max = max
}

// run hands it to an idle worker, or to a new one if none is idle and the
// pool may grow, or else waits for a worker to become free.
func (p *workerPool) run(it *batchItem) {
	select {
	case p.jobs <- it:
		return
	default:
	}
	p.mu.Lock()
	grow := !p.stopped && p.started < p.max
	if grow {
		p.started++
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if grow {
		go p.work(it)
		return
	}
	p.jobs <- it
}

func (p *workerPool) work(it *batchItem) {
	defer p.wg.Done()
	for ; it != nil; it = <-p.jobs {
		it.srv.execute(it.ctx, it.sess, &it.w, it.args)
		it.done.Done() // it belongs to its connection again from here
	}
}

// stop ends the workers once they finished what they run. No run may
// follow or overlap stop: Server.Close calls it after every connection's
// goroutine (the only callers of run) has returned.
func (p *workerPool) stop() {
	p.mu.Lock()
	if !p.stopped && p.jobs != nil {
		p.stopped = true
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// concurrentPipelines reports whether batches should run concurrently: only
// when requests leave the node, since on a one-node ring every command is a
// local store access and handing it to another goroutine costs more than it
// saves.
func (srv *Server) concurrentPipelines() bool {
	topo := srv.coord.Topology()
	return topo != nil && topo.Table != nil && topo.Table.Len() > 1
}

// batchable reports whether c can run concurrently with its neighbours.
func batchable(c *command, args [][]byte) bool {
	return c != nil && c.firstKey > 0 && c.firstKey < len(args) && c.subs == nil && arityOK(c.arity, len(args))
}

// keysOf appends the keys a command touches.
func keysOf(dst [][]byte, c *command, args [][]byte) [][]byte {
	last := c.lastKey
	if last < 0 {
		last = len(args) + last
	}
	step := max(c.keyStep, 1)
	for i := c.firstKey; i <= last && i < len(args); i += step {
		dst = append(dst, args[i])
	}
	return dst
}

// batchItem is one command of a batch. The connection's goroutine owns it
// except between workerPool.run and the worker's done.Done().
type batchItem struct {
	srv  *Server
	ctx  context.Context
	sess *Session
	args [][]byte
	w    Writer
	keys [][]byte
	// queued: handed to a worker and not yet waited for (done counts it).
	queued bool
	done   sync.WaitGroup
	// started: a GET or SET whose quorum request was started in the
	// connection's goroutine (read or write) and whose reply is not
	// written yet (getrun.go).
	started bool
	read    coordinator.PendingRead
	write   coordinator.PendingWrite
}

// maxKeptBatch is the longest batch whose items a connection keeps for the
// next one.
const maxKeptBatch = 1024

// runBatch executes cmds (the commands of one read) and appends every
// reply to cs.w in order. It returns once no worker holds any of them.
func (srv *Server) runBatch(ctx context.Context, cs *connState, cmds [][][]byte) {
	sess := &cs.sess
	if cap(cs.items) < len(cmds) {
		cs.items = make([]batchItem, len(cmds))
	}
	// items must not move while workers hold pointers into it.
	items := cs.items[:len(cmds)]
	ran := 0
	for i, args := range cmds {
		it := &items[i]
		it.w.Reset()
		if sess.Quit {
			break // Redis runs nothing the client sent after QUIT
		}
		ran = i + 1
		c := srv.cmds.lookup(firstArg(args))
		if !batchable(c, args) || !sess.Authed {
			waitAll(items[:i])
			srv.execute(ctx, sess, &it.w, args)
			continue
		}
		it.keys = keysOf(it.keys[:0], c, args)
		// Wait for earlier in-flight commands on the same keys.
		for j := i - 1; j >= 0; j-- {
			if (items[j].queued || items[j].started) && overlaps(items[j].keys, it.keys) {
				items[j].wait()
			}
		}
		it.srv, it.ctx, it.sess, it.args = srv, ctx, sess, args
		if srv.start(c, it) {
			continue
		}
		it.queued = true
		it.done.Add(1)
		srv.workers.run(it)
	}
	waitAll(items[:ran])
	for i := range items[:ran] {
		it := &items[i]
		cs.w.Raw(it.w.Bytes())
		if cap(it.w.b) > maxKeptReply {
			it.w.b = nil
		}
		clear(it.keys) // keep the slice, not the client's bytes
		it.ctx, it.sess, it.args = nil, nil, nil
	}
	if cap(cs.items) > maxKeptBatch {
		cs.items = nil
	}
}

// wait waits for a queued item to finish, or finishes a started GET.
func (it *batchItem) wait() {
	if it.started {
		it.srv.finish(it)
		return
	}
	it.done.Wait()
	it.queued = false
}

func waitAll(items []batchItem) {
	for i := range items {
		if items[i].queued || items[i].started {
			items[i].wait()
		}
	}
}

func firstArg(args [][]byte) []byte {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func overlaps(a, b [][]byte) bool {
	for _, x := range a {
		for _, y := range b {
			if bytes.Equal(x, y) {
				return true
			}
		}
	}
	return false
}
