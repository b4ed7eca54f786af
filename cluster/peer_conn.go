package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// serverConn is one accepted peer connection: serve reads requests and hands
// each to a worker goroutine (at most MaxInflight run at once); a writer
// goroutine sends the replies as they are queued, in completion order.
type serverConn struct {
	s    *PeerServer
	nc   net.Conn
	from string // the peer's authenticated node ID; set before any request
	out  *outbox
	sem  chan struct{} // one token per request read and not yet answered

	work    chan request // unbuffered: to an idle worker
	workers int          // workers started; owned by the reader

	closeOnce sync.Once
	closing   chan struct{} // closed by close
}

// close makes serve return soon; safe to call more than once and from any
// goroutine.
func (sc *serverConn) close() {
	sc.closeOnce.Do(func() {
		close(sc.closing)
		sc.nc.Close()
	})
}

func (sc *serverConn) serve() {
	defer sc.s.forget(sc)
	defer sc.close()
	log := sc.s.log.With("remote_addr", sc.nc.RemoteAddr().String())
	if err := sc.handshake(); err != nil {
		if errors.Is(err, ErrAuth) {
			log.Warn("peer failed authentication; check cluster-secret", "claimed_node", sc.from)
		} else {
			log.Debug("peer handshake failed", "err", err)
		}
		return
	}
	log = log.With("peer", sc.from)
	log.Debug("peer connected")

	// Handlers' context: cancelled when this connection stops.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer sc.out.close()
	sc.s.wg.Go(func() {
		if err := sc.out.writeLoop(sc.nc, sc.s.cfg.WriteTimeout); err != nil {
			log.Debug("peer write failed", "err", err)
			sc.close()
		}
	})
	if err := sc.readLoop(ctx, bufio.NewReaderSize(sc.nc, 64<<10)); err != nil {
		select {
		case <-sc.closing:
		default:
			if errors.Is(err, errProtocol) {
				log.Warn("closing peer connection", "err", err)
			} else {
				log.Debug("peer connection ended", "err", err)
			}
		}
	}
}

// handshake authenticates the peer (frame_auth.go) under HandshakeTimeout.
func (sc *serverConn) handshake() error {
	cfg := &sc.s.cfg
	_ = sc.nc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	nonceS := newNonce()
	if _, err := sc.nc.Write(serverHello(nonceS)); err != nil {
		return err
	}
	// A small reader, so that connections that never authenticate cost
	// little; a peer sends no frame before our verdict, so nothing it
	// buffered is lost when the frame reader replaces it.
	r := bufio.NewReaderSize(sc.nc, 512)
	id, nonceC, err := serverAuth(r, cfg.Secret, nonceS)
	sc.from = id
	if errors.Is(err, ErrAuth) {
		_, _ = sc.nc.Write([]byte{authRejected})
	}
	if err != nil {
		return err
	}
	if r.Buffered() > 0 {
		return fmt.Errorf("%w: data before the authentication verdict", errProtocol)
	}
	if _, err := sc.nc.Write(serverAccept(cfg.Secret, nonceS, nonceC, cfg.NodeID)); err != nil {
		return err
	}
	return sc.nc.SetDeadline(time.Time{})
}

func (sc *serverConn) readLoop(ctx context.Context, r *bufio.Reader) error {
	var hb [headerLen]byte
	for {
		h, err := readHeader(r, &hb, sc.s.cfg.MaxFrame)
		if err != nil {
			return noEOFAtStart(err)
		}
		op := Op(h.kind)
		if !op.valid() {
			return fmt.Errorf("%w: frame kind %#x is not a request", errProtocol, h.kind)
		}
		var deadline time.Time
		if h.budget > 0 {
			deadline = time.Now().Add(time.Duration(h.budget) * time.Millisecond)
		}
		// Take a slot before reading the payload, so a busy server stops
		// reading and the client's writes back up.
		select {
		case sc.sem <- struct{}{}:
		case <-sc.closing:
			return nil
		}
		payload, err := readPayload(r, h.length)
		if err != nil {
			<-sc.sem
			return err
		}
		sc.dispatchToWorker(ctx, request{op: op, id: h.id, deadline: deadline, payload: payload})
	}
}

// request is one decoded request frame on its way to a worker.
type request struct {
	op       Op
	id       uint64
	deadline time.Time // zero: none
	payload  []byte
}

// dispatchToWorker hands req to an idle worker, or starts one. Workers live
// as long as the connection, so their stacks are grown once rather than per
// request; there are at most MaxInflight of them, and the caller holds a
// semaphore token, so when none is idle and none may start, one is about
// to be free and the blocking send is short. Only the reader calls it.
func (sc *serverConn) dispatchToWorker(ctx context.Context, req request) {
	select {
	case sc.work <- req:
		return
	default:
	}
	if sc.workers < cap(sc.sem) {
		sc.workers++
		sc.s.wg.Go(func() { sc.worker(ctx, req) })
		return
	}
	select {
	case sc.work <- req:
	case <-sc.closing: // the workers are leaving; so is the reader
		<-sc.sem
	}
}

