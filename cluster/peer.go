package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// PeerServerConfig configures a PeerServer. A zero field takes the default
// named in its comment.
type PeerServerConfig struct {
	// NodeID is this node's ID, proven to connecting peers. Required, at
	// most 255 bytes.
	NodeID string
	// Secret is the cluster secret peers must prove they know. Empty means
	// no authentication: loopback development only (a warning is logged).
	Secret []byte
	// MaxFrame is the largest request or reply payload, in bytes; a bigger
	// request frame closes the connection. Default 512 MiB + 64 KiB.
	MaxFrame int
	// MaxInflight bounds the requests of one connection being handled at
	// once; past it the server stops reading that connection until one
	// finishes. Default 256.
	MaxInflight int
	// HandshakeTimeout bounds a new connection's authentication. Default 5s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write of replies; a client that reads nothing
	// for that long is disconnected. Default 10s.
	WriteTimeout time.Duration
	// Logger receives connection events, bound to this node. Default: none.
	Logger *slog.Logger
}

// DefaultHandshakeTimeout is PeerServerConfig.HandshakeTimeout's default.
const DefaultHandshakeTimeout = 5 * time.Second

// DefaultPeerServerConfig returns a PeerServerConfig with every default
// filled in; the caller sets NodeID and Secret.
func DefaultPeerServerConfig() PeerServerConfig {
	var c PeerServerConfig
	c.fillDefaults()
	return c
}

func (c *PeerServerConfig) fillDefaults() {
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
}

// Validate reports every problem with c at once. Zero fields are valid (they
// mean the default).
func (c PeerServerConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("cluster: "+format, a...)) }
	if c.NodeID == "" || len(c.NodeID) > maxIDLen {
		bad("peer server NodeID must be 1 to %d bytes, got %d", maxIDLen, len(c.NodeID))
	}
	if err := validMaxFrame(c.MaxFrame); err != nil {
		errs = append(errs, err)
	}
	if c.MaxInflight < 0 || c.MaxInflight > 1<<16 {
		bad("MaxInflight must be 1 to 65536 (0 for the default), got %d", c.MaxInflight)
	}
	if c.HandshakeTimeout < 0 {
		bad("HandshakeTimeout must not be negative, got %v", c.HandshakeTimeout)
	}
	if c.WriteTimeout < 0 {
		bad("WriteTimeout must not be negative, got %v", c.WriteTimeout)
	}
	return errors.Join(errs...)
}

// OpHandler serves an op registered with PeerServer.Handle. from is the
// calling node's authenticated ID; payload belongs to the handler. ctx ends
// when the caller's deadline passes or the connection closes. The returned
// reply must not be modified afterwards. Errors travel back as *RemoteError
// with the error's text.
type OpHandler func(ctx context.Context, from string, payload []byte) ([]byte, error)

// ErrServerClosed is returned by Serve on a PeerServer that was closed before
// Serve was called.
var ErrServerClosed = errors.New("cluster: peer server closed")

// PeerServer accepts peer connections and serves their calls with a
// coordinator.PeerHandler (and any ops added with Handle). Each connection's
// requests run concurrently, up to MaxInflight at a time, and their replies
// are written as they finish. Its methods are safe for concurrent use.
type PeerServer struct {
	cfg PeerServerConfig // defaults filled
	log *slog.Logger
	h   coordinator.PeerHandler
	// cached is h, when it can answer reads from memory (see dispatch).
	cached coordinator.CachedReader
	// ops are the extra handlers; written by Handle before the first Serve
	// and only read after it (Serve takes mu, which orders the two).
	ops [opLimit]OpHandler
	// ids keeps the node IDs of decoded writes, which name the same few
	// nodes over and over, so that decoding does not allocate them each time.
	ids version.Decoder

	mu      sync.Mutex
	serving bool                      // guarded by mu: Serve was called
	closed  bool                      // guarded by mu
	done    chan struct{}             // closed by Close
	lns     map[net.Listener]struct{} // guarded by mu
	conns   map[*serverConn]struct{}  // guarded by mu
	wg      sync.WaitGroup            // connection, writer and handler goroutines
}

// NewPeerServer validates cfg and returns a server that calls h.
func NewPeerServer(cfg PeerServerConfig, h coordinator.PeerHandler) (*PeerServer, error) {
	err := cfg.Validate()
	if h == nil {
		err = errors.Join(err, errors.New("cluster: peer server needs a PeerHandler"))
	}
	if err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.NodeID, "component", "peer_server")
	if len(cfg.Secret) == 0 {
		log.Warn("cluster secret is empty: any peer is accepted; use only on loopback")
	}
	cached, _ := h.(coordinator.CachedReader)
	return &PeerServer{
		cfg:    cfg,
		log:    log,
		h:      h,
		cached: cached,
		done:   make(chan struct{}),
		lns:    map[net.Listener]struct{}{},
		conns:  map[*serverConn]struct{}{},
	}, nil
}

// Handle registers fn to serve op, which must be at least 0x10 (the range
// below is the built-in ops') and below 0x80. It must be called before the
// first Serve.
func (s *PeerServer) Handle(op Op, fn OpHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.serving:
		return fmt.Errorf("cluster: Handle(%s) after Serve", op)
	case !op.valid() || op < OpReservedFirst:
		return fmt.Errorf("cluster: Handle: %s is not a registrable op", op)
	case fn == nil:
		return fmt.Errorf("cluster: Handle(%s): nil handler", op)
	case s.ops[op] != nil:
		return fmt.Errorf("cluster: Handle: %s is already registered", op)
	}
	s.ops[op] = fn
	return nil
}

// Serve accepts peer connections on ln until Close, which makes it return
// nil; it returns ErrServerClosed at once after Close, or the listener's
// error if ln fails otherwise. Serve may be called for several listeners.
// The server closes ln.
func (s *PeerServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.serving = true
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Probably out of file descriptors: wait, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("peer accept failed", "err", err, "retry_in", delay)
			select {
			case <-s.done:
				return nil
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		if !s.startConn(nc) {
			nc.Close()
			return nil
		}
	}
}

// Close stops accepting, closes every connection and waits for all the
// server's goroutines, including running handlers (whose contexts are
// cancelled). Calls in flight fail on their clients with
// coordinator.ErrUnreachable.
func (s *PeerServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	var errs []error
	for ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for sc := range s.conns {
		sc.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

// startConn tracks a new connection and starts serving it; false if the
// server is closed. Starting under mu orders wg.Go before Close's wg.Wait.
func (s *PeerServer) startConn(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	sc := &serverConn{
		s:       s,
		nc:      nc,
		out:     newOutbox(nc),
		sem:     make(chan struct{}, s.cfg.MaxInflight),
		work:    make(chan job),
		closing: make(chan struct{}),
	}
	s.conns[sc] = struct{}{}
	s.wg.Go(sc.serve)
	return true
}

func (s *PeerServer) forget(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
}
