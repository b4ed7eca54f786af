package resp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ringstore/ringstore/coordinator"
)

// Config configures a Server.
type Config struct {
	// RequirePass is the password of the default user; "" means no AUTH is
	// needed. Default "".
	RequirePass string
	// ProtoMaxBulkLen is the largest bulk string a client may send, like
	// Redis's proto-max-bulk-len. Default 512 MiB; at least 1 MiB.
	ProtoMaxBulkLen int64
	// MaxClients bounds the open client connections; the next one gets
	// "-ERR max number of clients reached" and is closed. Default 10000.
	MaxClients int
	// IdleTimeout closes a client that sent nothing for this long (Redis
	// `timeout`). 0, the default, means never.
	IdleTimeout time.Duration
	// CommandTimeout is each command's deadline. Default 5s.
	CommandTimeout time.Duration
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Params is the CONFIG GET/SET registry. nil gives a default set (the
	// parameters this server applies itself, see NewServer).
	Params *Params
	// Info returns extra INFO text for a section name (lower case; "default",
	// "all" or "everything" when those are asked for): whole sections, each
	// starting "# Name\r\n" with "key:value\r\n" lines. May be nil; called
	// concurrently from many connections.
	Info func(section string) string
	// Ring gives the RING and CLUSTER topology commands the ring's view and
	// actions. nil: those commands answer that cluster support is disabled.
	Ring RingAdmin
	// Redirects makes the node answer -MOVED for a key whose preference
	// list it is not in, instead of forwarding the command, so cluster-aware
	// clients converge on a new topology at once. Plain clients cannot
	// follow MOVED: enable only when every client is cluster-aware.
	// Default false.
	Redirects bool
}

// DefaultConfig returns a Config with every default filled.
func DefaultConfig() Config {
	return Config{
		ProtoMaxBulkLen: 512 << 20,
		MaxClients:      10000,
		CommandTimeout:  5 * time.Second,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.ProtoMaxBulkLen < minProtoMaxBulkLen {
		errs = append(errs, fmt.Errorf("resp: proto-max-bulk-len must be at least %d, got %d", minProtoMaxBulkLen, c.ProtoMaxBulkLen))
	}
	if c.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("resp: maxclients must be at least 1, got %d", c.MaxClients))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("resp: timeout must not be negative, got %v", c.IdleTimeout))
	}
	if c.CommandTimeout <= 0 {
		errs = append(errs, fmt.Errorf("resp: command timeout must be positive, got %v", c.CommandTimeout))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("resp: Logger is required"))
	}
	return errors.Join(errs...)
}

// minProtoMaxBulkLen is the smallest proto-max-bulk-len Redis accepts.
const minProtoMaxBulkLen = 1 << 20

// Server serves the Redis protocol for one node: it reads commands from
// client connections, runs each through the command table against the
// coordinator, and writes Redis's replies. Safe for concurrent use.
type Server struct {
	cfg    Config
	coord  *coordinator.Coordinator
	cmds   table
	log    *slog.Logger
	params *Params

	// recoverPanics turns a handler panic into an error reply. Always on
	// outside tests; the fuzz test turns it off so that no input can rely
	// on it.
	recoverPanics bool
	// setCmd is the SET command, which runs of blind SETs account to;
	// getCmd is GET, whose pipelined reads on a ring start without a
	// worker (getrun.go).
	setCmd, getCmd *command
	// queryBufLimit bounds one command's size in the guard: maxQueryBuffer,
	// smaller in tests.
	queryBufLimit int64

	// Settings CONFIG SET can change, read on every use.
	requirePass atomic.Pointer[string]
	maxClients  atomic.Int64
	idle        atomic.Int64 // IdleTimeout in ns
	maxBulk     atomic.Int64 // ProtoMaxBulkLen

	started time.Time // also the epoch of the monotonic clock
	runID   string
	nextID  atomic.Int64

	base      context.Context // cancelled by Close: aborts running commands
	cancel    context.CancelFunc
	deadlines deadlines
	workers   workerPool // runs pipelined commands on a ring (pipeline.go)
	stats     serverStats
	keyspace  keyspaceCache

	mu        sync.Mutex
	ln        net.Listener         // guarded by mu; nil until Serve
	closed    bool                 // guarded by mu
	conns     map[int64]*connState // guarded by mu: open connections by ID
	serveDone chan struct{}        // closed when Serve's loop returned
	wg        sync.WaitGroup       // open connections' goroutines
	bg        sync.WaitGroup       // background work (the INFO keyspace count)
}

