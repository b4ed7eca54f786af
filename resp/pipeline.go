package resp

import (
	"bytes"
	"context"
	"sync"

	"github.com/tidwall/redcon"
)

// Pipelined batches run concurrently when the node is part of a larger
// ring. redcon hands a connection's commands to the handler one at a time
// and flushes the replies only after the whole batch it read, so a quorum
// wait per command would serialise a redis-benchmark -P 16 pipeline behind
// sixteen round trips to the replicas. Instead the handler takes the whole
// batch (ReadPipeline), starts each keyed command in its own goroutine with
// its own reply Writer, and writes the replies in request order.
//
// Order is kept where a client can see it: a command waits for the commands
// before it that touch one of its keys (per-key order, so SET k; INCR k; GET
// k behaves as in Redis), and a command that is not a plain keyed data
// command (SELECT, QUORUM, AUTH, CLIENT, FLUSHALL, ...) is a barrier: it
// runs alone, after everything before it and before everything after it.

// concurrentPipelines reports whether batches should run concurrently: only
// when requests leave the node, since on a one-node ring every command is a
// local store access and a goroutine per command costs more than it saves.
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

type batchItem struct {
	w    Writer
	done chan struct{}
	keys [][]byte
}

var batchPool = sync.Pool{New: func() any { return new([]batchItem) }}

// runBatch executes cmds (the current command and the rest of its
// pipeline) and writes every reply to conn in order.
func (srv *Server) runBatch(ctx context.Context, cs *connState, conn redcon.Conn, cmds []redcon.Command) {
	sess := &cs.sess
	itemsp := batchPool.Get().(*[]batchItem)
	items := (*itemsp)[:0]
	for range cmds {
		items = append(items, batchItem{})
	}
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		it := &items[i]
		c := srv.cmds.lookup(firstArg(cmd.Args))
		if sess.Quit {
			break // Redis runs nothing the client sent after QUIT
		}
		if !batchable(c, cmd.Args) || !sess.Authed {
			wg.Wait()
			srv.execute(ctx, sess, &it.w, cmd.Args)
			continue
		}
		it.keys = keysOf(it.keys[:0], c, cmd.Args)
		// Wait for earlier in-flight commands on the same keys.
		for j := i - 1; j >= 0; j-- {
			if items[j].done != nil && overlaps(items[j].keys, it.keys) {
				<-items[j].done
			}
		}
		it.done = make(chan struct{})
		wg.Add(1)
		go func(args [][]byte) {
			defer wg.Done()
			defer close(it.done)
			srv.execute(ctx, sess, &it.w, args)
		}(cmd.Args)
	}
	wg.Wait()
	for i := range items {
		if items[i].w.Len() > 0 {
			conn.WriteRaw(items[i].w.Bytes())
		}
		items[i] = batchItem{}
	}
	*itemsp = items[:0]
	batchPool.Put(itemsp)
	if sess.Quit {
		conn.Close()
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
