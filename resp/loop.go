package resp

import (
	"errors"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/tidwall/redcon"

	"github.com/ringstore/ringstore/coordinator"
)

// The connection loop.
//
// Each client connection runs serveConn in a goroutine of its own: read
// what the client sent into the connection's read buffer (through the
// protocol guard, guard.go), parse every whole command in it with
// redcon.ReadNextCommand, run them in order (or as a concurrent batch on a
// ring, pipeline.go), append every reply to one output buffer, and write it
// once the parsed input is exhausted. So a client that pipelines 16 commands
// costs one read and one write for all 16, and a client that sends one
// command at a time one of each per command, as with redcon's own loop.
//
// Parsing copies nothing: a command's arguments are slices of the read
// buffer, and the slice of arguments is the connection's too, so that in the
// steady state a command costs no allocation in the loop. Arguments are
// therefore only valid until the buffer is reused, which happens after the
// commands of a read have run and their replies have been built: handlers
// that keep an argument copy it (CLIENT SETNAME, CONFIG SET, ...), the
// pipeline workers are done with a batch before it is answered, and the
// store does not retain what it is given. The coordinator does, though: a
// quorum request that reached its quorum returns to its caller while its
// other replicas' answers are still out, and those may still need the key
// and value (a hint for a failed replica, read repair). That only happens
// when a request has remote targets, so on a ring of more than one node
// (sharedArgs) the bytes of a read's whole commands are first copied into a
// buffer of their own, left to the garbage collector: one exactly sized
// allocation per read instead of the buffer's reuse. If the topology changed
// while a read's commands ran in place, the read buffer is handed over the
// same way and the next read gets a new one.
const (
	// readBufSize is a new connection's read buffer, and what a buffer
	// grown for a large command shrinks back to once it is drained.
	readBufSize = 4 << 10
	// maxKeptRead is the largest read buffer a drained connection keeps.
	maxKeptRead = 64 << 10
	// minReadSpace is the least room a read is given: with less, the buffer
	// grows first. The guard needs far less (it holds back at most a "*n"
	// line's 21 bytes).
	minReadSpace = 1 << 10
	// flushAt is the size of pending replies that is written at once,
	// without waiting for the rest of the read's commands, so that a
	// pipeline of huge replies is not all held in memory.
	flushAt = 1 << 20
)

// readBuf is a connection's read buffer: b[:n] holds the bytes read, of
// which b[off:n] are not yet parsed (the start of an incomplete command).
type readBuf struct {
	b      []byte
	off, n int
}

// space makes room for the next read: the unparsed bytes move to the
// front, and the buffer grows when the room left is under minReadSpace.
// The guard bounds one command's size, so the buffer never grows past one
// command the guard let through plus the room of a read.
func (rb *readBuf) space() []byte {
	if rb.b == nil {
		rb.b = make([]byte, readBufSize)
	}
	if rb.off > 0 {
		copy(rb.b, rb.b[rb.off:rb.n])
		rb.n -= rb.off
		rb.off = 0
	}
	if len(rb.b)-rb.n < minReadSpace {
		nb := make([]byte, max(2*len(rb.b), rb.n+minReadSpace))
		copy(nb, rb.b[:rb.n])
		rb.b = nb
	}
	return rb.b[rb.n:]
}

// release forgets the buffer, which a command may still refer to: the
// unparsed bytes move to a new one. It also shrinks a large drained buffer.
func (rb *readBuf) release() {
	rest := rb.b[rb.off:rb.n]
	rb.b, rb.off, rb.n = nil, 0, 0
	if len(rest) > 0 {
		rb.b = make([]byte, max(readBufSize, len(rest)+minReadSpace))
		rb.n = copy(rb.b, rest)
	}
}

// drained resets an empty buffer to its start, and lets go of one that
// grew past maxKeptRead.
func (rb *readBuf) drained() {
	if rb.off < rb.n {
		return
	}
	rb.off, rb.n = 0, 0
	if len(rb.b) > maxKeptRead {
		rb.b = nil
	}
}

// Serve accepts connections on ln and serves them until Close; it then
// returns nil. It returns at once (nil) if the server is already closed.
// Serve may be called once.
func (srv *Server) Serve(ln net.Listener) error {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		ln.Close()
		return nil
	}
	if srv.ln != nil {
		srv.mu.Unlock()
		return errors.New("resp: Serve called twice")
	}
	srv.ln = ln
	srv.mu.Unlock()
	defer close(srv.serveDone)

	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if srv.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: do not spin.
			srv.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		cs := srv.accept(c)
		if cs == nil {
			c.Close()
			continue
		}
		go srv.serveConn(cs)
	}
}

func (srv *Server) isClosed() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closed
}

// serveConn is a connection's goroutine: it runs the loop until the client
// leaves, is refused, quits or the server closes, then retires the
// connection.
func (srv *Server) serveConn(cs *connState) {
	err := srv.loop(cs)
	cs.g.Conn.Close()
	srv.closeConn(cs, err)
}

