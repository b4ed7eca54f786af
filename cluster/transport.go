package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// TransportConfig configures a Transport. A zero field takes the default
// named in its comment; DefaultTransportConfig returns them filled in.
type TransportConfig struct {
	// NodeID is this node's ID, presented to peers. Required, at most 255
	// bytes.
	NodeID string
	// Secret is the cluster secret; peers must prove they know it, and so
	// must this node. Empty means no authentication (any process that
	// speaks the protocol is accepted): for loopback development only, and a
	// warning is logged.
	Secret []byte
	// Resolve returns the peer address (host:port of the peer port) of a
	// node ID, or ok == false for a node with no known address. Required.
	// It is called before each dial, so a changed address takes effect at
	// the next redial; it must be fast and safe for concurrent use.
	Resolve func(node string) (addr string, ok bool)
	// ConnsPerPeer is how many connections carry calls to one peer.
	// Default 2.
	ConnsPerPeer int
	// DialTimeout bounds dialling a peer and the handshake. Default 1s.
	DialTimeout time.Duration
	// RedialBackoff is how long a connection slot fails calls at once after
	// a failed dial before it dials again; it doubles with each consecutive
	// failure up to MaxRedialBackoff. Defaults 50ms and 1s.
	RedialBackoff    time.Duration
	MaxRedialBackoff time.Duration
	// WriteTimeout bounds one write to a peer: a peer that reads nothing for
	// that long is taken for dead and its connection closed. Default 10s.
	WriteTimeout time.Duration
	// MaxFrame is the largest payload sent or accepted, in bytes; it must
	// hold a value of proto-max-bulk-len plus its key. Default 512 MiB +
	// 64 KiB, at most 4 GiB - 1.
	MaxFrame int
	// Logger receives connection events, bound to this node. Default: none.
	Logger *slog.Logger
	// OnUnreachable and OnReachable, if set, receive the transport's
	// evidence about a node's health: a dial or handshake that failed, or an
	// established connection that broke (not one closed by Close or
	// Disconnect); and a dial that succeeded. They suit
	// Membership.ReportUnreachable and ReportReachable. They are called from
	// transport goroutines and must not block.
	OnUnreachable func(node string)
	OnReachable   func(node string)
}

// Defaults of TransportConfig and PeerServerConfig.
const (
	DefaultConnsPerPeer     = 2
	DefaultDialTimeout      = time.Second
	DefaultRedialBackoff    = 50 * time.Millisecond
	DefaultMaxRedialBackoff = time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxFrame         = 512<<20 + 64<<10
	DefaultMaxInflight      = 256
)

// DefaultTransportConfig returns a TransportConfig with every default filled
// in; the caller sets NodeID, Secret and Resolve.
func DefaultTransportConfig() TransportConfig {
	var c TransportConfig
	c.fillDefaults()
	return c
}

// DefaultLocalTransportConfig is DefaultTransportConfig tuned for tests on
// loopback: short dial timeout and backoff.
func DefaultLocalTransportConfig() TransportConfig {
	c := DefaultTransportConfig()
	c.DialTimeout = 250 * time.Millisecond
	c.RedialBackoff = 5 * time.Millisecond
	c.MaxRedialBackoff = 100 * time.Millisecond
	return c
}

