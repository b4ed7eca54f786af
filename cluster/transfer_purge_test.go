package cluster

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
)

// joinTables returns the tables of ring {a, b, c, e} before and after d
// joins, and the slots a loses to d.
func joinTables() (before, after *ring.Table, lost []uint16) {
	var evs []ring.Event
	for i, id := range []string{"a", "b", "c", "e"} {
		evs = append(evs, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: uint64(i + 1)})
	}
	before = ring.Build(evs)
	after = ring.Build(append(evs, ring.Event{Kind: ring.EventJoin, Node: "d", Stamp: 10}))
	var b1, b2 []string
	for s := range uint16(ring.NumSlots) {
		if slices.Contains(before.PreferenceList(b1[:0], s, 3), "a") && !slices.Contains(after.PreferenceList(b2[:0], s, 3), "a") {
			lost = append(lost, s)
		}
	}
	return before, after, lost
}

// readyAt marks every member of s synced to log, except those in not.
func readyAt(s *Snapshot, log LogDigest, not ...string) *Snapshot {
	for id, m := range s.Members {
		if !slices.Contains(not, id) {
			m.Synced = log
			s.Members[id] = m
		}
	}
	return s
}

func TestPurgeable(t *testing.T) {
	_, after, lost := joinTables()
	if len(lost) == 0 {
		t.Fatal("a loses no slot to d")
	}
	var marks [ring.NumSlots]bool
	for _, s := range lost {
		marks[s] = true
	}
	// A slot a still holds, wrongly marked, is never purgeable.
	held := uint16(0)
	for slices.Contains(lost, held) || !slices.Contains(after.PreferenceList(nil, held, 3), "a") {
		held++
	}
	marks[held] = true
	snap := func() *Snapshot { return snapshotOf("a", after, 2) }
	log := snap().Log
	if got := purgeable(readyAt(snap(), log), 3, &marks); !slices.Equal(got, lost) {
		t.Fatalf("all ready and up: %d slots purgeable, want the %d lost ones", len(got), len(lost))
	}
	for name, s := range map[string]*Snapshot{
		"d not synced":           readyAt(snap(), log, "d"),
		"self not synced":        readyAt(snap(), log, "a"),
		"a bystander not synced": readyAt(snap(), log, "e"),
		"d synced to older log":  readyAt(readyAt(snap(), log), LogDigest{Count: 1, Hash: 1}, "a", "b", "c", "e"),
	} {
		if got := purgeable(s, 3, &marks); len(got) != 0 {
			t.Errorf("%s: %d slots purgeable", name, len(got))
		}
	}
	// d synced but down: the slots whose list names d wait; here, all.
	s := readyAt(snap(), log)
	m := s.Members["d"]
	m.State = MemberDown
	s.Members["d"] = m
	if got := purgeable(s, 3, &marks); len(got) != 0 {
		t.Errorf("d down: %d slots purgeable", len(got))
	}
	// b down (synced): only the lost slots whose list avoids b.
	s = readyAt(snap(), log)
	m = s.Members["b"]
	m.State = MemberSuspect
	s.Members["b"] = m
	got := purgeable(s, 3, &marks)
	for _, slot := range lost {
		want := !slices.Contains(after.PreferenceList(nil, slot, 3), "b")
		if slices.Contains(got, slot) != want {
			t.Fatalf("b suspect: slot %d purgeable %v, want %v", slot, !want, want)
		}
	}
}

// recordingDropper is a SlotDropper that notes when it is called.
type recordingDropper struct {
	*coordtest.MemStore
	mu    sync.Mutex
	calls []time.Time
}

func (r *recordingDropper) DropSlots(slots []uint16) (int64, error) {
	r.mu.Lock()
	r.calls = append(r.calls, time.Now())
	r.mu.Unlock()
	return r.MemStore.DropSlots(slots)
}

func (r *recordingDropper) called() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestTransfersPurgeLostSlots: a holds every key of a four-node ring; d
// joins and takes some of a's slots. a drops them only once every member
// announced it is synced to the new table and d is up; then it holds
// nothing of the slots it lost, all of those it holds, and still the
// slots it never held (as a stand-in keeps copies).
func TestTransfersPurgeLostSlots(t *testing.T) {
	const dbs, keys = 2, 400
	before, after, lost := joinTables()
	st := &recordingDropper{MemStore: fillStore(t, keys, dbs)}
	snaps := make(chan *Snapshot, 1)
	synced := make(chan LogDigest, 100)
	cfg := TransferConfig{NodeID: "a", Databases: dbs, PageInterval: time.Millisecond, RetryInterval: 5 * time.Millisecond, Dropper: st, PurgeDelay: time.Nanosecond}
	log1, log2 := LogDigest{Count: 1, Hash: 1}, LogDigest{Count: 2, Hash: 2}
	snaps <- readyAt(snapshotOf("a", before, 1), log1)
	// a's first table makes it pull every slot it holds (it knew of no
	// one before): the others serve what it already has.
	net := &pageNet{nodes: map[string]OpHandler{}}
	for _, id := range []string{"b", "c", "e"} {
		net.nodes[id] = NewSlotPageHandler(fillStore(t, keys, dbs), dbs)
	}
	tr, err := StartTransfers(cfg, st, net, snaps, func(d LogDigest) { synced <- d })
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	send := func(s *Snapshot) {
		t.Helper()
		snaps <- s
		select {
		case d := <-synced:
			if d != s.Log {
				t.Fatalf("synced %v, want %v", d, s.Log)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no sync")
		}
	}
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync of the first table")
	}
	// Not yet safe: d has not pulled, then d has but is down.
	unsafe := []*Snapshot{readyAt(snapshotOf("a", after, 2), log2, "d")}
	down := readyAt(snapshotOf("a", after, 2), log2)
	m := down.Members["d"]
	m.State = MemberDown
	down.Members["d"] = m
	unsafe = append(unsafe, down)
	for _, s := range unsafe {
		send(s)
		for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if len(st.called()) > 0 {
				t.Fatalf("purged although %v", s.Members["d"])
			}
		}
	}
	send(readyAt(snapshotOf("a", after, 2), log2))
	deadline := time.Now().Add(10 * time.Second)
	for tr.Stats().Purges.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no purge once everyone is synced")
		}
		time.Sleep(time.Millisecond)
	}
	if n := tr.Stats().SlotsPurged.Load(); n != int64(len(lost)) {
		t.Fatalf("purged %d slots, want %d", n, len(lost))
	}
	kept, dropped := 0, 0
	for db := range dbs {
		for i := range keys {
			key := []byte(fmt.Sprint("k", i))
			sib, _ := st.Get(db, key)
			holds := slices.Contains(after.PreferenceList(nil, ring.Slot(key), 3), "a")
			// A slot a never held (filled here as a stand-in's copy
			// would be) is left alone.
			never := !slices.Contains(before.PreferenceList(nil, ring.Slot(key), 3), "a")
			if (sib != nil) != (holds || never) {
				t.Fatalf("db %d %s: present %v, held %v, held before %v", db, key, sib != nil, holds, !never)
			}
			if sib != nil {
				kept++
			} else {
				dropped++
			}
		}
	}
	if dropped == 0 || kept == 0 || tr.Stats().RecordsPurged.Load() != int64(dropped) {
		t.Fatalf("kept %d, dropped %d, counted %d purged", kept, dropped, tr.Stats().RecordsPurged.Load())
	}
	// A later Snapshot of the same table purges nothing more.
	send(readyAt(snapshotOf("a", after, 2), log2))
	if n := len(st.called()); n != 1 {
		t.Fatalf("%d purges", n)
	}
}
