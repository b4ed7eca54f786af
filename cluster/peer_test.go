package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

func runtime_Gosched() { runtime.Gosched() }

// rawPeer is a hand-driven peer connection for feeding a server bad input.
type rawPeer struct {
	nc net.Conn
	r  *bufio.Reader
}

// dialRaw connects to addr and authenticates as node id.
func dialRaw(t testing.TB, addr string, secret []byte, id string) *rawPeer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	nonceS, nonceC, err := clientAuth(r, nc, secret, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientVerify(r, secret, nonceS, nonceC); err != nil {
		t.Fatal(err)
	}
	return &rawPeer{nc: nc, r: r}
}

func (p *rawPeer) send(t testing.TB, kind uint8, id uint64, payload []byte) {
	t.Helper()
	b := appendHeader(nil, header{length: len(payload), kind: kind, id: id})
	if _, err := p.nc.Write(append(b, payload...)); err != nil {
		t.Fatal(err)
	}
}

// reply reads one reply frame.
func (p *rawPeer) reply(t testing.TB) (header, []byte) {
	t.Helper()
	var hb [headerLen]byte
	h, err := readHeader(p.r, &hb, DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readPayload(p.r, h.length)
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

// closed reports whether the server hung up: reading reaches EOF (or a
// reset) within a few seconds.
func (p *rawPeer) closed() bool {
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, p.r)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// Bad bytes from a peer never crash the server or disturb other peers: a
// broken frame closes that connection; a frame whose payload does not decode
// gets an error reply.
func TestGarbageFromPeers(t *testing.T) {
	h := newFakeHandler()
	b := startNode(t, "b", testSecret, h, "", func(c *PeerServerConfig) { c.MaxFrame = 1 << 20 })
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx := context.Background()
	if err := tr.Ping(ctx, "b"); err != nil {
		t.Fatal(err)
	}

	t.Run("no handshake", func(t *testing.T) {
		nc, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("*1\r\n$4\r\nPING\r\n" + string(bytes.Repeat([]byte{0xff}, 100))))
		p := &rawPeer{nc: nc, r: bufio.NewReader(nc)}
		if !p.closed() {
			t.Fatal("server kept a connection that skipped the handshake")
		}
	})
	closes := []struct {
		name  string
		frame []byte
	}{
		{"oversized", appendHeader(nil, header{length: 1<<20 + 1, kind: uint8(OpRead), id: 1})},
		{"reply kind", appendHeader(nil, header{length: 0, kind: kindOK, id: 1})},
		{"op zero", appendHeader(nil, header{length: 0, kind: 0, id: 1})},
		{"truncated", append(appendHeader(nil, header{length: 100, kind: uint8(OpRead), id: 1}), 1, 2, 3)},
		{"random", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 50)},
	}
	for _, c := range closes {
		t.Run(c.name, func(t *testing.T) {
			p := dialRaw(t, b.addr, testSecret, "raw")
			p.nc.Write(c.frame)
			if c.name == "truncated" {
				p.nc.(*net.TCPConn).CloseWrite()
			}
			if !p.closed() {
				t.Fatal("server kept the connection")
			}
		})
	}
	t.Run("huge claimed length allocates little", func(t *testing.T) {
		big := startNode(t, "big", testSecret, newFakeHandler(), "")
		p := dialRaw(t, big.addr, testSecret, "raw")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p.nc.Write(append(appendHeader(nil, header{length: 400 << 20, kind: uint8(OpWrite), id: 1}), "only this"...))
		p.nc.(*net.TCPConn).CloseWrite()
		if !p.closed() {
			t.Fatal("server kept the connection")
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 32<<20 {
			t.Fatalf("a 9-byte frame claiming 400 MiB cost %d MiB", d>>20)
		}
	})

	badPayloads := []struct {
		name    string
		op      Op
		payload []byte
	}{
		{"read bad db", OpRead, bytes.Repeat([]byte{0xff}, 11)},
		{"read db too big", OpRead, binary.AppendUvarint(nil, 1<<40)},
		{"write bad key length", OpWrite, []byte{0, 50, 'k'}},
		{"write bad record", OpWrite, appendWriteReq(nil, 0, []byte("k"), "", func(b []byte) []byte { return append(b, 1, 200, 7) })},
		{"write empty", OpWrite, nil},
		{"forward no args", OpForward, []byte{0, 0}},
		{"forward huge argc", OpForward, append([]byte{0}, binary.AppendUvarint(nil, 1<<50)...)},
		{"forward short arg", OpForward, []byte{0, 1, 9, 'x'}},
	}
	t.Run("bad payloads", func(t *testing.T) {
		p := dialRaw(t, b.addr, testSecret, "raw")
		for i, c := range badPayloads {
			p.send(t, uint8(c.op), uint64(i+1), c.payload)
			h, msg := p.reply(t)
			if h.kind != kindErr || h.id != uint64(i+1) || len(msg) == 0 || errCode(msg[0]) != codeBadRequest {
				t.Errorf("%s: reply kind %#x id %d %q; want a bad-request error reply", c.name, h.kind, h.id, msg)
			}
		}
		// The connection survived all of them.
		p.send(t, uint8(OpPing), 99, nil)
		if h, _ := p.reply(t); h.kind != kindOK || h.id != 99 {
			t.Fatalf("ping after bad payloads: %+v", h)
		}
	})

	// Through all this, the real peer is still served on its connection.
	if err := tr.Write(ctx, "b", 0, []byte("k"), sib("a", "v", 1), ""); err != nil {
		t.Fatal(err)
	}
	if got, err := tr.Read(ctx, "b", 0, []byte("k")); err != nil || len(got) != 1 {
		t.Fatalf("Read = %v, %v", got, err)
	}
	if s := tr.Stats(); s.ConnsLost != 0 {
		t.Fatalf("stats = %+v", s)
	}
	if h.reads.Load() != 1 || h.writes.Load() != 1 || h.forwards.Load() != 0 {
		t.Fatalf("bad requests reached the handler: reads %d writes %d forwards %d", h.reads.Load(), h.writes.Load(), h.forwards.Load())
	}
}

// A handler that panics answers an error; the server lives on.
func TestHandlerPanic(t *testing.T) {
	h := newFakeHandler()
	h.gate = func(ctx context.Context, op Op, key []byte) error {
		if string(key) == "boom" {
			panic("boom")
		}
		return nil
	}
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	ctx := context.Background()
	var re *RemoteError
	if _, err := tr.Read(ctx, "b", 0, []byte("boom")); !errors.As(err, &re) {
		t.Fatalf("err = %v; want a RemoteError", err)
	}
	if _, err := tr.Read(ctx, "b", 0, []byte("fine")); err != nil {
		t.Fatal(err)
	}
}

// MaxInflight bounds the handlers running for one connection.
func TestMaxInflight(t *testing.T) {
	var mu sync.Mutex
	running, peak := 0, 0
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	h := newFakeHandler()
	h.gate = func(ctx context.Context, op Op, key []byte) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	b := startNode(t, "b", testSecret, h, "", func(c *PeerServerConfig) { c.MaxInflight = 3 })
	p := dialRaw(t, b.addr, testSecret, "raw")
	for i := range 10 {
		p.send(t, uint8(OpRead), uint64(i+1), appendReadReq(nil, 0, []byte("k")))
	}
	// All ten requests are on the wire; three run and block. A fourth
	// starting before the release would raise the peak above three.
	for range 3 {
		<-arrived
	}
	close(release)
	seen := map[uint64]bool{}
	for range 10 {
		h, _ := p.reply(t)
		seen[h.id] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 10 || peak != 3 {
		t.Fatalf("replies %d, peak %d; want 10 replies and a peak of 3", len(seen), peak)
	}
}

// startImpostor serves the handshake to anyone but cannot prove the secret.
// It returns its address.
func startImpostor(t testing.TB) string {
	return startRawServer(t, func(nc net.Conn) {
		nonce := newNonce()
		nc.Write(serverHello(nonce))
		r := bufio.NewReader(nc)
		buf := make([]byte, len(authMagic)+1)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		if _, err := readID(r); err != nil {
			return
		}
		if _, err := io.ReadFull(r, make([]byte, nonceLen+macLen)); err != nil {
			return
		}
		nc.Write(append([]byte{authAccepted, 3, 'i', 'm', 'p'}, newNonce()...))
		io.Copy(io.Discard, r)
	})
}

// startSilent accepts connections and never says anything.
func startSilent(t testing.TB) string {
	return startRawServer(t, func(nc net.Conn) { io.Copy(io.Discard, nc) })
}

// startRawServer runs serve for each connection on a loopback listener
// until the test ends.
func startRawServer(t testing.TB, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { serve(nc) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestLocalRequestsRunAsGroups: local requests that arrive back to back
// (here 24 reads and writes in one write) are answered, every one, by far
// fewer workers than requests: they went to workers as groups; and a
// group whose first request is stuck still answers the others (the group
// is taken over after groupPatience).
func TestLocalRequestsRunAsGroups(t *testing.T) {
	release := make(chan struct{})
	b := startNode(t, "b", testSecret, stuckHandler(release), "")
	p := dialRaw(t, b.addr, testSecret, "raw")
	frames := func(first string, n int, id0 uint64) []byte {
		var out []byte
		for i := range n {
			key := fmt.Sprint("k", i)
			if i == 0 && first != "" {
				key = first
			}
			payload := appendReadReq(nil, 0, []byte(key))
			out = appendHeader(out, header{length: len(payload), kind: uint8(OpRead), id: id0 + uint64(i)})
			out = append(out, payload...)
		}
		return out
	}
	if _, err := p.nc.Write(frames("", 24, 1)); err != nil {
		t.Fatal(err)
	}
	for range 24 {
		if h, _ := p.reply(t); h.kind != kindOK {
			t.Fatalf("reply %+v", h)
		}
	}
	b.srv.mu.Lock()
	workers := 0
	for sc := range b.srv.conns {
		workers += int(sc.workers.Load())
	}
	b.srv.mu.Unlock()
	if workers == 0 || workers >= 12 {
		t.Fatalf("%d workers for 24 back-to-back requests, want a few", workers)
	}

	// A stuck first request: the 7 after it are answered anyway.
	if _, err := p.nc.Write(frames("stuck", 8, 100)); err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if h, _ := p.reply(t); h.id == 100 {
			t.Fatal("the stuck request answered before its release")
		}
	}
	close(release)
	if h, _ := p.reply(t); h.id != 100 {
		t.Fatalf("reply %d, want the stuck request's", h.id)
	}
}