// connState is one client connection's state. Its connection's goroutine
// owns it (loop.go); sess and g are also read by CLIENT LIST, INFO and
// resetIdleDeadlines, through their own synchronisation.
type connState struct {
	sess Session
	g    *guardConn // the connection

	// rb holds what the client sent; argv and batch are the arguments and
	// commands of the read being run, slices of rb (or of a copy of it).
	rb    readBuf
	argv  [][]byte
	batch [][][]byte
	// w collects the replies of a read's commands until they are written.
	// runBatch gives each command of a concurrent batch its own (in items),
	// kept so that a batch allocates nothing once the connection has run
	// one as long.
	w     Writer
	items []batchItem
	// setRunState keeps the slices of a run of blind SETs (setrun.go).
	setRunState
}

// NewServer returns a Server for coord. cfg must pass Validate.
//
// The server applies requirepass, maxclients, timeout and
// proto-max-bulk-len itself. When cfg.Params already has them (cmd
// registers the redis.conf names with its own validation), the server
// watches them, so CONFIG SET takes effect: a new password for the next
// AUTH and new connections, the other limits at once. Their initial values
// must equal the Config's. When cfg.Params lacks them, the server registers
// them with Redis's validation.
func NewServer(cfg Config, coord *coordinator.Coordinator) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if coord == nil {
		return nil, errors.New("resp: coordinator is required")
	}
	srv := &Server{
		cfg:           cfg,
		coord:         coord,
		log:           cfg.Logger,
		params:        cfg.Params,
		recoverPanics: true,
		queryBufLimit: maxQueryBuffer,
		started:       time.Now(),
		runID:         newRunID(),
		conns:         map[int64]*connState{},
		serveDone:     make(chan struct{}),
	}
	defaults := srv.params == nil
	if defaults {
		srv.params = NewParams()
	}
	if err := srv.bindParams(defaults); err != nil {
		return nil, err
	}
	srv.base, srv.cancel = context.WithCancel(context.Background())
	srv.deadlines.init(srv.base, srv.started, cfg.CommandTimeout)
	srv.workers.init(maxBatchWorkers)
	srv.keyspace.interval = keyspaceInterval
	srv.keyspace.cheap = keyspaceCheap
	srv.cmds = srv.newTable()
	srv.setCmd = srv.cmds.lookup([]byte("set"))
	srv.getCmd = srv.cmds.lookup([]byte("get"))
	return srv, nil
}

func newRunID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (srv *Server) password() string           { return *srv.requirePass.Load() }
func (srv *Server) idleTimeout() time.Duration { return time.Duration(srv.idle.Load()) }
func (srv *Server) protoMaxBulkLen() int64     { return srv.maxBulk.Load() }

// nanotime is the monotonic time since the server started.
func (srv *Server) nanotime() int64 { return int64(time.Since(srv.started)) }

// Close stops accepting, closes every client connection, aborts running
// commands and waits until each connection's goroutine has finished. It is
// idempotent and safe to call concurrently with Serve.
func (srv *Server) Close() error {
	srv.mu.Lock()
	first := !srv.closed
	srv.closed = true
	ln := srv.ln
	srv.mu.Unlock()
	srv.cancel()
	srv.mu.Lock()
	for _, cs := range srv.conns {
		if cs.g != nil { // nil: a test's session without a connection
			cs.g.Conn.Close() // its goroutine's next read or write fails
		}
	}
	srv.mu.Unlock()
	var err error
	if ln != nil {
		if first {
			if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
				err = cerr
			}
		}
		<-srv.serveDone
	}
	srv.wg.Wait()
	srv.workers.stop()
	srv.bg.Wait()
	return err
}

// accept registers a new connection and returns its state, or nil when
// the server is closed or full (the client is told when full); the caller
// then closes c.
func (srv *Server) accept(c net.Conn) *connState {
	srv.stats.connections.Add(1)
	now := time.Now()
	cs := &connState{}
	g := &guardConn{Conn: c, srv: srv}
	s := &cs.sess
	s.ID = srv.nextID.Add(1)
	s.Addr = c.RemoteAddr().String()
	s.LocalAddr = c.LocalAddr().String()
	s.Created = now.UnixMilli()
	s.Authed = srv.password() == ""
	s.lastActive.Store(srv.nanotime())
	s.fd = socketFD(c)

	srv.mu.Lock()
	if srv.closed || int64(len(srv.conns)) >= srv.maxClients.Load() {
		closed := srv.closed
		srv.mu.Unlock()
		if !closed {
			srv.stats.rejected.Add(1)
			c.SetWriteDeadline(now.Add(time.Second))
			io.WriteString(c, "-ERR max number of clients reached\r\n")
		}
		return nil
	}
	srv.conns[s.ID] = cs
	srv.wg.Add(1)
	srv.mu.Unlock()

	g.sess = s
	cs.g = g
	return cs
}