func (c *TransportConfig) fillDefaults() {
	if c.ConnsPerPeer == 0 {
		c.ConnsPerPeer = DefaultConnsPerPeer
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RedialBackoff == 0 {
		c.RedialBackoff = DefaultRedialBackoff
	}
	if c.MaxRedialBackoff == 0 {
		c.MaxRedialBackoff = max(DefaultMaxRedialBackoff, c.RedialBackoff)
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
}

// Validate reports every problem with c at once. Zero fields are valid (they
// mean the default).
func (c TransportConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("cluster: "+format, a...)) }
	if c.NodeID == "" || len(c.NodeID) > maxIDLen {
		bad("transport NodeID must be 1 to %d bytes, got %d", maxIDLen, len(c.NodeID))
	}
	if c.Resolve == nil {
		bad("transport Resolve is required")
	}
	if c.ConnsPerPeer < 0 || c.ConnsPerPeer > 64 {
		bad("ConnsPerPeer must be 1 to 64 (0 for the default), got %d", c.ConnsPerPeer)
	}
	if c.DialTimeout < 0 {
		bad("DialTimeout must not be negative, got %v", c.DialTimeout)
	}
	if c.RedialBackoff < 0 || c.MaxRedialBackoff < 0 {
		bad("redial backoffs must not be negative, got %v and %v", c.RedialBackoff, c.MaxRedialBackoff)
	}
	if c.RedialBackoff > 0 && c.MaxRedialBackoff > 0 && c.MaxRedialBackoff < c.RedialBackoff {
		bad("MaxRedialBackoff (%v) is below RedialBackoff (%v)", c.MaxRedialBackoff, c.RedialBackoff)
	}
	if c.WriteTimeout < 0 {
		bad("WriteTimeout must not be negative, got %v", c.WriteTimeout)
	}
	if err := validMaxFrame(c.MaxFrame); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validMaxFrame(n int) error {
	if n < 0 || n > math.MaxUint32 || (n > 0 && n < 4096) {
		return fmt.Errorf("cluster: MaxFrame must be 4096 to %d bytes (0 for the default), got %d", uint32(math.MaxUint32), n)
	}
	return nil
}

// ErrTransportClosed is wrapped by the errors of calls made on, or in flight
// at, a closed Transport. Those errors wrap coordinator.ErrUnreachable too.
var ErrTransportClosed = errors.New("cluster: transport closed")

// Transport makes calls to other nodes' PeerServers. It implements
// coordinator.Transport; all methods are safe for concurrent use, and
// concurrent calls to one node share its connections (see the package doc).
//
// Errors: a node that cannot be reached or whose connection broke gives an
// error wrapping coordinator.ErrUnreachable (and ErrAuth if the cluster
// secret did not match); an error returned by the peer's handler is a
// *RemoteError; a call that ran out of time wraps ctx.Err().
type Transport struct {
	cfg    TransportConfig // defaults filled
	log    *slog.Logger
	dialer net.Dialer

	closed atomic.Bool                      // set under mu
	peers  atomic.Pointer[map[string]*peer] // copy on write under mu
	mu     sync.Mutex                       // serialises changes to peers and closed

	wg    sync.WaitGroup  // dials and connection goroutines
	calls sync.Pool       // *call
	ids   version.Decoder // node IDs of decoded replies, shared across calls
	bufs  sync.Pool       // *[]byte request encoding buffers
	stats transportCounters
}

// NewTransport validates cfg and returns a Transport. It dials nothing until
// the first call to a node.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.NodeID, "component", "peer_transport")
	if len(cfg.Secret) == 0 {
		log.Warn("cluster secret is empty: peer calls are not authenticated; use only on loopback")
	}
	t := &Transport{
		cfg: cfg,
		log: log,
		dialer: net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3,
		}},
	}
	t.peers.Store(&map[string]*peer{})
	t.calls.New = func() any { return &call{ch: make(chan result, 1)} }
	return t, nil
}

var _ coordinator.Transport = (*Transport)(nil)

// Read returns the siblings node holds for key in db (nil when absent).
// The Value slices of the result are owned by the caller.
func (t *Transport) Read(ctx context.Context, node string, db int, key []byte) (version.Siblings, error) {
	buf := t.getBuf()
	*buf = appendReadReq((*buf)[:0], db, key)
	resp, err := t.Call(ctx, node, OpRead, *buf)
	t.putBuf(buf)
	if err != nil || len(resp) == 0 {
		return nil, err
	}
	sib, err := t.ids.Decode(resp)
	if err != nil {
		return nil, fmt.Errorf("cluster: read on %s: %w", node, err)
	}
	return sib, nil
}

// Write sends sib for key in db to node, to be merged into its copy; a
// non-empty hintFor asks node to keep it as a hint for that owner too. It
// returns after node acknowledged the write. sib is not retained.
func (t *Transport) Write(ctx context.Context, node string, db int, key []byte, sib version.Siblings, hintFor string) error {
	if len(hintFor) > maxIDLen {
		return fmt.Errorf("cluster: write on %s: hint node ID of %d bytes is too long", node, len(hintFor))
	}
	buf := t.getBuf()
	*buf = appendWriteReq((*buf)[:0], db, key, hintFor, sib.AppendBinary)
	resp, err := t.Call(ctx, node, OpWrite, *buf)
	t.putBuf(buf)
	if err == nil && len(resp) != 0 {
		err = fmt.Errorf("cluster: write on %s: %w: unexpected reply payload", node, errProtocol)
	}
	return err
}

// Forward runs a client command on node with db selected and returns its
// raw RESP reply (which may be a RESP error), owned by the caller.
func (t *Transport) Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("cluster: forward to %s: empty command", node)
	}
	buf := t.getBuf()
	if need := forwardReqSize(args); cap(*buf) < need {
		*buf = make([]byte, 0, need)
	}
	*buf = appendForwardReq((*buf)[:0], db, args)
	resp, err := t.Call(ctx, node, OpForward, *buf)
	t.putBuf(buf)
	return resp, err
}

