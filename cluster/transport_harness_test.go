package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

// fakeHandler is an in-memory PeerHandler with counters and a gate that
// tests use to delay or fail calls.
type fakeHandler struct {
	mu    sync.Mutex
	data  map[string]version.Siblings // guarded by mu; key "db/key"
	hints []string                    // guarded by mu; "hintFor db/key"

	reads, writes, forwards atomic.Int64

	// cached, if set, holds the encoded records ServeReadCached answers
	// with (key "db/key"); guarded by mu. Other keys go to ServeRead.
	cached map[string][]byte

	// gate, if set, runs first in every call; a non-nil error fails the
	// call. It may block (honouring ctx).
	gate func(ctx context.Context, op Op, key []byte) error
}

func newFakeHandler() *fakeHandler {
	return &fakeHandler{data: map[string]version.Siblings{}}
}

func (h *fakeHandler) ServeRead(ctx context.Context, db int, key []byte) (version.Siblings, error) {
	h.reads.Add(1)
	if h.gate != nil {
		if err := h.gate(ctx, OpRead, key); err != nil {
			return nil, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.data[dataKey(db, key)], nil
}

// ServeReadCached makes fakeHandler a coordinator.CachedReader.
func (h *fakeHandler) ServeReadCached(db int, key []byte) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.cached[dataKey(db, key)]
	return rec, ok
}

func (h *fakeHandler) ServeWrite(ctx context.Context, db int, key []byte, sib version.Siblings, hintFor string) error {
	h.writes.Add(1)
	if h.gate != nil {
		if err := h.gate(ctx, OpWrite, key); err != nil {
			return err
		}
	}
	k := dataKey(db, key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.data[k] = version.Merge(h.data[k], sib)
	if hintFor != "" {
		h.hints = append(h.hints, hintFor+" "+k)
	}
	return nil
}

func dataKey(db int, key []byte) string { return strconv.Itoa(db) + "/" + string(key) }

// ServeForward echoes its command as a RESP simple string "db arg arg...".
func (h *fakeHandler) ServeForward(ctx context.Context, db int, args [][]byte) ([]byte, error) {
	h.forwards.Add(1)
	if h.gate != nil {
		if err := h.gate(ctx, OpForward, args[len(args)-1]); err != nil {
			return nil, err
		}
	}
	s := fmt.Sprint(db)
	for _, a := range args {
		s += " " + string(a)
	}
	return []byte("+" + s + "\r\n"), nil
}

// testNode is a PeerServer on a loopback port.
type testNode struct {
	id     string
	addr   string
	h      *fakeHandler
	srv    *PeerServer
	ln     net.Listener
	served chan error // Serve's result
	killed bool
}

// stuckHandler is a fakeHandler whose calls on the key "stuck" wait until
// release is closed.
func stuckHandler(release <-chan struct{}) *fakeHandler {
	h := newFakeHandler()
	h.gate = func(_ context.Context, _ Op, key []byte) error {
		if string(key) == "stuck" {
			<-release
		}
		return nil
	}
	return h
}

// startNode serves h as node id on 127.0.0.1:0 (or addr, to restart a node
// where it was) until the test ends or kill.
func startNode(t testing.TB, id string, secret []byte, h *fakeHandler, addr string, opts ...func(*PeerServerConfig)) *testNode {
	t.Helper()
	n := newNode(t, id, secret, h, addr, opts...)
	n.serve(t)
	return n
}

// newNode is startNode without the serving, to register ops first.
func newNode(t testing.TB, id string, secret []byte, h *fakeHandler, addr string, opts ...func(*PeerServerConfig)) *testNode {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := PeerServerConfig{NodeID: id, Secret: secret, Logger: testLogger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := NewPeerServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{id: id, addr: ln.Addr().String(), h: h, srv: srv, ln: ln, served: make(chan error, 1)}
	return n
}

// serve runs the node's server until kill or the end of the test.
func (n *testNode) serve(t testing.TB) {
	go func() { n.served <- n.srv.Serve(n.ln) }()
	t.Cleanup(func() { n.kill(t) })
}

// kill closes the node's server and checks that Serve returned nil.
func (n *testNode) kill(t testing.TB) {
	t.Helper()
	if n.killed {
		return
	}
	n.killed = true
	if err := n.srv.Close(); err != nil {
		t.Errorf("close %s: %v", n.id, err)
	}
	select {
	case err := <-n.served:
		if err != nil {
			t.Errorf("Serve %s: %v", n.id, err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Serve %s did not return after Close", n.id)
	}
}

// addrBook is a Resolve function's table.
type addrBook struct {
	mu sync.Mutex
	m  map[string]string // guarded by mu
}

func (b *addrBook) set(node, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]string{}
	}
	b.m[node] = addr
}

func (b *addrBook) resolve(node string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.m[node]
	return a, ok
}

// newTestTransport returns node id's transport to the given nodes, closed
// when the test ends.
func newTestTransport(t testing.TB, id string, secret []byte, nodes ...*testNode) (*Transport, *addrBook) {
	t.Helper()
	return newTestTransportConfig(t, id, secret, nil, nodes...)
}

// newTestTransportConfig is newTestTransport with edit applied to the
// config (if not nil).
func newTestTransportConfig(t testing.TB, id string, secret []byte, edit func(*TransportConfig), nodes ...*testNode) (*Transport, *addrBook) {
	t.Helper()
	book := &addrBook{}
	for _, n := range nodes {
		book.set(n.id, n.addr)
	}
	cfg := DefaultLocalTransportConfig()
	cfg.NodeID, cfg.Secret, cfg.Resolve, cfg.Logger = id, secret, book.resolve, testLogger(t)
	// Loopback dials fail fast when refused; a long timeout only keeps an
	// overloaded test machine (-race, parallel packages) from flaking.
	cfg.DialTimeout = 10 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, book
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testSecret is the cluster secret of most tests.
var testSecret = []byte("correct horse battery staple")

// sib returns a one-version sibling set written by node.
func sib(node, value string, counter uint64) version.Siblings {
	ts := version.MakeHLC(1_700_000_000_000, uint16(counter))
	return version.Siblings{{
		Clock:     version.Clock{{Node: node, Counter: counter, Stamp: ts}},
		Timestamp: ts,
		Writer:    node,
		Kind:      version.KindString,
		Value:     []byte(value),
	}}
}

// transportFrame matches a stack line in the transport's own (non-test)
// files; the membership side of the package has its own goroutines.
var transportFrame = regexp.MustCompile(`/cluster/(transport|peer|frame)[a-z_]*\.go:`)

// leakedGoroutines returns the stacks of goroutines running the transport's
// code, waiting up to a second for exiting ones to finish.
func leakedGoroutines() []string {
	deadline := time.Now().Add(time.Second)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, line := range strings.Split(g, "\n") {
				if strings.HasPrefix(line, "created by") {
					break
				}
				if transportFrame.MatchString(line) && !strings.Contains(line, "_test.go:") {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		runtime.Gosched()
	}
}