// loop reads, runs and answers the connection's commands (see the comment
// at the top of this file). It returns nil when the client quit.
func (srv *Server) loop(cs *connState) error {
	g := cs.g
	rb := &cs.rb
	for {
		m, rerr := g.Read(rb.space())
		rb.n += m
		quit, err := srv.runRead(cs)
		if err != nil {
			return err
		}
		if quit {
			return nil
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
		rb.drained()
		// The replies just written make the client send its next commands,
		// which have not arrived yet: reading now would mostly fail with
		// EAGAIN and park. Yielding first lets the other connections'
		// goroutines run, and by the time this one reads again its client
		// has usually answered, so the read finds data. Measured on SET -P 1
		// from 50 clients (perf stat): 3.4 system calls per request down to
		// 2.6, and fewer context switches; with nothing else runnable the
		// yield costs well under a microsecond.
		runtime.Gosched()
	}
}

// runRead parses the whole commands in the read buffer, runs them, and
// writes their replies. quit reports that the connection must close: the
// client sent QUIT (or looked like an HTTP client), or the stream broke
// redcon's parser, which was answered as redcon answers it.
func (srv *Server) runRead(cs *connState) (quit bool, err error) {
	rb := &cs.rb
	topo := srv.coord.Topology()
	pkt := rb.b[rb.off:rb.n]
	consumed, perr := cs.parse(pkt)
	shared := sharedArgs(topo)
	if shared && consumed > 0 {
		// The coordinator may keep arguments after a command returned:
		// parse again from a copy of their own.
		own := append([]byte(nil), pkt[:consumed]...)
		cs.parse(own)
	}
	rb.off += consumed

	if len(cs.batch) > 1 && shared { // as concurrentPipelines, for topo
		now := srv.nanotime()
		cs.sess.lastActive.Store(now)
		srv.runBatch(srv.deadlines.context(now), cs, cs.batch)
	} else {
		for i := 0; i < len(cs.batch); {
			now := srv.nanotime()
			cs.sess.lastActive.Store(now)
			ctx := srv.deadlines.context(now)
			if n := srv.blindSetRun(&cs.sess, cs.batch[i:]); n > 1 {
				srv.runBlindSets(ctx, cs, cs.batch[i:i+n]) // setrun.go
				i += n
			} else {
				srv.execute(ctx, &cs.sess, &cs.w, cs.batch[i])
				i++
			}
			if cs.sess.Quit {
				break // Redis runs nothing the client sent after QUIT
			}
			if cs.w.Len() >= flushAt {
				if err := cs.flush(); err != nil {
					return true, err
				}
			}
		}
	}
	cs.forgetArgs()
	if !shared && srv.coord.Topology() != topo {
		// Commands ran in place while the ring changed: some may have
		// reached other nodes, and their requests may still hold the
		// buffer.
		rb.release()
	}
	if perr != nil && !cs.sess.Quit {
		msg := "ERR " + perr.Error()
		cs.w.Error(msg)
		cs.flush()
		return true, nil
	}
	if err := cs.flush(); err != nil {
		return true, err
	}
	return cs.sess.Quit, nil
}

// sharedArgs reports whether a command's arguments may outlive it under
// topo: on a ring of more than one node (see the comment at the top of this
// file).
func sharedArgs(topo *coordinator.Topology) bool {
	return topo != nil && topo.Table != nil && topo.Table.Len() > 1
}

// errEmptyCommand is redcon's answer to a "*0" or "*-1" frame, which the
// guard drops except when its '*' went out in an earlier read: that does
// not happen with the read sizes of this loop.
var errEmptyCommand = errors.New("Protocol error: invalid multibulk length")

// parse sets cs.batch to the whole commands at the start of pkt, their
// arguments slices of pkt kept in cs.argv, and returns the bytes they
// span. A protocol error ends the commands before it.
func (cs *connState) parse(pkt []byte) (consumed int, err error) {
	cs.argv, cs.batch = cs.argv[:0], cs.batch[:0]
	rest := pkt
	for len(rest) > 0 {
		complete, args, _, left, err := redcon.ReadNextCommand(rest, cs.argv[len(cs.argv):])
		if err != nil {
			return consumed, err
		}
		if !complete {
			break
		}
		if len(args) == 0 {
			return consumed, errEmptyCommand
		}
		// args is cs.argv's spare room unless that was too small; either
		// way cs.argv now holds them. An earlier command's slice may refer
		// to a backing array cs.argv has since left: that array is not
		// written again, so it stays valid.
		k := len(cs.argv)
		cs.argv = append(cs.argv, args...)
		cs.batch = append(cs.batch, cs.argv[k:len(cs.argv):len(cs.argv)])
		consumed += len(rest) - len(left)
		rest = left
	}
	return consumed, nil
}

// maxKeptArgs is the most argument slots a connection keeps between reads.
const maxKeptArgs = 4096

// forgetArgs drops the references to the read's arguments, so that a
// connection keeps none of a client's bytes alive between reads, and lets
// go of slices grown for an unusual read.
func (cs *connState) forgetArgs() {
	clear(cs.argv)
	clear(cs.batch)
	if cap(cs.argv) > maxKeptArgs {
		cs.argv = nil
	}
	if cap(cs.batch) > maxKeptBatch {
		cs.batch = nil
	}
}

// flush writes the pending replies.
func (cs *connState) flush() error {
	w := &cs.w
	if w.Len() == 0 {
		return nil
	}
	_, err := cs.g.Write(w.Bytes())
	w.Reset()
	if cap(w.b) > maxKeptReply {
		w.b = nil // a huge reply: do not keep its buffer for the connection's life
	}
	return err
}