// Ping makes a round trip to node, dialling it if needed.
func (t *Transport) Ping(ctx context.Context, node string) error {
	_, err := t.Call(ctx, node, OpPing, nil)
	return err
}

// SendRead implements coordinator.Transport: it starts reading key in db
// on node; the siblings (nil when absent), or the error, go to
// to.Reply(i, ...), by deadline at the latest. key is not retained.
func (t *Transport) SendRead(node string, db int, key []byte, deadline time.Time, to coordinator.Replies, i int) {
	buf := t.getBuf()
	*buf = appendReadReq((*buf)[:0], db, key)
	t.start(node, OpRead, *buf, deadline, to, i)
	t.putBuf(buf)
}

// SendWrite implements coordinator.Transport: it starts writing sib for key
// in db on node, as Write does; the answer goes to to.Reply(i, nil, err), by
// deadline at the latest. key and sib are not retained.
func (t *Transport) SendWrite(node string, db int, key []byte, sib version.Siblings, hintFor string, deadline time.Time, to coordinator.Replies, i int) {
	if len(hintFor) > maxIDLen {
		t.stats.calls.Add(1)
		t.stats.failed.Add(1)
		to.Reply(i, nil, fmt.Errorf("cluster: write on %s: hint node ID of %d bytes is too long", node, len(hintFor)))
		return
	}
	buf := t.getBuf()
	*buf = appendWriteReq((*buf)[:0], db, key, hintFor, sib.AppendBinary)
	t.start(node, OpWrite, *buf, deadline, to, i)
	t.putBuf(buf)
}

// start sends an asynchronous call. Its answer is delivered by the
// connection's reader, by the connection's deadline timer, or by whoever
// fails the connection (complete), and here only if it cannot be sent.
// Like Call, it retries once on a new connection a request that was never
// sent.
func (t *Transport) start(node string, op Op, payload []byte, deadline time.Time, to coordinator.Replies, i int) {
	t.stats.calls.Add(1)
	cl := t.calls.Get().(*call)
	cl.to, cl.i, cl.op, cl.node = to, i, op, node
	if len(payload) > t.cfg.MaxFrame {
		t.complete(cl, result{err: fmt.Errorf("payload of %d bytes exceeds MaxFrame (%d)", len(payload), t.cfg.MaxFrame)})
		return
	}
	for attempt := 0; ; attempt++ {
		c, err := t.connBy(node, deadline)
		if err != nil {
			t.complete(cl, result{err: err})
			return
		}
		budget, ok := budgetOf(deadline, true, time.Now())
		if !ok {
			t.complete(cl, result{err: context.DeadlineExceeded})
			return
		}
		if _, err = c.send(op, budget, payload, cl, deadline); err == nil {
			return
		}
		if attempt > 0 {
			t.complete(cl, result{err: err})
			return
		}
	}
}

