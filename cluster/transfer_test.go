package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

func record(node string, val string) version.Siblings {
	return version.Siblings{{Clock: version.Clock(nil).Increment(node, 1), Timestamp: 1, Writer: node, Kind: version.KindString, Value: []byte(val)}}
}

// fillStore writes keys k0..k(n-1) into dbs 0..dbs-1 of a new MemStore.
func fillStore(t *testing.T, n, dbs int) *coordtest.MemStore {
	t.Helper()
	st := coordtest.NewMemStore(ring.Slot)
	for db := range dbs {
		for i := range n {
			key := fmt.Sprint("k", i)
			if _, err := st.Merge(db, []byte(key), record("a", fmt.Sprint(db, key))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st
}

func TestSlotPageRejectsBadRequests(t *testing.T) {
	h := NewSlotPageHandler(fillStore(t, 50, 2), 2)
	req := func(r pageRequest) []byte { return r.appendBinary(nil) }
	good := pageRequest{From: 0, To: 100, DB: 0, Slot: 0, MaxBytes: 1024}
	if _, err := h(context.Background(), "x", req(good)); err != nil {
		t.Fatalf("a good request failed: %v", err)
	}
	for name, p := range map[string][]byte{
		"empty":            nil,
		"garbage":          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"from after to":    req(pageRequest{From: 10, To: 5, Slot: 10, MaxBytes: 1}),
		"cursor outside":   req(pageRequest{From: 10, To: 20, Slot: 30, MaxBytes: 1}),
		"slot too big":     req(pageRequest{From: 0, To: ring.NumSlots, Slot: 0, MaxBytes: 1}),
		"db out of range":  req(pageRequest{From: 0, To: 5, DB: 2, MaxBytes: 1}),
		"zero page":        req(pageRequest{From: 0, To: 5}),
		"oversized page":   req(pageRequest{From: 0, To: 5, MaxBytes: MaxPageBytes + 1}),
		"trailing bytes":   append(req(good), 0),
		"after longer":     binary.AppendUvarint([]byte{0, 1, 0, 0}, 1000),
		"huge page varint": append([]byte{0, 1, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		if _, err := h(context.Background(), "x", p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Random bytes and every truncation of a good request: errors, never a
	// panic.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		p := make([]byte, rng.IntN(24))
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		h(context.Background(), "x", p)
	}
	full := req(pageRequest{From: 0, To: 100, Slot: 3, After: []byte("k7"), MaxBytes: 1024})
	for i := range len(full) {
		if _, err := h(context.Background(), "x", full[:i]); err == nil {
			t.Errorf("prefix of %d bytes: no error", i)
		}
	}
}

// TestSlotPagePagesThroughEverything walks a range with small pages: every
// record of the range comes exactly once, nothing outside it, and each page
// stays within its budget plus one record.
func TestSlotPagePagesThroughEverything(t *testing.T) {
	const dbs = 3
	st := fillStore(t, 400, dbs)
	h := NewSlotPageHandler(st, dbs)
	from, to := uint16(2000), uint16(5000)
	want := map[string]bool{}
	for db := range dbs {
		st.ScanSlots(db, from, to, func(_ uint16, key []byte, _ version.Siblings) bool {
			want[fmt.Sprint(db, "/", string(key))] = true
			return true
		})
	}
	var ids version.Decoder
	got := map[string]bool{}
	r := pageRequest{From: from, To: to, Slot: from, MaxBytes: 600}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("no end to the pages")
		}
		reply, err := h(context.Background(), "x", r.appendBinary(nil))
		if err != nil {
			t.Fatal(err)
		}
		recs, more, err := decodePage(reply, r, &ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(reply) > r.MaxBytes+200 {
			t.Fatalf("page of %d bytes for a budget of %d", len(reply), r.MaxBytes)
		}
		for _, rec := range recs {
			k := fmt.Sprint(rec.DB, "/", string(rec.Key))
			if got[k] {
				t.Fatalf("%s came twice", k)
			}
			got[k] = true
		}
		if !more {
			break
		}
		last := recs[len(recs)-1]
		r.DB, r.Slot, r.After = last.DB, ring.Slot(last.Key), last.Key
	}
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("missing %s", k)
		}
	}
}

// pageNet serves OpSlotPage for a set of in-memory nodes; failing counts
// the calls that still have to fail.
type pageNet struct {
	mu      sync.Mutex
	nodes   map[string]OpHandler
	failing int
	calls   int
}

func (p *pageNet) Call(ctx context.Context, node string, op Op, payload []byte) ([]byte, error) {
	p.mu.Lock()
	h := p.nodes[node]
	p.calls++
	fail := p.failing > 0
	if fail {
		p.failing--
	}
	p.mu.Unlock()
	if fail || h == nil || op != OpSlotPage {
		return nil, fmt.Errorf("pageNet: %s unreachable", node)
	}
	return h(ctx, "caller", payload)
}

func snapshotOf(self string, tb *ring.Table, logID uint64) *Snapshot {
	s := &Snapshot{Self: self, Table: tb, Log: LogDigest{Count: logID, Hash: logID}, Members: map[string]Member{}}
	for _, id := range tb.Members() {
		s.Members[id] = Member{ID: id, State: MemberUp}
	}
	return s
}

// TestTransfersPullNewSlots: a fourth node joins three that hold every
// key; it pulls exactly the slots whose preference list names it, through
// failed calls, and then reports its table synced.
func TestTransfersPullNewSlots(t *testing.T) {
	const dbs = 2
	old := []string{"a", "b", "c"}
	src := fillStore(t, 500, dbs)
	net := &pageNet{nodes: map[string]OpHandler{}, failing: 3}
	for _, id := range old {
		net.nodes[id] = NewSlotPageHandler(src, dbs)
	}
	var evs []ring.Event
	for i, id := range old {
		evs = append(evs, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: uint64(i + 1)})
	}
	before := ring.Build(evs)
	after := ring.Build(append(evs, ring.Event{Kind: ring.EventJoin, Node: "d", Stamp: 10}))

	dst := coordtest.NewMemStore(ring.Slot)
	snaps := make(chan *Snapshot, 1)
	synced := make(chan LogDigest, 10)
	cfg := TransferConfig{NodeID: "d", Databases: dbs, PageBytes: 2000, PageInterval: time.Millisecond, RetryInterval: 5 * time.Millisecond}
	// d's first table does not name it yet (it learned the ring before
	// its own join was recorded): nothing to pull.
	snaps <- snapshotOf("d", before, 1)
	tr, err := StartTransfers(cfg, dst, net, snaps, func(d LogDigest) { synced <- d })
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if d := <-synced; d.Count != 1 {
		t.Fatalf("synced %v first, want log 1", d)
	}
	snaps <- snapshotOf("d", after, 2)
	select {
	case d := <-synced:
		if d.Count != 2 {
			t.Fatalf("synced %v, want log 2", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no sync; stats %+v", tr.Stats())
	}
	var buf []string
	n := 0
	for db := range dbs {
		for i := range 500 {
			key := []byte(fmt.Sprint("k", i))
			sib, _ := dst.Get(db, key)
			want := slices.Contains(after.PreferenceList(buf[:0], ring.Slot(key), 3), "d")
			if (sib != nil) != want {
				t.Fatalf("db %d %s: held %v, want %v", db, key, sib != nil, want)
			}
			if want {
				n++
			}
		}
	}
	st := tr.Stats()
	if n == 0 || st.Records.Load() != int64(n) || st.SlotsPending.Load() != 0 || st.PagesFailed.Load() != 3 {
		t.Fatalf("pulled %d records (want %d), pending %d, failed pages %d (want 3)", st.Records.Load(), n, st.SlotsPending.Load(), st.PagesFailed.Load())
	}
}
