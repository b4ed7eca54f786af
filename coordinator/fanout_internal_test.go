package coordinator

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/ringstore/ringstore/version"
)

// TestReplyRecord: a replica's answer that is byte for byte this node's
// record is taken as this node's decoded siblings (no decode: the very same
// versions), one that differs is decoded and merged, an empty one is an
// absent key, and one that does not decode is that replica's failure.
func TestReplyRecord(t *testing.T) {
	at := version.MakeHLC(1_700_000_000_000, 0)
	ver := func(node, val string) version.Siblings {
		return version.Siblings{{Clock: version.Clock{{Node: node, Counter: 1, Stamp: at}}, Timestamp: at, Writer: node, Kind: version.KindString, Value: []byte(val)}}
	}
	p := &plan{targets: []string{"self", "b", "c"}, hint: []string{"", "", ""}, self: true, selfIdx: 0, n: 3}
	c := &Coordinator{}
	read := func() *fanout {
		f := c.startFanout(p, 0, []byte("k"), nil, true, 3)
		f.reserve(3, nil)
		return f
	}
	local := ver("a", "v")
	localRec := local.AppendBinary(nil)

	f := read()
	f.localRec, f.localSib = localRec, local
	f.Reply(0, local, nil)
	f.ReplyRecord(1, append([]byte(nil), localRec...)) // equal bytes, another buffer
	f.ReplyRecord(2, ver("b", "w").AppendBinary(nil))
	<-f.done
	if got := f.got[1].sib; unsafe.SliceData(got) != unsafe.SliceData(local) {
		t.Fatalf("an answer equal to the local record was decoded anew: %v", got)
	}
	if got := f.got[2].sib; len(got) != 1 || string(got[0].Value) != "w" {
		t.Fatalf("a different answer decoded to %v", got)
	}
	if ok, _, merged, _ := f.detach(true); ok != 3 || len(merged) != 2 { // abandoned: no read repair (no transport here)
		t.Fatalf("ok %d, merged %v: want 3 answers and both versions", ok, merged)
	}

	f = read()
	f.Reply(0, nil, nil)
	f.ReplyRecord(1, nil)
	f.ReplyRecord(2, []byte{0xff, 1, 2})
	<-f.done
	ok, _, merged, last := f.detach(false)
	if ok != 2 || merged != nil {
		t.Fatalf("ok %d, merged %v: want 2 answers, absent", ok, merged)
	}
	if !errors.Is(last, version.ErrCorrupt) {
		t.Fatalf("undecodable answer: last error %v, want one wrapping version.ErrCorrupt", last)
	}
}
