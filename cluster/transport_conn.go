package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringstore/ringstore/coordinator"
)

// peer is the pool of connection slots to one node.
type peer struct {
	node  string
	next  atomic.Uint32 // round-robin cursor over slots
	slots []slot
}

// slot holds at most one connection and dials it lazily.
type slot struct {
	conn atomic.Pointer[clientConn] // set under mu; may be dead

	mu         sync.Mutex
	closed     bool               // guarded by mu: the peer was closed; never dial again
	dialing    chan struct{}      // guarded by mu: non-nil while a dial runs, closed when it ends
	cancelDial context.CancelFunc // guarded by mu: aborts the running dial
	lastErr    error              // guarded by mu: why the last dial failed
	retryAt    time.Time          // guarded by mu: no dial before this
	backoff    time.Duration      // guarded by mu: current backoff, 0 after a success
}

// peer returns the pool for node, creating it on first use.
func (t *Transport) peer(node string) (*peer, error) {
	if p, ok := (*t.peers.Load())[node]; ok {
		return p, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, fmt.Errorf("%w: %w", coordinator.ErrUnreachable, ErrTransportClosed)
	}
	old := *t.peers.Load()
	if p, ok := old[node]; ok {
		return p, nil
	}
	m := make(map[string]*peer, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	p := &peer{node: node, slots: make([]slot, t.cfg.ConnsPerPeer)}
	m[node] = p
	t.peers.Store(&m)
	return p, nil
}

// conn returns a live connection to node, dialling if needed.
func (t *Transport) conn(ctx context.Context, node string) (*clientConn, error) {
	for {
		p, err := t.peer(node)
		if err != nil {
			return nil, err
		}
		c, err := t.acquire(ctx, p)
		if c != nil || err != nil {
			return c, err
		}
		// p was closed, by Close or by Disconnect (then take the new pool).
		if t.closed.Load() {
			return nil, fmt.Errorf("%w: %w", coordinator.ErrUnreachable, ErrTransportClosed)
		}
	}
}

// acquire picks a slot round-robin and returns its connection. If that slot
// has none it starts a dial and, meanwhile, borrows any live connection of
// another slot; with none, it waits for the dial or fails fast while the
// slot backs off. It returns (nil, nil) if the peer was closed.
func (t *Transport) acquire(ctx context.Context, p *peer) (*clientConn, error) {
	n := uint32(len(p.slots))
	i := p.next.Add(1) % n
	s := &p.slots[i]
	if c := s.conn.Load(); c != nil && c.alive() {
		return c, nil
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, nil
		}
		if c := s.conn.Load(); c != nil && c.alive() {
			s.mu.Unlock()
			return c, nil
		}
		wait, err := s.dialing, error(nil)
		if wait == nil {
			if time.Now().Before(s.retryAt) {
				err = s.lastErr
			} else {
				wait, err = t.startDial(p, s) // err: no address; still borrow
			}
		}
		s.mu.Unlock()
		for j := uint32(1); j < n; j++ {
			if c := p.slots[(i+j)%n].conn.Load(); c != nil && c.alive() {
				return c, nil
			}
		}
		if wait == nil {
			return nil, err
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// startDial starts dialling p.node into s. s.mu must be held. It fails at
// once, without backoff, for a node with no known address.
func (t *Transport) startDial(p *peer, s *slot) (chan struct{}, error) {
	addr, ok := t.cfg.Resolve(p.node)
	if !ok {
		return nil, fmt.Errorf("%w: no address known for node %q", coordinator.ErrUnreachable, p.node)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.DialTimeout)
	s.dialing, s.cancelDial = done, cancel
	t.wg.Go(func() {
		defer close(done)
		defer cancel()
		c, err := t.dial(ctx, p.node, addr)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.dialing, s.cancelDial = nil, nil
		switch {
		case s.closed:
			if c != nil {
				c.fail(fmt.Errorf("%w: %w", coordinator.ErrUnreachable, ErrTransportClosed))
			}
		case err != nil:
			t.stats.dialFailures.Add(1)
			s.backoff = min(max(2*s.backoff, t.cfg.RedialBackoff), t.cfg.MaxRedialBackoff)
			s.retryAt = time.Now().Add(s.backoff)
			s.lastErr = err
			t.log.Debug("peer dial failed", "peer", p.node, "addr", addr, "retry_in", s.backoff, "err", err)
			if t.cfg.OnUnreachable != nil {
				t.cfg.OnUnreachable(p.node)
			}
		default:
			t.stats.dials.Add(1)
			s.backoff, s.lastErr = 0, nil
			s.conn.Store(c)
			t.log.Debug("peer connected", "peer", p.node, "addr", addr)
			if t.cfg.OnReachable != nil {
				t.cfg.OnReachable(p.node)
			}
		}
	})
	return done, nil
}

// dial connects to node at addr and authenticates both ways.
func (t *Transport) dial(ctx context.Context, node, addr string) (*clientConn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", coordinator.ErrUnreachable, err)
	}
	// The handshake obeys the dial's deadline and its cancellation by Close.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	r := bufio.NewReaderSize(nc, 64<<10)
	id, err := t.handshake(r, nc)
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%w: handshake with %s at %s: %w", coordinator.ErrUnreachable, node, addr, err)
	}
	if id != node {
		nc.Close()
		return nil, fmt.Errorf("%w: dialled node %q at %s but node %q answered", coordinator.ErrUnreachable, node, addr, id)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &clientConn{t: t, node: node, nc: nc, out: newOutbox(nc), calls: map[uint64]*call{}}
	t.wg.Go(func() { c.readLoop(r) })
	t.wg.Go(c.writeLoop)
	return c, nil
}

func (t *Transport) handshake(r *bufio.Reader, nc net.Conn) (string, error) {
	nonceS, nonceC, err := clientAuth(r, nc, t.cfg.Secret, t.cfg.NodeID)
	if err != nil {
		return "", err
	}
	return clientVerify(r, t.cfg.Secret, nonceS, nonceC)
}

// close stops the peer's slots for good: running dials are cancelled and
// connections failed with err.
func (p *peer) close(err error) {
	for i := range p.slots {
		s := &p.slots[i]
		s.mu.Lock()
		s.closed = true
		if s.cancelDial != nil {
			s.cancelDial()
		}
		c := s.conn.Swap(nil)
		s.mu.Unlock()
		if c != nil {
			c.fail(err)
		}
	}
}

// clientConn is one multiplexed connection to a peer: callers queue frames
// in out and wait on their call; readLoop routes replies by request ID.
type clientConn struct {
	t    *Transport
	node string
	nc   net.Conn
	out  *outbox

	// out.mu also guards these.
	calls  map[uint64]*call // calls waiting for a reply; nil once dead
	nextID uint64           // last request ID used
	err    error            // why the connection died
	// timed are the asynchronous calls in send order, with their
	// deadlines; answered ones are dropped from the front as replies come,
	// and from anywhere when the timer fires. timer (made on first use)
	// fires at timerAt (zero: not armed), the earliest deadline in timed.
	timed   []timedCall
	timer   *time.Timer
	timerAt time.Time

	dead atomic.Bool // set under out.mu
}

func (c *clientConn) alive() bool { return !c.dead.Load() }

// timedCall is an asynchronous call in flight and its deadline.
type timedCall struct {
	id       uint64
	cl       *call
	deadline time.Time
}

// send registers cl and queues its request. It fails, having sent nothing,
// if the connection is dead. A non-zero deadline makes the connection fail
// the call with context.DeadlineExceeded when it passes unanswered, for
// asynchronous calls, which have no goroutine waiting to notice.
func (c *clientConn) send(op Op, budget uint32, payload []byte, cl *call, deadline time.Time) (uint64, error) {
	c.out.mu.Lock()
	if c.out.closed {
		err := c.err
		c.out.mu.Unlock()
		return 0, err
	}
	c.nextID++
	id := c.nextID
	c.calls[id] = cl
	if !deadline.IsZero() {
		c.timed = append(c.timed, timedCall{id, cl, deadline})
		if c.timerAt.IsZero() || deadline.Before(c.timerAt) {
			c.armLocked(deadline)
		}
	}
	c.out.appendFrameLocked(header{kind: uint8(op), id: id, budget: budget}, payload)
	// The only call in flight writes its request itself; with others in
	// flight the writer coalesces them.
	c.out.flushLocked(len(c.calls) == 1)
	return id, nil
}

// armLocked sets the deadline timer to fire at t. c.out.mu must be held.
func (c *clientConn) armLocked(t time.Time) {
	c.timerAt = t
	if c.timer == nil {
		c.timer = time.AfterFunc(time.Until(t), c.expire)
		return
	}
	c.timer.Reset(time.Until(t))
}

// trimLocked drops answered calls from the front of timed, which keeps it
// short when replies come in order. c.out.mu must be held.
func (c *clientConn) trimLocked() {
	for len(c.timed) > 0 && c.calls[c.timed[0].id] != c.timed[0].cl {
		c.timed[0] = timedCall{}
		c.timed = c.timed[1:]
	}
}

// expire runs when the deadline timer fires: it fails the calls whose
// deadline passed, drops answered ones, and sets the timer for the
// earliest deadline left.
func (c *clientConn) expire() {
	now := time.Now()
	var late []*call
	c.out.mu.Lock()
	if c.calls == nil {
		c.out.mu.Unlock()
		return // failed: fail answered every call
	}
	keep := c.timed[:0]
	var next time.Time
	for _, tc := range c.timed {
		switch {
		case c.calls[tc.id] != tc.cl:
		case !now.Before(tc.deadline):
			delete(c.calls, tc.id)
			late = append(late, tc.cl)
		default:
			keep = append(keep, tc)
			if next.IsZero() || tc.deadline.Before(next) {
				next = tc.deadline
			}
		}
	}
	clear(c.timed[len(keep):])
	c.timed = keep
	c.timerAt = time.Time{}
	if !next.IsZero() {
		c.armLocked(next)
	}
	c.out.mu.Unlock()
	for _, cl := range late {
		c.t.complete(cl, result{err: context.DeadlineExceeded})
	}
}

// forget abandons call id: its reply, if it comes, is dropped. On return
// nothing else will use cl.
func (c *clientConn) forget(id uint64, cl *call) {
	c.out.mu.Lock()
	if c.calls[id] == cl {
		delete(c.calls, id)
		c.out.mu.Unlock()
		return
	}
	c.out.mu.Unlock()
	<-cl.ch // the reader or fail took it and is delivering its result
}

// fail kills the connection and fails every call in flight with err. Only
// the first failure counts.
func (c *clientConn) fail(err error) {
	c.out.mu.Lock()
	if c.out.closed {
		c.out.mu.Unlock()
		return
	}
	c.err = err
	c.dead.Store(true)
	calls := c.calls
	c.calls = nil
	c.timed = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	c.out.closed = true
	c.out.vec, c.out.tail = nil, nil
	c.out.mu.Unlock()
	c.out.signal()
	c.nc.Close()
	for _, cl := range calls {
		c.t.complete(cl, result{err: err})
	}
}

// lost fails the connection after an I/O or protocol error.
func (c *clientConn) lost(err error) {
	if c.dead.Load() {
		return // closed on purpose; the read error is a consequence
	}
	c.t.stats.connsLost.Add(1)
	c.t.log.Info("peer connection lost", "peer", c.node, "err", err)
	c.fail(fmt.Errorf("%w: connection to %s lost: %v", coordinator.ErrUnreachable, c.node, err))
	if c.t.cfg.OnUnreachable != nil {
		c.t.cfg.OnUnreachable(c.node)
	}
}

func (c *clientConn) writeLoop() {
	if err := c.out.writeLoop(c.nc, c.t.cfg.WriteTimeout); err != nil {
		c.lost(err)
	}
}

func (c *clientConn) readLoop(r *bufio.Reader) {
	var hb [headerLen]byte
	for {
		h, err := readHeader(r, &hb, c.t.cfg.MaxFrame)
		if err == nil && h.kind != kindOK && h.kind != kindErr {
			err = fmt.Errorf("%w: unexpected frame kind %#x", errProtocol, h.kind)
		}
		var payload []byte
		if err == nil {
			payload, err = readPayload(r, h.length)
		}
		if err != nil {
			c.lost(err)
			return
		}
		c.out.mu.Lock()
		cl, ok := c.calls[h.id]
		delete(c.calls, h.id)
		issued := h.id <= c.nextID
		if ok && len(c.timed) > 0 && c.timed[0].id == h.id {
			c.trimLocked()
		}
		c.out.mu.Unlock()
		if !ok {
			if !issued {
				c.lost(fmt.Errorf("%w: reply to request %d that was never sent", errProtocol, h.id))
				return
			}
			continue // its caller gave up
		}
		if h.kind == kindOK {
			c.t.complete(cl, result{payload: payload})
			continue
		}
		c.t.complete(cl, result{err: c.remoteError(payload)})
	}
}

// remoteError rebuilds the error of an error reply; Call fills in its Op.
func (c *clientConn) remoteError(p []byte) error {
	e := &RemoteError{Node: c.node}
	if len(p) > 0 {
		e.code = errCode(p[0])
		e.Msg = string(p[1:])
	}
	return e
}
