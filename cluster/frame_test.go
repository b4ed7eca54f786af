package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	want := header{length: 1<<32 - 1, kind: kindErr, id: 1<<64 - 1, budget: 12345}
	b := appendHeader(nil, want)
	if len(b) != headerLen {
		t.Fatalf("header is %d bytes; want %d", len(b), headerLen)
	}
	if got := parseHeader((*[headerLen]byte)(b)); got != want {
		t.Fatalf("got %+v; want %+v", got, want)
	}
}

func TestBudgetOf(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		d    time.Duration
		has  bool
		want uint32
		ok   bool
	}{
		{0, false, 0, true},
		{time.Nanosecond, true, 1, true}, // never rounds down to "no deadline"
		{1500 * time.Microsecond, true, 2, true},
		{time.Second, true, 1000, true},
		{0, true, 0, false},
		{-time.Second, true, 0, false},
		{100 * 24 * time.Hour, true, 1<<32 - 1, true},
	} {
		got, ok := budgetOf(now.Add(c.d), c.has, now)
		if got != c.want || ok != c.ok {
			t.Errorf("budgetOf(%v, %v) = %d, %v; want %d, %v", c.d, c.has, got, ok, c.want, c.ok)
		}
	}
}

func TestPayloadRoundTrips(t *testing.T) {
	db, key, err := decodeReadReq(appendReadReq(nil, 15, []byte("k\x00ey")))
	if err != nil || db != 15 || string(key) != "k\x00ey" {
		t.Fatalf("read: %d %q %v", db, key, err)
	}
	s := sib("a", "value", 3)
	db, key, hint, record, err := decodeWriteReq(appendWriteReq(nil, 2, []byte("key"), "c", s.AppendBinary))
	if err != nil || db != 2 || string(key) != "key" || hint != "c" || !bytes.Equal(record, s.AppendBinary(nil)) {
		t.Fatalf("write: %d %q %q %v", db, key, hint, err)
	}
	args := [][]byte{[]byte("SET"), {}, bytes.Repeat([]byte("x"), 300)}
	db, got, err := decodeForwardReq(appendForwardReq(nil, 0, args))
	if err != nil || db != 0 || !slices.EqualFunc(got, args, bytes.Equal) {
		t.Fatalf("forward: %d %q %v", db, got, err)
	}
}

// FuzzRequestPayloads: no payload panics a decoder, and a forward's
// argument slice is never larger than its payload.
func FuzzRequestPayloads(f *testing.F) {
	f.Add(appendReadReq(nil, 3, []byte("key")))
	f.Add(appendWriteReq(nil, 0, []byte("k"), "hint", sib("a", "v", 1).AppendBinary))
	f.Add(appendForwardReq(nil, 1, [][]byte{[]byte("GET"), []byte("k")}))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		decodeReadReq(p)
		decodeWriteReq(p)
		if _, args, err := decodeForwardReq(p); err == nil && cap(args) > len(p) {
			t.Fatalf("%d-byte payload made room for %d arguments", len(p), cap(args))
		}
	})
}

func TestReadPayload(t *testing.T) {
	want := make([]byte, 3*payloadChunk+5)
	for i := range want {
		want[i] = byte(i * 7)
	}
	for _, n := range []int{0, 1, payloadChunk, payloadChunk + 1, len(want)} {
		r := bufio.NewReader(iotest.HalfReader(bytes.NewReader(want[:n])))
		got, err := readPayload(r, n)
		if err != nil || !bytes.Equal(got, want[:n]) {
			t.Fatalf("n=%d: %d bytes, %v", n, len(got), err)
		}
	}
	// Truncated, in either regime: an error, never a short payload.
	for _, n := range []int{10, 2 * payloadChunk} {
		_, err := readPayload(bufio.NewReader(bytes.NewReader(want[:n-1])), n)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated %d: %v", n, err)
		}
	}
}

// FuzzPeerServer feeds arbitrary bytes to an authenticated connection; the
// server must survive and keep serving.
func FuzzPeerServer(f *testing.F) {
	h := newFakeHandler()
	n := startNode(f, "b", testSecret, h, "", func(c *PeerServerConfig) { c.MaxFrame = 1 << 16; c.Logger = nil })
	tr, _ := newTestTransport(f, "a", testSecret, n)
	frame := func(kind uint8, id uint64, p []byte) []byte {
		return append(appendHeader(nil, header{length: len(p), kind: kind, id: id, budget: 1000}), p...)
	}
	f.Add(frame(uint8(OpRead), 1, appendReadReq(nil, 0, []byte("k"))))
	f.Add(frame(uint8(OpWrite), 1, appendWriteReq(nil, 0, []byte("k"), "", sib("a", "v", 1).AppendBinary)))
	f.Add(frame(uint8(OpForward), 7, appendForwardReq(nil, 0, [][]byte{[]byte("GET"), []byte("k")})))
	f.Add(append(frame(uint8(OpPing), 1, nil), frame(0x33, 2, []byte("x"))...))
	f.Add(frame(kindOK, 1, nil))
	f.Add(appendHeader(nil, header{length: 1 << 30, kind: uint8(OpRead)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := dialRaw(t, n.addr, testSecret, "fuzz")
		p.nc.Write(data)
		p.nc.Close()
		if err := tr.Ping(context.Background(), "b"); err != nil {
			t.Fatalf("server stopped serving: %v", err)
		}
	})
}