// connBy returns a live connection to node, waiting for a dial until
// deadline at most. The context a wait needs is made only when a wait may
// happen, which is rare: most calls find a live connection.
func (t *Transport) connBy(node string, deadline time.Time) (*clientConn, error) {
	if p, ok := (*t.peers.Load())[node]; ok {
		s := &p.slots[p.next.Add(1)%uint32(len(p.slots))]
		if c := s.conn.Load(); c != nil && c.alive() {
			return c, nil
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return t.conn(ctx, node)
}

// complete hands a call's result to its caller: a goroutine waiting in
// Call, or, for an asynchronous call, its Replies, after decoding the reply
// and wrapping the error as Call would. An asynchronous call is recycled
// here.
func (t *Transport) complete(cl *call, r result) {
	if cl.to == nil {
		cl.ch <- r
		return
	}
	to, i, op, node := cl.to, cl.i, cl.op, cl.node
	*cl = call{ch: cl.ch}
	t.calls.Put(cl)
	var sib version.Siblings
	err := r.err
	if rr, ok := to.(coordinator.RecordReplies); ok && err == nil && op == OpRead {
		rr.ReplyRecord(i, r.payload)
		return
	}
	if err != nil {
		t.stats.failed.Add(1)
		err = callError(op, node, err)
	} else if len(r.payload) != 0 {
		switch op {
		case OpRead:
			if sib, err = t.ids.Decode(r.payload); err != nil {
				err = fmt.Errorf("cluster: read on %s: %w", node, err)
			}
		case OpWrite:
			err = fmt.Errorf("cluster: write on %s: %w: unexpected reply payload", node, errProtocol)
		}
	}
	to.Reply(i, sib, err)
}

// callError gives the error of a failed call its op and node.
func callError(op Op, node string, err error) error {
	if re, ok := err.(*RemoteError); ok {
		re.Op = op
		return re
	}
	return fmt.Errorf("cluster: %s on %s: %w", op, node, err)
}

// Call sends op with payload to node and returns the reply payload, which
// the caller owns. It waits for the reply or for ctx, whichever is first.
//
// Payloads under 32 KiB are copied before Call returns; a bigger payload is
// written from the caller's slice, possibly after Call returned (if ctx
// ended first), so the caller must not modify it after the call. A request
// that was not yet sent when its connection broke is retried once on a new
// connection; a sent one never is, since it may have run.
func (t *Transport) Call(ctx context.Context, node string, op Op, payload []byte) ([]byte, error) {
	if !op.valid() {
		return nil, fmt.Errorf("cluster: invalid op %d", op)
	}
	if len(payload) > t.cfg.MaxFrame {
		return nil, fmt.Errorf("cluster: %s on %s: payload of %d bytes exceeds MaxFrame (%d)", op, node, len(payload), t.cfg.MaxFrame)
	}
	t.stats.calls.Add(1)
	resp, err := t.call(ctx, node, op, payload)
	if err != nil {
		t.stats.failed.Add(1)
		err = callError(op, node, err)
	}
	return resp, err
}

func (t *Transport) call(ctx context.Context, node string, op Op, payload []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := t.conn(ctx, node)
		if err != nil {
			return nil, err
		}
		deadline, has := ctx.Deadline()
		budget, ok := budgetOf(deadline, has, time.Now())
		if !ok {
			return nil, context.DeadlineExceeded
		}
		cl := t.calls.Get().(*call)
		id, err := c.send(op, budget, payload, cl, time.Time{})
		if err != nil {
			t.calls.Put(cl)
			if attempt == 0 {
				continue // never sent: safe to try a fresh connection
			}
			return nil, err
		}
		select {
		case r := <-cl.ch:
			t.calls.Put(cl)
			return r.payload, r.err
		case <-ctx.Done():
			c.forget(id, cl)
			t.calls.Put(cl)
			return nil, ctx.Err()
		}
	}
}

// Disconnect closes the connections to node, failing its calls in flight,
// and forgets its redial backoff; the next call dials afresh. The membership
// layer calls it when a node leaves or comes back at a new address.
func (t *Transport) Disconnect(node string) {
	t.mu.Lock()
	old := *t.peers.Load()
	p, ok := old[node]
	if ok {
		m := make(map[string]*peer, len(old))
		for k, v := range old {
			if k != node {
				m[k] = v
			}
		}
		t.peers.Store(&m)
	}
	t.mu.Unlock()
	if ok {
		p.close(fmt.Errorf("%w: connection to %s closed by Disconnect", coordinator.ErrUnreachable, node))
	}
}

// Close closes every connection, failing the calls in flight with an error
// wrapping ErrTransportClosed, and waits for the transport's goroutines.
// Calls after Close fail at once.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		return nil
	}
	t.closed.Store(true)
	peers := *t.peers.Load()
	t.mu.Unlock()
	err := fmt.Errorf("%w: %w", coordinator.ErrUnreachable, ErrTransportClosed)
	for _, p := range peers {
		p.close(err)
	}
	t.wg.Wait()
	return nil
}

// TransportStats are counters since NewTransport.
type TransportStats struct {
	Calls        uint64 // calls started
	Failed       uint64 // calls that returned an error, of any kind
	Dials        uint64 // connections established
	DialFailures uint64 // dials or handshakes that failed
	ConnsLost    uint64 // established connections that broke
}

type transportCounters struct {
	calls, failed, dials, dialFailures, connsLost atomic.Uint64
}

// Stats returns the transport's counters.
func (t *Transport) Stats() TransportStats {
	return TransportStats{
		Calls:        t.stats.calls.Load(),
		Failed:       t.stats.failed.Load(),
		Dials:        t.stats.dials.Load(),
		DialFailures: t.stats.dialFailures.Load(),
		ConnsLost:    t.stats.connsLost.Load(),
	}
}

func (t *Transport) getBuf() *[]byte {
	if b, ok := t.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

// putBuf recycles a request buffer. Only buffers below bigPayload are
// recycled: bigger payloads may still be referenced by a connection's
// outbox.
func (t *Transport) putBuf(b *[]byte) {
	if cap(*b) < bigPayload {
		t.bufs.Put(b)
	}
}

// call is one call waiting for its reply; pooled. A call made by Call has
// a goroutine waiting on ch; an asynchronous one (SendRead, SendWrite) has
// to instead, and Transport.complete delivers its result.
type call struct {
	ch chan result // capacity 1; exactly one result is sent per send

	to   coordinator.Replies // asynchronous calls only
	i    int
	op   Op
	node string
}

type result struct {
	payload []byte
	err     error
}