// resetIdleDeadlines applies a new idle timeout (CONFIG SET timeout) to
// the open connections, which otherwise would see it only at their next
// read: as in Redis, a client already idle longer than the new timeout is
// closed at once.
func (srv *Server) resetIdleDeadlines() {
	d := srv.idleTimeout()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, cs := range srv.conns {
		if cs.g == nil {
			continue
		}
		if d == 0 {
			cs.g.Conn.SetReadDeadline(time.Time{})
			continue
		}
		cs.g.deadline.Store(true)
		cs.g.Conn.SetReadDeadline(srv.started.Add(time.Duration(cs.sess.lastActive.Load()) + d))
	}
}

// socketFD returns c's file descriptor, or -1.
func socketFD(c net.Conn) int {
	fd := -1
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(f uintptr) { fd = int(f) })
		}
	}
	return fd
}

// closeConn retires a connection whose goroutine ends; err is why (nil:
// the client quit or hung up).
func (srv *Server) closeConn(cs *connState, err error) {
	srv.mu.Lock()
	delete(srv.conns, cs.sess.ID)
	srv.mu.Unlock()
	srv.stats.retire(&cs.sess)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		srv.log.Debug("client connection closed", "id", cs.sess.ID, "addr", cs.sess.Addr, "err", err)
	}
	srv.wg.Done()
}

// maxKeptReply is the largest reply buffer a connection keeps between
// commands.
const maxKeptReply = 64 << 10

// deadlines hands out command contexts without allocating per command:
// commands that start within the same short window share one context
// whose deadline is at least CommandTimeout after each of them started
// (and at most one window later). A window's context is never cancelled
// early; it expires with its deadline, or with the server.
type deadlines struct {
	parent  context.Context
	epoch   time.Time
	timeout time.Duration
	width   int64 // window length in ns
	cur     atomic.Pointer[deadlineWindow]
}

type deadlineWindow struct {
	ctx    context.Context
	cancel context.CancelFunc
	until  int64 // commands starting before this (ns since epoch) use ctx
}

func (d *deadlines) init(parent context.Context, epoch time.Time, timeout time.Duration) {
	d.parent, d.epoch, d.timeout = parent, epoch, timeout
	d.width = min(max(int64(timeout)/100, int64(time.Microsecond)), int64(10*time.Millisecond))
}

// context returns the context for a command starting at now (ns since the
// epoch).
func (d *deadlines) context(now int64) context.Context {
	cur := d.cur.Load()
	if cur != nil && now < cur.until {
		return cur.ctx // its deadline, cur.until+timeout, is after now+timeout
	}
	until := now - now%d.width + d.width
	nw := &deadlineWindow{until: until}
	nw.ctx, nw.cancel = context.WithDeadline(d.parent, d.epoch.Add(time.Duration(until)+d.timeout))
	// If another command installed a window first, ours still serves this
	// command; it just is not shared, and expires with its deadline.
	d.cur.CompareAndSwap(cur, nw)
	return nw.ctx
}

// serverStats are the counters INFO shows. Per-connection counters live in
// each Session; these add those of closed connections.
type serverStats struct {
	connections atomic.Int64 // connections accepted
	rejected    atomic.Int64 // connections refused (maxclients)
	// Of connections that have closed:
	commands, errors, netIn, netOut atomic.Int64

	opsMu    sync.Mutex // guards the instantaneous_ops_per_sec sample
	opsAt    int64      // nanotime of the sample
	opsCount int64      // commands at the sample
	opsRate  int64      // the last rate computed
}

func (st *serverStats) retire(s *Session) {
	st.commands.Add(s.commands.Load())
	st.errors.Add(s.errors.Load())
	st.netIn.Add(s.netIn.Load())
	st.netOut.Add(s.netOut.Load())
}

// sessions returns views of every open connection, in ID order.
func (srv *Server) sessions() []sessionView {
	srv.mu.Lock()
	list := make([]*connState, 0, len(srv.conns))
	for _, cs := range srv.conns {
		list = append(list, cs)
	}
	srv.mu.Unlock()
	views := make([]sessionView, len(list))
	for i, cs := range list {
		views[i] = cs.sess.view()
	}
	sortViews(views)
	return views
}
