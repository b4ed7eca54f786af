package antientropy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

func openStore(t *testing.T, mutate ...func(*engine.Config)) *engine.Store {
	t.Helper()
	cfg := engine.DefaultLocalConfig()
	cfg.ExpireInterval = time.Hour
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// storePeer is a peer served straight from a store, as its PeerServer
// would serve it, with an optional fault for every call.
type storePeer struct {
	store    *engine.Store
	handlers map[cluster.Op]cluster.OpHandler
	fail     func(op string) error
	calls    map[string]int
	slots    map[uint16]bool // slots whose record digests were asked for
}

func newStorePeer(s *engine.Store) *storePeer {
	return &storePeer{store: s, handlers: Handlers(s), calls: map[string]int{}, slots: map[uint16]bool{}}
}

func (p *storePeer) fault(op string) error {
	p.calls[op]++
	if p.fail != nil {
		return p.fail(op)
	}
	return nil
}

func (p *storePeer) Call(ctx context.Context, _ string, op cluster.Op, payload []byte) ([]byte, error) {
	if err := p.fault(op.String()); err != nil {
		return nil, err
	}
	if op == cluster.OpSlotKeys {
		if q, err := decodeKeysReq(payload); err == nil {
			p.slots[q.Slot] = true
		}
	}
	return p.handlers[op](ctx, "a", payload)
}

func (p *storePeer) Read(_ context.Context, _ string, db int, key []byte) (version.Siblings, error) {
	if err := p.fault("read"); err != nil {
		return nil, err
	}
	return p.store.Get(db, key)
}

func (p *storePeer) Write(_ context.Context, _ string, db int, key []byte, sib version.Siblings, _ string) error {
	if err := p.fault("write"); err != nil {
		return err
	}
	_, err := p.store.Merge(db, key, sib)
	return err
}

var testStart = time.Now().UnixMilli()

func newTestAntiEntropy(t *testing.T, store Store, peers Peers) *AntiEntropy {
	t.Helper()
	cfg := Config{NodeID: "a", RepairsPerSecond: 1 << 20}
	cfg.fillDefaults()
	// Small pages, so that comparisons cross many page boundaries on both
	// sides, repairing as they go.
	return &AntiEntropy{cfg: cfg, log: cfg.Logger, store: store, peers: peers, slotPage: 3}
}

// value is the n-th write by node, stamped n ms after the test's start:
// recent, so that no test tombstone is past the grace period unless the
// test says so.
func value(node string, n uint64, val string) version.Version {
	at := version.MakeHLC(testStart+int64(n), 0)
	return version.Version{
		Clock:     version.Clock{{Node: node, Counter: n, Stamp: at}},
		Timestamp: at,
		Writer:    node,
		Kind:      version.KindString,
		Value:     []byte(val),
	}
}

func merge(t *testing.T, s *engine.Store, db int, key string, v version.Version) {
	t.Helper()
	if _, err := s.Merge(db, []byte(key), version.Siblings{v}); err != nil {
		t.Fatal(err)
	}
}

// allSlots lists every slot: both test stores hold all of them.
func allSlots() []uint16 {
	out := make([]uint16, ring.NumSlots)
	for i := range out {
		out[i] = uint16(i)
	}
	return out
}

// requireSame fails unless a and b hold the same siblings for every key.
func requireSame(t *testing.T, a, b *engine.Store, keys []string) {
	t.Helper()
	for db := range 2 {
		for _, k := range keys {
			x, err1 := a.Get(db, []byte(k))
			y, err2 := b.Get(db, []byte(k))
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if !x.Equal(y) {
				t.Fatalf("db %d key %q: %d and %d siblings differ after repair", db, k, len(x), len(y))
			}
		}
	}
	da, _ := a.SlotDigests(0, ring.NumSlots-1)
	db, _ := b.SlotDigests(0, ring.NumSlots-1)
	if !slices.Equal(da, db) {
		t.Fatal("slot digests still differ after repair")
	}
}

// TestRepairConverges gives two replicas histories that diverge in every
// way (keys only one side has, older and newer versions, concurrent
// siblings, deletes, in two databases and with keys sharing slots), runs
// one comparison, and checks that both then hold the same records, that
// only differing slots were descended into, and that a second comparison
// finds nothing.
func TestRepairConverges(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	r := rand.New(rand.NewPCG(4, 4))
	var keys []string
	for i := range 400 {
		key := fmt.Sprintf("{t%d}k%d", i%40, i)
		keys = append(keys, key)
		db := i % 2
		common := value("n1", uint64(i+1), "common")
		switch r.IntN(6) {
		case 0: // same on both
			merge(t, a, db, key, common)
			merge(t, b, db, key, common)
		case 1: // only a
			merge(t, a, db, key, common)
		case 2: // only b
			merge(t, b, db, key, common)
		case 3: // b has a newer version
			merge(t, a, db, key, common)
			merge(t, b, db, key, common)
			newer := common
			newer.Clock = common.Clock.Increment("n2", common.Timestamp+1)
			newer.Timestamp++
			newer.Value = []byte("newer")
			merge(t, b, db, key, newer)
		case 4: // concurrent writes: siblings after repair
			merge(t, a, db, key, value("n2", uint64(i+1), "left"))
			merge(t, b, db, key, value("n3", uint64(i+1), "right"))
		case 5: // a deleted it
			merge(t, b, db, key, common)
			del := common
			del.Clock = common.Clock.Increment("n1", common.Timestamp+1)
			del.Timestamp++
			del.Tombstone, del.Value = true, nil
			merge(t, a, db, key, del)
		}
	}
	before, _ := a.SlotDigests(0, ring.NumSlots-1)
	other, _ := b.SlotDigests(0, ring.NumSlots-1)
	differ := 0
	for i := range before {
		if before[i] != other[i] {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("the histories did not diverge")
	}
	peer := newStorePeer(b)
	ae := newTestAntiEntropy(t, a, peer)
	gotDiffer, repaired, err := ae.compareWith(ctx, "b", allSlots(), cluster.LogDigest{})
	if err != nil {
		t.Fatal(err)
	}
	if gotDiffer != differ || repaired == 0 {
		t.Fatalf("compareWith: %d slots differed (digests say %d), %d keys repaired", gotDiffer, differ, repaired)
	}
	if len(peer.slots) != differ {
		t.Fatalf("descended into %d slots, %d differ", len(peer.slots), differ)
	}
	if peer.calls["slot-keys"] <= differ {
		t.Fatalf("%d pages for %d slots of about ten records: the walks did not page", peer.calls["slot-keys"], differ)
	}
	requireSame(t, a, b, keys)
	if d, n, err := ae.compareWith(ctx, "b", allSlots(), cluster.LogDigest{}); d != 0 || n != 0 || err != nil {
		t.Fatalf("second comparison: %d slots, %d keys, %v", d, n, err)
	}
	st := ae.Stats()
	if st.KeysPulled.Load() == 0 || st.KeysPushed.Load() == 0 {
		t.Fatalf("pulled %d, pushed %d: a repair went one way only", st.KeysPulled.Load(), st.KeysPushed.Load())
	}
}

// TestRepairPagesAndFailures repairs a slot with more records than a page
// holds, after a comparison that a failing peer cut short, and checks that
// the failure is reported and the next comparison finishes the job.
func TestRepairPagesAndFailures(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	var keys []string
	for i := range 9000 {
		key := fmt.Sprintf("{one}%d", i)
		keys = append(keys, key)
		if i%3 == 0 {
			merge(t, a, 0, key, value("n1", uint64(i+1), "a"))
		}
		merge(t, b, 0, key, value("n2", uint64(i+1), "b"))
	}
	peer := newStorePeer(b)
	writes := 0
	peer.fail = func(op string) error {
		if op == "write" {
			if writes++; writes == 100 {
				return errors.New("injected")
			}
		}
		return nil
	}
	ae := newTestAntiEntropy(t, a, peer)
	ae.slotPage = defaultSlotPage
	slot := []uint16{ring.Slot([]byte("{one}"))}
	if _, _, err := ae.compareWith(ctx, "b", slot, cluster.LogDigest{}); err == nil {
		t.Fatal("a failed write went unreported")
	}
	failed := peer.calls["slot-keys"]
	if _, _, err := ae.compareWith(ctx, "b", slot, cluster.LogDigest{}); err != nil {
		t.Fatal(err)
	}
	// Both sides are read a page at a time, repairing as the walk goes: the
	// failed comparison stopped in its first page, the full one read three.
	if failed != 1 || peer.calls["slot-keys"]-failed != 3 {
		t.Fatalf("pages read: %d by the failed comparison, %d by the full one; want 1 and 3", failed, peer.calls["slot-keys"]-failed)
	}
	requireSame(t, a, b, keys)
}

func TestDifferingWalk(t *testing.T) {
	e := func(db int, k string, h uint64) entry { return entry{db, []byte(k), h} }
	local := []entry{e(0, "a", 1), e(0, "b", 2), e(0, "d", 4), e(1, "a", 5)}
	remote := []entry{e(0, "b", 2), e(0, "c", 3), e(0, "d", 9), e(2, "", 7)}
	var got []string
	err := walkDiff(newDigests(onePage(local)), newDigests(onePage(remote)), func(c cursor) error {
		got = append(got, fmt.Sprintf("%d/%s", c.DB, c.Key))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0/a", "0/c", "0/d", "1/a", "2/"}
	if !slices.Equal(got, want) {
		t.Fatalf("differing = %v, want %v", got, want)
	}
}

// TestWireRejectsMalformed feeds the handlers and the reply decoders
// truncated and hostile payloads: each must fail cleanly.
func TestWireRejectsMalformed(t *testing.T) {
	s := openStore(t)
	merge(t, s, 0, "k", value("n1", 1, "v"))
	h := Handlers(s)
	ctx := context.Background()
	for _, p := range [][]byte{nil, {0x80}, {5, 4}, {0x80, 0x80, 0x04, 0}, appendDigestsReq(nil, 0, 16383)[:2]} {
		if _, err := h[cluster.OpSlotDigests](ctx, "x", p); err == nil {
			t.Errorf("digests request %x accepted", p)
		}
	}
	good := keysReq{Slot: ring.Slot([]byte("k")), MaxEntries: 10}.appendBinary(nil)
	for _, p := range [][]byte{nil, good[:len(good)-1], append(slices.Clone(good), 0), keysReq{Slot: 1, MaxEntries: 0}.appendBinary(nil), keysReq{Slot: 1, MaxEntries: maxPageEntries + 1}.appendBinary(nil)} {
		if _, err := h[cluster.OpSlotKeys](ctx, "x", p); err == nil {
			t.Errorf("keys request %x accepted", p)
		}
	}
	reply, err := h[cluster.OpSlotKeys](ctx, "x", good)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := decodeKeysReq(good)
	if es, more, err := decodeKeysReply(reply, q); err != nil || more || len(es) != 1 || string(es[0].Key) != "k" {
		t.Fatalf("good page: %v %v %v", es, more, err)
	}
	for i := range len(reply) - 1 {
		if _, _, err := decodeKeysReply(reply[:i], q); err == nil {
			t.Errorf("reply cut at %d accepted", i)
		}
	}
	wrongSlot := keysReq{Slot: q.Slot + 1, MaxEntries: 10}
	if _, _, err := decodeKeysReply(reply, wrongSlot); err == nil {
		t.Error("a page with another slot's key accepted")
	}
	if _, _, err := decodeKeysReply([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f}, q); err == nil {
		t.Error("a huge count accepted")
	}
	if _, err := decodeDigests([]byte{1, 0, 0}, 0, 0); err == nil {
		t.Error("short digests accepted")
	}
}

// TestRepairLeavesReclaimedRecordsAlone: a delete whose tombstone is past
// the grace period is removed by each replica's expiry in its own time;
// anti-entropy must neither copy it back to a replica that removed it nor
// fetch it from one that has not yet, while it still repairs a recent
// delete.
func TestRepairLeavesReclaimedRecordsAlone(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	old := value("n1", 1, "")
	old.Timestamp = version.MakeHLC(testStart-2*time.Hour.Milliseconds(), 0)
	old.Clock = version.Clock{{Node: "n1", Counter: 1, Stamp: old.Timestamp}}
	old.Tombstone, old.Value = true, nil
	merge(t, a, 0, "{s}dead-on-a", old)
	merge(t, b, 0, "{s}dead-on-b", old)
	recent := value("n1", 2, "")
	recent.Tombstone, recent.Value = true, nil
	merge(t, a, 0, "{s}recent-delete", recent)
	peer := newStorePeer(b)
	ae := newTestAntiEntropy(t, a, peer)
	if _, _, err := ae.compareWith(ctx, "b", []uint16{ring.Slot([]byte("{s}"))}, cluster.LogDigest{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *engine.Store
		key  string
		want bool
	}{{b, "{s}dead-on-a", false}, {a, "{s}dead-on-b", false}, {b, "{s}recent-delete", true}} {
		sib, err := c.s.Get(0, []byte(c.key))
		if err != nil || (len(sib) > 0) != c.want {
			t.Errorf("%s: %d versions (%v), want present %v", c.key, len(sib), err, c.want)
		}
	}
}

// TestRepairSkipsARecordItCannotRepair: a record this node cannot take (a
// database it does not have) is counted as a failure and skipped, and the
// slots after it are still repaired.
func TestRepairSkipsARecordItCannotRepair(t *testing.T) {
	ctx := context.Background()
	a := openStore(t)
	b := openStore(t, func(c *engine.Config) { c.Databases = 32 })
	good := "{y}later"
	sy := ring.Slot([]byte(good))
	bad := ""
	for i := 0; bad == ""; i++ { // a key whose slot comes before good's
		if k := fmt.Sprintf("{x%d}only-in-db-20", i); ring.Slot([]byte(k)) < sy {
			bad = k
		}
	}
	merge(t, b, 20, bad, value("n1", 1, "v"))
	merge(t, b, 0, good, value("n1", 2, "v"))
	slots := []uint16{ring.Slot([]byte(bad)), sy}
	ae := newTestAntiEntropy(t, a, newStorePeer(b))
	if _, _, err := ae.compareWith(ctx, "b", slots, cluster.LogDigest{}); err != nil {
		t.Fatalf("a record of a database this node lacks stopped the comparison: %v", err)
	}
	if sib, _ := a.Get(0, []byte(good)); len(sib) != 1 {
		t.Fatal("the other slot was not repaired")
	}
	if ae.Stats().Failures.Load() != 1 {
		t.Fatalf("failures = %d, want 1", ae.Stats().Failures.Load())
	}
}

// TestRepairDoesNotResurrect: a value written before the tombstone grace
// that one replica lacks may be a delete that replica has purged; it is
// neither pushed to it nor pulled from the other, and counted as left. The
// same old value held differently on both sides is still merged.
func TestRepairDoesNotResurrect(t *testing.T) {
	ctx := context.Background()
	a, b := openStore(t), openStore(t)
	old := func(n uint64, val string) version.Version {
		v := value("n1", n, val)
		v.Timestamp = version.MakeHLC(testStart-2*time.Hour.Milliseconds()+int64(n), 0)
		v.Clock = version.Clock{{Node: "n1", Counter: n, Stamp: v.Timestamp}}
		return v
	}
	merge(t, a, 0, "{r}only-on-a", old(1, "zombie?"))
	merge(t, b, 0, "{r}only-on-b", old(2, "zombie?"))
	merge(t, a, 0, "{r}both", old(3, "older"))
	newer := old(4, "newer")
	newer.Clock = version.Clock{{Node: "n1", Counter: 4, Stamp: newer.Timestamp}}
	merge(t, b, 0, "{r}both", newer)
	ae := newTestAntiEntropy(t, a, newStorePeer(b))
	if _, _, err := ae.compareWith(ctx, "b", []uint16{ring.Slot([]byte("{r}"))}, cluster.LogDigest{}); err != nil {
		t.Fatal(err)
	}
	if sib, _ := b.Get(0, []byte("{r}only-on-a")); sib != nil {
		t.Error("an old value was copied onto the replica that lacked it")
	}
	if sib, _ := a.Get(0, []byte("{r}only-on-b")); sib != nil {
		t.Error("an old value was copied from the replica that had it")
	}
	x, _ := a.Get(0, []byte("{r}both"))
	y, _ := b.Get(0, []byte("{r}both"))
	if !x.Equal(y) || len(x) != 1 || string(x[0].Value) != "newer" {
		t.Errorf("an old key on both sides was not merged: %d and %d versions", len(x), len(y))
	}
	if n := ae.Stats().KeysLeft.Load(); n != 2 {
		t.Errorf("keys left = %d, want 2", n)
	}
}
