package cluster

import (
	"bufio"
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// startOutbox runs the writer goroutine of an outbox on nc.
func startOutbox(t *testing.T, nc net.Conn, timeout time.Duration) *outbox {
	t.Helper()
	o := newOutbox(nc)
	if o.raw == nil && canTryWrite {
		t.Fatal("a TCP connection should allow direct writes")
	}
	errc := make(chan error, 1)
	go func() { errc <- o.writeLoop(nc, timeout) }()
	t.Cleanup(func() {
		o.close()
		if err := <-errc; err != nil {
			t.Errorf("writeLoop: %v", err)
		}
	})
	return o
}

// readFrames reads n frames from r and checks that frame id i carries
// payload(i).
func readFrames(t *testing.T, r *bufio.Reader, n int, payload func(id uint64) []byte) {
	t.Helper()
	var hb [headerLen]byte
	seen := map[uint64]bool{}
	for range n {
		h, err := readHeader(r, &hb, DefaultMaxFrame)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(seen), err)
		}
		p, err := readPayload(r, h.length)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, payload(h.id)) || seen[h.id] {
			t.Fatalf("frame %d: bad or repeated payload of %d bytes", h.id, len(p))
		}
		seen[h.id] = true
	}
}

func testPayload(id uint64) []byte {
	// Sizes from a few bytes to past bigPayload, so that frames go both
	// into the send buffer and by reference.
	return bytes.Repeat([]byte{byte(id)}, int(id*7919)%(bigPayload+4096))
}

// Concurrent senders, some writing directly and some through the writer,
// never interleave the bytes of their frames.
func TestOutboxConcurrentSendersKeepFramesWhole(t *testing.T) {
	a, b := tcpPair(t)
	o := startOutbox(t, a, time.Second)
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				id := uint64(s*each + i + 1)
				o.send(header{kind: kindOK, id: id}, testPayload(id), i%2 == 0)
			}
		})
	}
	readFrames(t, bufio.NewReader(b), senders*each, testPayload)
	wg.Wait()
}

// A direct write never waits for a peer that does not read: what the
// socket does not take goes to the writer, and arrives once the peer reads.
func TestOutboxDirectSendDoesNotBlockOnFullSocket(t *testing.T) {
	a, b := tcpPair(t)
	o := startOutbox(t, a, 10*time.Second)
	const n = 64 // 64 frames of ~30 KiB: more than loopback socket buffers hold
	big := func(id uint64) []byte { return bytes.Repeat([]byte{byte(id)}, bigPayload-100) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := uint64(1); id <= n; id++ {
			o.send(header{kind: kindOK, id: id}, big(id), true)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("send blocked on a peer that does not read")
	}
	readFrames(t, bufio.NewReader(b), n, big)
}

// A write deadline set by the writer long ago does not break a later
// direct write.
func TestOutboxDirectSendAfterWriteDeadlinePassed(t *testing.T) {
	a, b := tcpPair(t)
	o := startOutbox(t, a, 5*time.Millisecond)
	o.send(header{kind: kindOK, id: 1}, testPayload(1), false) // by the writer, which sets the deadline
	r := bufio.NewReader(b)
	readFrames(t, r, 1, testPayload)
	time.Sleep(20 * time.Millisecond)
	o.send(header{kind: kindOK, id: 2}, testPayload(2), true)
	readFrames(t, r, 1, testPayload)
}
