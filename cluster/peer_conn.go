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

	"github.com/ringstore/ringstore/version"
)

// serverConn is one accepted peer connection: serve reads requests and runs
// each in its own goroutine (at most MaxInflight at once); a writer
// goroutine sends the replies as they are queued.
type serverConn struct {
	s    *PeerServer
	nc   net.Conn
	from string // the peer's authenticated node ID; set before any request
	out  *outbox
	sem  chan struct{} // one token per running request

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
	r := bufio.NewReaderSize(sc.nc, 64<<10)
	if err := sc.handshake(r); err != nil {
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
	if err := sc.readLoop(ctx, r); err != nil {
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
func (sc *serverConn) handshake(r *bufio.Reader) error {
	cfg := &sc.s.cfg
	_ = sc.nc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	nonceS := newNonce()
	if _, err := sc.nc.Write(serverHello(nonceS)); err != nil {
		return err
	}
	id, nonceC, err := serverAuth(r, cfg.Secret, nonceS)
	sc.from = id
	if errors.Is(err, ErrAuth) {
		_, _ = sc.nc.Write([]byte{authRejected})
	}
	if err != nil {
		return err
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
		sc.s.wg.Go(func() { sc.handle(ctx, op, h.id, deadline, payload) })
	}
}

// noEOFAtStart keeps a clean EOF between frames (the client hung up) quiet.
func noEOFAtStart(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// handle runs one request and queues its reply.
func (sc *serverConn) handle(ctx context.Context, op Op, id uint64, deadline time.Time, payload []byte) {
	defer func() { <-sc.sem }()
	if !deadline.IsZero() {
		if !time.Now().Before(deadline) {
			sc.replyErr(id, codeDeadline, "deadline exceeded before the request started")
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	resp, err := sc.dispatch(ctx, op, payload)
	switch {
	case err != nil:
		code, msg := classify(err)
		sc.replyErr(id, code, msg)
	case len(resp) > sc.s.cfg.MaxFrame:
		sc.replyErr(id, codeHandler, fmt.Sprintf("reply of %d bytes exceeds MaxFrame", len(resp)))
	default:
		sc.out.send(header{kind: kindOK, id: id}, resp)
	}
}

// maxErrMsg bounds the text of an error reply.
const maxErrMsg = 4096

func (sc *serverConn) replyErr(id uint64, code errCode, msg string) {
	if len(msg) > maxErrMsg {
		msg = msg[:maxErrMsg]
	}
	p := make([]byte, 0, 1+len(msg))
	p = append(p, byte(code))
	p = append(p, msg...)
	sc.out.send(header{kind: kindErr, id: id}, p)
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
		sib, err := version.Decode(record)
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