// worker serves requests until the connection closes.
func (sc *serverConn) worker(ctx context.Context, req request) {
	for {
		sc.handle(ctx, req)
		select {
		case req = <-sc.work:
		case <-sc.closing:
			return
		}
	}
}

// noEOFAtStart keeps a clean EOF between frames (the client hung up) quiet.
func noEOFAtStart(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// handle runs one request, queues its reply and releases the request's
// semaphore token.
func (sc *serverConn) handle(ctx context.Context, req request) {
	defer func() { <-sc.sem }()
	id := req.id
	if !req.deadline.IsZero() {
		if !time.Now().Before(req.deadline) {
			sc.replyErr(id, codeDeadline, "deadline exceeded before the request started")
			return
		}
		// Reads and writes of the local store do not wait on anything a
		// deadline could cut short, and a deadline context costs about a
		// tenth of a call's CPU; the ops that may wait (Forward runs a
		// whole command, with its own fan-out) get the caller's deadline.
		if req.op != OpRead && req.op != OpWrite && req.op != OpPing {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, req.deadline)
			defer cancel()
		}
	}
	resp, err := sc.dispatch(ctx, req.op, req.payload)
	switch {
	case err != nil:
		code, msg := classify(err)
		sc.replyErr(id, code, msg)
	case len(resp) > sc.s.cfg.MaxFrame:
		sc.replyErr(id, codeHandler, fmt.Sprintf("reply of %d bytes exceeds MaxFrame", len(resp)))
	default:
		sc.out.send(header{kind: kindOK, id: id}, resp, sc.alone())
	}
}

// alone reports whether the request whose reply is being sent is the only
// one of the connection in flight (the caller still holds its semaphore
// token), so the reply may be written directly, without the writer.
func (sc *serverConn) alone() bool { return len(sc.sem) <= 1 }

// maxErrMsg bounds the text of an error reply.
const maxErrMsg = 4096

func (sc *serverConn) replyErr(id uint64, code errCode, msg string) {
	if len(msg) > maxErrMsg {
		msg = msg[:maxErrMsg]
	}
	p := make([]byte, 0, 1+len(msg))
	p = append(p, byte(code))
	p = append(p, msg...)
	sc.out.send(header{kind: kindErr, id: id}, p, sc.alone())
}

// badRequest marks a payload that did not decode.
type badRequest struct{ err error }

func (e badRequest) Error() string { return e.err.Error() }

// errNoHandler marks an op nobody registered.
type errNoHandler struct{ op Op }

func (e errNoHandler) Error() string { return fmt.Sprintf("unknown op %s", e.op) }

func classify(err error) (errCode, string) {
	var br badRequest
	var nh errNoHandler
	switch {
	case errors.As(err, &nh):
		return codeUnknownOp, err.Error()
	case errors.As(err, &br):
		return codeBadRequest, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return codeDeadline, err.Error()
	case errors.Is(err, context.Canceled):
		return codeCanceled, err.Error()
	}
	return codeHandler, err.Error()
}

// dispatch decodes a request, calls its handler and encodes the result. A
// panicking handler becomes an error reply: one bad request must not take
// the node down.
func (sc *serverConn) dispatch(ctx context.Context, op Op, p []byte) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			sc.s.log.Error("peer handler panicked", "op", op.String(), "peer", sc.from, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("internal error serving %s: handler panicked", op)
		}
	}()
	h := sc.s.h
	switch op {
	case OpRead:
		db, key, err := decodeReadReq(p)
		if err != nil {
			return nil, badRequest{err}
		}
		sib, err := h.ServeRead(ctx, db, key)
		if err != nil || len(sib) == 0 {
			return nil, err
		}
		return sib.AppendBinary(nil), nil
	case OpWrite:
		db, key, hintFor, record, err := decodeWriteReq(p)
		if err != nil {
			return nil, badRequest{err}
		}
		sib, err := sc.s.ids.Decode(record)
		if err != nil {
			return nil, badRequest{err}
		}
		return nil, h.ServeWrite(ctx, db, key, sib, hintFor)
	case OpForward:
		db, args, err := decodeForwardReq(p)
		if err != nil {
			return nil, badRequest{err}
		}
		return h.ServeForward(ctx, db, args)
	case OpPing:
		return nil, nil
	}
	if fn := sc.s.ops[op]; fn != nil {
		return fn(ctx, sc.from, p)
	}
	return nil, errNoHandler{op}
}
