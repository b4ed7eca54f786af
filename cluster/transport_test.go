package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

func TestRoundTrips(t *testing.T) {
	h := newFakeHandler()
	b := newNode(t, "b", testSecret, h, "")
	if err := b.srv.Handle(0x20, func(ctx context.Context, from string, p []byte) ([]byte, error) {
		return append([]byte(from+":"), p...), nil
	}); err != nil {
		t.Fatal(err)
	}
	b.serve(t)
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx := context.Background()

	t.Run("read absent", func(t *testing.T) {
		got, err := tr.Read(ctx, "b", 0, []byte("nope"))
		if err != nil || got != nil {
			t.Fatalf("Read = %v, %v; want nil, nil", got, err)
		}
	})
	t.Run("write then read", func(t *testing.T) {
		want := sib("a", "v1", 1)
		if err := tr.Write(ctx, "b", 3, []byte("k"), want, ""); err != nil {
			t.Fatal(err)
		}
		got, err := tr.Read(ctx, "b", 3, []byte("k"))
		if err != nil || !got.Equal(want) {
			t.Fatalf("Read = %v, %v; want %v", got, err, want)
		}
		if got, _ := tr.Read(ctx, "b", 4, []byte("k")); got != nil {
			t.Fatalf("db 4 sees db 3's key: %v", got)
		}
	})
	t.Run("write with hint", func(t *testing.T) {
		if err := tr.Write(ctx, "b", 0, []byte("h"), sib("a", "x", 1), "c"); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.hints) != 1 || h.hints[0] != "c 0/h" {
			t.Fatalf("hints = %q", h.hints)
		}
	})
	t.Run("forward", func(t *testing.T) {
		got, err := tr.Forward(ctx, "b", 7, [][]byte{[]byte("SET"), {}, []byte("a\r\nb\x00")})
		if want := "+7 SET  a\r\nb\x00\r\n"; err != nil || string(got) != want {
			t.Fatalf("Forward = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if err := tr.Ping(ctx, "b"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("registered op", func(t *testing.T) {
		got, err := tr.Call(ctx, "b", 0x20, []byte("hello"))
		if err != nil || string(got) != "a:hello" {
			t.Fatalf("Call = %q, %v", got, err)
		}
	})
	t.Run("unknown op", func(t *testing.T) {
		_, err := tr.Call(ctx, "b", 0x21, nil)
		var re *RemoteError
		if !errors.Is(err, ErrUnknownOp) || !errors.As(err, &re) || re.Op != 0x21 || re.Node != "b" {
			t.Fatalf("err = %v; want a RemoteError wrapping ErrUnknownOp", err)
		}
	})
	t.Run("handler error", func(t *testing.T) {
		h2 := newFakeHandler()
		h2.gate = func(ctx context.Context, op Op, key []byte) error {
			return fmt.Errorf("disk on fire (%s %s)", op, key)
		}
		c := startNode(t, "c", testSecret, h2, "")
		tr, _ := newTestTransport(t, "a", testSecret, c)
		err := tr.Write(ctx, "c", 0, []byte("k"), sib("a", "v", 1), "")
		var re *RemoteError
		if !errors.As(err, &re) || re.Msg != "disk on fire (write k)" || re.Op != OpWrite {
			t.Fatalf("err = %#v; want RemoteError with the handler's message", err)
		}
		if errors.Is(err, coordinator.ErrUnreachable) {
			t.Fatalf("a handler error must not look like an unreachable node: %v", err)
		}
		if !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("message lost: %v", err)
		}
	})
	t.Run("unknown node", func(t *testing.T) {
		start := time.Now()
		_, err := tr.Read(ctx, "zz", 0, []byte("k"))
		if !errors.Is(err, coordinator.ErrUnreachable) || !strings.Contains(err.Error(), `"zz"`) {
			t.Fatalf("err = %v; want ErrUnreachable naming the node", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v", d)
		}
	})
	if s := tr.Stats(); s.ConnsLost != 0 || s.Dials == 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestCachedReads: a read the handler answers from memory
// (coordinator.CachedReader) gets those record bytes as its reply, without
// a ServeRead; a nil record is an absent key; keys it does not have in
// memory go to ServeRead.
func TestCachedReads(t *testing.T) {
	h := newFakeHandler()
	inMemory := sib("a", "from memory", 2)
	h.cached = map[string][]byte{dataKey(1, []byte("k")): inMemory.AppendBinary(nil), dataKey(1, []byte("gone")): nil}
	h.data[dataKey(1, []byte("k"))] = sib("a", "from ServeRead", 1)
	h.data[dataKey(1, []byte("other"))] = sib("a", "only in ServeRead", 1)
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx := context.Background()

	got, err := tr.Read(ctx, "b", 1, []byte("k"))
	if err != nil || !got.Equal(inMemory) {
		t.Fatalf("Read k = %v, %v; want the cached %v", got, err, inMemory)
	}
	if got, err := tr.Read(ctx, "b", 1, []byte("gone")); err != nil || got != nil {
		t.Fatalf("Read gone = %v, %v; want nil, nil", got, err)
	}
	if n := h.reads.Load(); n != 0 {
		t.Fatalf("%d ServeRead calls for reads the cache answered", n)
	}
	got, err = tr.Read(ctx, "b", 1, []byte("other"))
	if err != nil || len(got) != 1 || string(got[0].Value) != "only in ServeRead" {
		t.Fatalf("Read other = %v, %v", got, err)
	}
	if n := h.reads.Load(); n != 1 {
		t.Fatalf("%d ServeRead calls, want 1 for the key not in memory", n)
	}
}

func TestBigValues(t *testing.T) {
	b := startNode(t, "b", testSecret, newFakeHandler(), "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx := context.Background()
	for _, n := range []int{bigPayload - 100, bigPayload, 3 << 20} {
		v := bytes.Repeat([]byte{'x'}, n)
		want := sib("a", string(v), uint64(n))
		key := []byte(fmt.Sprint("big", n))
		if err := tr.Write(ctx, "b", 0, key, want, ""); err != nil {
			t.Fatal(err)
		}
		got, err := tr.Read(ctx, "b", 0, key)
		if err != nil || !got.Equal(want) {
			t.Fatalf("%d-byte value: Read = %d siblings, %v", n, len(got), err)
		}
		fwd, err := tr.Forward(ctx, "b", 0, [][]byte{[]byte("SET"), key, v})
		if err != nil || len(fwd) != len("+0 SET ")+len(key)+1+n+2 {
			t.Fatalf("%d-byte forward: %d bytes, %v", n, len(fwd), err)
		}
	}
}

// Many callers share ConnsPerPeer connections, and each gets its own reply.
func TestConcurrentCalls(t *testing.T) {
	b := startNode(t, "b", testSecret, newFakeHandler(), "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			key := []byte(fmt.Sprint("key", i))
			want := sib("a", fmt.Sprint("value", i), uint64(i+1))
			var err error
			switch i % 3 {
			case 0:
				if err = tr.Write(ctx, "b", i%16, key, want, ""); err == nil {
					var got version.Siblings
					got, err = tr.Read(ctx, "b", i%16, key)
					if err == nil && !got.Equal(want) {
						err = fmt.Errorf("read %s got %v, want %v", key, got, want)
					}
				}
			case 1:
				var got []byte
				got, err = tr.Forward(ctx, "b", i%16, [][]byte{[]byte("GET"), key})
				if want := fmt.Sprintf("+%d GET %s\r\n", i%16, key); err == nil && string(got) != want {
					err = fmt.Errorf("forward got %q, want %q", got, want)
				}
			case 2:
				err = tr.Ping(ctx, "b")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := tr.Stats(); s.Dials > 2 || s.ConnsLost != 0 || s.Failed != 0 {
		t.Fatalf("stats = %+v; want at most 2 dials and no failures", s)
	}
}

// A slow call does not hold up a fast one behind it on the same connection.
func TestOutOfOrderReplies(t *testing.T) {
	release := make(chan struct{})
	slowStarted := make(chan struct{})
	h := newFakeHandler()
	h.gate = func(ctx context.Context, op Op, key []byte) error {
		if string(key) != "slow" {
			return nil
		}
		close(slowStarted)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransportConfig(t, "a", testSecret, func(c *TransportConfig) { c.ConnsPerPeer = 1 }, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	slow := make(chan error, 1)
	go func() {
		_, err := tr.Forward(ctx, "b", 0, [][]byte{[]byte("GET"), []byte("slow")})
		slow <- err
	}()
	<-slowStarted
	for i := range 10 {
		got, err := tr.Forward(ctx, "b", 0, [][]byte{[]byte("GET"), []byte(fmt.Sprint("fast", i))})
		if err != nil || string(got) != fmt.Sprintf("+0 GET fast%d\r\n", i) {
			t.Fatalf("fast call %d = %q, %v", i, got, err)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("slow call finished before release: %v", err)
	default:
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.Dials != 1 {
		t.Fatalf("dials = %d; want all calls on one connection", s.Dials)
	}
}

// A call whose deadline passes while the peer is slow returns promptly with
// context.DeadlineExceeded; the peer's handler sees the deadline too; the
// late reply is dropped and the connection keeps working.
func TestDeadlineWhilePeerSlow(t *testing.T) {
	handlerDone := make(chan error, 1)
	release := make(chan struct{})
	h := newFakeHandler()
	h.gate = func(ctx context.Context, op Op, key []byte) error {
		switch string(key) {
		case "stuck":
			<-ctx.Done()
			handlerDone <- ctx.Err()
			return ctx.Err()
		case "late":
			<-release // ignores ctx: replies after the caller gave up
		}
		return nil
	}
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	if err := tr.Ping(context.Background(), "b"); err != nil { // connect first
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Forward(ctx, "b", 0, [][]byte{[]byte("GET"), []byte("stuck")})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("call returned after %v", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want DeadlineExceeded", err)
	}
	if err := <-handlerDone; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handler ctx ended with %v; want DeadlineExceeded (budget sent to the peer)", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	late := make(chan error, 1)
	go func() {
		_, err := tr.Read(ctx2, "b", 0, []byte("late"))
		late <- err
	}()
	for h.reads.Load() < 1 { // wait until the peer holds the late call
		runtime_Gosched()
	}
	cancel2()
	if err := <-late; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	close(release) // the late reply arrives now and must be dropped
	for i := range 20 {
		if _, err := tr.Read(context.Background(), "b", 0, []byte(fmt.Sprint("after", i))); err != nil {
			t.Fatal(err)
		}
	}
	if s := tr.Stats(); s.ConnsLost != 0 {
		t.Fatalf("stats = %+v; a late reply must not break the connection", s)
	}
}

// Killing a peer fails its in-flight calls at once; while it is down calls
// fail fast; once it is back the next calls succeed.
func TestPeerKilledMidCall(t *testing.T) {
	started := make(chan struct{}, 16)
	h := newFakeHandler()
	h.gate = func(ctx context.Context, op Op, key []byte) error {
		if string(key) == "hang" {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	b := startNode(t, "b", testSecret, h, "")
	var reportMu sync.Mutex
	var reports []string // health evidence, in order
	report := func(what string) func(string) {
		return func(node string) {
			reportMu.Lock()
			reports = append(reports, what+" "+node)
			reportMu.Unlock()
		}
	}
	tr, book := newTestTransportConfig(t, "a", testSecret, func(c *TransportConfig) {
		c.OnUnreachable, c.OnReachable = report("unreachable"), report("reachable")
	}, b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const inflight = 8
	errs := make(chan error, inflight)
	for range inflight {
		go func() {
			_, err := tr.Read(ctx, "b", 0, []byte("hang"))
			errs <- err
		}()
	}
	for range inflight {
		<-started
	}
	reportMu.Lock()
	reports = nil // forget the first connection
	reportMu.Unlock()
	killed := time.Now()
	b.kill(t)
	for range inflight {
		err := <-errs
		if !errors.Is(err, coordinator.ErrUnreachable) {
			t.Fatalf("in-flight call: %v; want ErrUnreachable", err)
		}
	}
	if d := time.Since(killed); d > 2*time.Second {
		t.Fatalf("in-flight calls failed %v after the kill", d)
	}

	// Down: each call fails fast (connection refused, then backoff).
	for range 20 {
		start := time.Now()
		err := tr.Ping(ctx, "b")
		if !errors.Is(err, coordinator.ErrUnreachable) {
			t.Fatalf("call to a dead peer: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("call to a dead peer took %v", d)
		}
	}

	// Back at the same address: calls succeed again once the backoff
	// (at most MaxRedialBackoff) has passed.
	h2 := newFakeHandler()
	b2 := startNode(t, "b", testSecret, h2, b.addr)
	book.set("b", b2.addr)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err = tr.Write(ctx, "b", 0, []byte("k"), sib("a", "v", 1), ""); err == nil {
			break
		}
		runtime_Gosched()
	}
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got, err := tr.Read(ctx, "b", 0, []byte("k")); err != nil || len(got) != 1 {
		t.Fatalf("after restart: Read = %v, %v", got, err)
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	// (A second connection dialled before the kill may add "reachable b"
	// at the start.)
	if i := slices.Index(reports, "unreachable b"); i < 0 || reports[len(reports)-1] != "reachable b" {
		t.Fatalf("health reports %q; want unreachable after the kill and reachable last", reports)
	}
}

func TestWrongSecretRejected(t *testing.T) {
	h := newFakeHandler()
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransport(t, "a", []byte("another secret"), b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 3 {
		err := tr.Write(ctx, "b", 0, []byte("k"), sib("a", "v", 1), "")
		if !errors.Is(err, ErrAuth) || !errors.Is(err, coordinator.ErrUnreachable) {
			t.Fatalf("call %d: %v; want ErrAuth and ErrUnreachable", i, err)
		}
		if i == 0 && !strings.Contains(err.Error(), "rejected") {
			t.Fatalf("unclear error: %v", err)
		}
	}
	if h.writes.Load() != 0 {
		t.Fatal("a request from an unauthenticated peer reached the handler")
	}
	// No secret at all is no better.
	tr2, _ := newTestTransport(t, "a", nil, b)
	if err := tr2.Ping(ctx, "b"); !errors.Is(err, ErrAuth) {
		t.Fatalf("empty secret: %v", err)
	}
}

// The transport checks the server's proof too, and that the node it reached
// is the node it meant.
func TestServerMustProveSecret(t *testing.T) {
	h := newFakeHandler()
	c := startNode(t, "c", testSecret, h, "")
	tr, book := newTestTransport(t, "a", testSecret, c)
	book.set("b", c.addr) // b's address now leads to c
	ctx := context.Background()
	if err := tr.Ping(ctx, "b"); !errors.Is(err, coordinator.ErrUnreachable) || !strings.Contains(err.Error(), `node "c" answered`) {
		t.Fatalf("wrong node: %v", err)
	}

	// An impostor that accepts anyone but does not know the secret.
	imp := startImpostor(t)
	book.set("imp", imp)
	if err := tr.Ping(ctx, "imp"); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "could not prove") {
		t.Fatalf("impostor: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := TransportConfig{ConnsPerPeer: -1, MaxFrame: 10, DialTimeout: -1}.Validate()
	for _, want := range []string{"NodeID", "Resolve", "ConnsPerPeer", "MaxFrame", "DialTimeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want a complaint about %s", err, want)
		}
	}
	c := DefaultTransportConfig()
	c.NodeID, c.Resolve = "a", func(string) (string, bool) { return "", false }
	if err := c.Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	if c.ConnsPerPeer != 2 || c.DialTimeout != time.Second || c.MaxFrame != 512<<20+64<<10 {
		t.Errorf("defaults = %+v", c)
	}
	if err := (PeerServerConfig{MaxInflight: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "NodeID") || !strings.Contains(err.Error(), "MaxInflight") {
		t.Errorf("PeerServerConfig.Validate() = %v", err)
	}
	if _, err := NewPeerServer(PeerServerConfig{NodeID: "a"}, nil); err == nil {
		t.Error("NewPeerServer accepted a nil handler")
	}
}

func TestCallAfterClose(t *testing.T) {
	b := startNode(t, "b", testSecret, newFakeHandler(), "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	if err := tr.Ping(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	err := tr.Ping(context.Background(), "b")
	if !errors.Is(err, ErrTransportClosed) || !errors.Is(err, coordinator.ErrUnreachable) {
		t.Fatalf("after Close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDisconnect(t *testing.T) {
	b := startNode(t, "b", testSecret, newFakeHandler(), "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx := context.Background()
	if err := tr.Ping(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	tr.Disconnect("b")
	if err := tr.Ping(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.Dials != 2 {
		t.Fatalf("dials = %d; want a redial after Disconnect", s.Dials)
	}
}

// Close leaves no goroutine behind, on either side, even with calls in
// flight and a dial hanging in its handshake.
func TestCloseLeaksNoGoroutines(t *testing.T) {
	started := make(chan struct{}, 4)
	h := newFakeHandler()
	h.gate = func(ctx context.Context, op Op, key []byte) error {
		if string(key) == "hang" {
			started <- struct{}{}
			<-ctx.Done()
		}
		return nil
	}
	b := startNode(t, "b", testSecret, h, "")
	tr, book := newTestTransport(t, "a", testSecret, b)
	silent := startSilent(t) // accepts, never speaks: the dial hangs in the handshake
	book.set("silent", silent)

	ctx := context.Background()
	if err := tr.Write(ctx, "b", 0, []byte("k"), sib("a", "v", 1), ""); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	for range 4 {
		go func() {
			_, err := tr.Read(ctx, "b", 0, []byte("hang"))
			errs <- err
		}()
	}
	for range 4 {
		<-started
	}
	go func() { errs <- tr.Ping(ctx, "silent") }()
	for tr.Stats().Calls < 6 {
		runtime_Gosched()
	}

	tr.Close()
	for range 5 {
		if err := <-errs; !errors.Is(err, coordinator.ErrUnreachable) {
			t.Errorf("call in flight at Close: %v", err)
		}
	}
	b.kill(t)
	if leaked := leakedGoroutines(); len(leaked) > 0 {
		t.Fatalf("%d goroutines left after Close:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// With no secret on either side (development on loopback) calls work, and
// both sides warn about it.
func TestNoSecretDevMode(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b := startNode(t, "b", nil, newFakeHandler(), "", func(c *PeerServerConfig) { c.Logger = log })
	book := &addrBook{}
	book.set("b", b.addr)
	tr, err := NewTransport(TransportConfig{NodeID: "a", Resolve: book.resolve, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Ping(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), "level=WARN msg=\"cluster secret is empty"); got != 2 {
		t.Fatalf("%d warnings about the empty secret; want 2:\n%s", got, logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
