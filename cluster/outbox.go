package cluster

import (
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// bigPayload is the size from which an outgoing payload is written from the
// caller's slice (writev) instead of being copied into the send buffer.
const bigPayload = 32 << 10

// maxSpare is the largest send buffer kept for reuse between writes.
const maxSpare = 1 << 20

// outbox queues a connection's outgoing frames and writes them. Small
// frames are copied into one buffer; big payloads are referenced and sent
// with writev, so they must not change until written.
//
// At most one goroutine writes at a time: the holder of the write token
// (writing). A sender whose frame is the only traffic of the connection
// (its caller says so: nothing else in flight) and that finds the token free
// takes it and writes the queue itself, with one system call that does not
// wait for room in the socket: a lone call or reply costs one write and no
// goroutine wake-up. Whatever that write leaves, and whatever other senders
// queued during it, goes to the writer goroutine with the token. Under load,
// with other calls in flight, senders only append and hand the token to the
// writer, which sends everything queued since its previous write in one
// writev: writing each frame directly would cost a system call per frame on
// both ends (measured: twice the CPU per call with 64 callers). A sender
// never blocks on the network: a peer that stops reading stalls only the
// writer, which WriteTimeout bounds.
type outbox struct {
	mu      sync.Mutex
	vec     net.Buffers   // guarded by mu: queued pieces before tail
	tail    []byte        // guarded by mu: queued bytes after vec
	closed  bool          // guarded by mu: nothing more is sent
	writing bool          // guarded by mu: the write token is taken
	wake    chan struct{} // capacity 1: the writer was handed the token, or the outbox closed

	// raw writes without waiting for the socket (nil: every write goes
	// through the writer goroutine); rawWrite is o.writeDirect, bound once
	// so that a direct write does not allocate a closure.
	raw      syscall.RawConn
	rawWrite func(fd uintptr) bool

	// Owned by the holder of the write token.
	spareVec  net.Buffers
	spareTail []byte
	direct    []byte // what writeDirect writes
	directN   int    // how much of it writeDirect wrote
}

// newOutbox returns the outbox of nc; senders write directly when nc
// exposes its file descriptor.
func newOutbox(nc net.Conn) *outbox {
	o := &outbox{wake: make(chan struct{}, 1)}
	if sc, ok := nc.(syscall.Conn); ok && canTryWrite {
		if raw, err := sc.SyscallConn(); err == nil {
			o.raw = raw
			o.rawWrite = o.writeDirect
		}
	}
	return o
}

// appendFrameLocked queues a frame. o.mu must be held; the caller then
// calls flushLocked.
func (o *outbox) appendFrameLocked(h header, payload []byte) {
	h.length = len(payload)
	o.tail = appendHeader(o.tail, h)
	if len(payload) < bigPayload {
		o.tail = append(o.tail, payload...)
		return
	}
	o.vec = append(o.vec, o.tail, payload)
	o.tail = nil
}

// send queues a frame and sees it written; alone is flushLocked's. It
// reports false if the outbox is closed.
func (o *outbox) send(h header, payload []byte, alone bool) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	o.appendFrameLocked(h, payload)
	o.flushLocked(alone)
	return true
}

// flushLocked makes sure what is queued gets written, after a sender queued
// a frame. o.mu must be held and is released. If the token is taken, its
// holder will find the frame. Otherwise the sender takes it and, if alone
// (nothing else of the connection is in flight, so no other frame is about
// to be queued) writes the queue itself, else hands the token to the
// writer goroutine.
func (o *outbox) flushLocked(alone bool) {
	if o.writing {
		o.mu.Unlock()
		return
	}
	o.writing = true
	if !alone || o.raw == nil || len(o.vec) > 0 {
		o.mu.Unlock()
		o.signal()
		return
	}
	buf := o.tail
	o.tail, o.spareTail = o.spareTail[:0], nil
	o.mu.Unlock()

	o.direct = buf
	_ = o.raw.Write(o.rawWrite) // an error leaves directN short: see below
	n := o.directN
	o.direct, o.directN = nil, 0

	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if n < len(buf) {
		// The socket is full (or broken): the rest goes first, by the
		// writer, which waits for the socket and reports errors.
		rest := buf[n:]
		if len(o.vec) == 0 && len(o.tail) == 0 {
			o.tail, buf = rest, o.tail
		} else {
			o.vec = append(net.Buffers{rest}, o.vec...)
			buf = nil
		}
	}
	if cap(buf) <= maxSpare {
		o.spareTail = buf[:0]
	}
	if len(o.vec) == 0 && len(o.tail) == 0 {
		o.writing = false
		o.mu.Unlock()
		return
	}
	// Others queued frames during our write, or some of ours are left:
	// the writer takes over, and with it the coalescing of frames.
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// close stops the outbox: queued frames are dropped and send fails. It wakes
// the writer so that it exits.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.vec, o.tail = nil, nil
	o.mu.Unlock()
	o.signal()
}

// writeLoop is the connection's writer goroutine: each time it is handed the
// write token it writes until the queue is empty, then gives the token
// back; it returns when the outbox is closed (nil) or a write fails (the
// error).
func (o *outbox) writeLoop(nc net.Conn, timeout time.Duration) error {
	for range o.wake {
		for {
			// The sender that woke us made us its P's next goroutine to
			// run; yielding once lets the goroutines already runnable
			// (callers woken by replies, handlers finishing) queue their
			// frames first, so that one write carries them all. With
			// nothing else runnable it costs well under a microsecond,
			// and the writer runs only when frames pile up.
			runtime.Gosched()
			o.mu.Lock()
			if o.closed {
				o.mu.Unlock()
				return nil
			}
			vec, tail := o.vec, o.tail
			if len(vec) == 0 && len(tail) == 0 {
				o.writing = false
				o.mu.Unlock()
				break
			}
			o.vec, o.tail = o.spareVec[:0], o.spareTail[:0]
			o.spareVec, o.spareTail = nil, nil
			o.mu.Unlock()
			if len(tail) > 0 {
				vec = append(vec, tail)
			}
			if timeout > 0 {
				_ = nc.SetWriteDeadline(time.Now().Add(timeout))
			}
			pieces := vec
			if _, err := pieces.WriteTo(nc); err != nil { // consumes pieces, leaves vec intact
				return err
			}
			clear(vec) // drop references to big payloads
			o.spareVec = vec[:0]
			if cap(tail) <= maxSpare {
				o.spareTail = tail[:0]
			}
		}
	}
	return nil
}
