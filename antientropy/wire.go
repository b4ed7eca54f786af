package antientropy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/ring"
)

// The two peer ops, served by Handlers and called by a round.
//
// OpSlotDigests asks for the digests of a range of slots:
//
//	request = uvarint(from) uvarint(to)
//	reply   = trusted:u8 u64le(digest)*(to-from+1)
//
// OpSlotKeys asks for one page of a slot's record digests, in (db, key)
// order, after a cursor:
//
//	request = uvarint(slot) cursor uvarint(maxEntries)
//	cursor  = uvarint(0) | uvarint(db+1) str(key)    (0: from the start)
//	reply   = more:u8 uvarint(count) (uvarint(db) str(key) u64le(hash))*count
//	str     = uvarint(len) bytes
//
// A page stops at maxEntries entries or about pageBytes bytes, whichever
// comes first; when more is 1 the next page starts after its last entry.

// maxPageEntries bounds a page request, so that one request cannot make a
// node build a reply of unbounded size; pageBytes bounds the reply's bytes.
const (
	maxPageEntries = 1 << 16
	pageBytes      = 1 << 20
)

func appendStr(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFlag(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Digests is one node's digests of the slots From..From+len(Slot)-1.
type Digests struct {
	From    uint16
	Slot    []uint64
	Trusted bool // false: the node's digests do not match its records
}

func appendDigestsReq(b []byte, from, to uint16) []byte {
	b = binary.AppendUvarint(b, uint64(from))
	return binary.AppendUvarint(b, uint64(to))
}

func decodeDigestsReq(p []byte) (from, to uint16, err error) {
	r := cluster.ReadPayload(p)
	from, to = r.Slot("from slot"), r.Slot("to slot")
	if err := r.End(); err != nil {
		return 0, 0, err
	}
	if from > to {
		return 0, 0, fmt.Errorf("antientropy: malformed payload: slots %d..%d", from, to)
	}
	return from, to, nil
}

func appendDigests(b []byte, d []uint64, trusted bool) []byte {
	b = appendFlag(b, trusted)
	for _, x := range d {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

func decodeDigests(p []byte, from, to uint16) (Digests, error) {
	r := cluster.ReadPayload(p)
	d := Digests{From: from, Trusted: r.Flag("trusted")}
	n := int(to-from) + 1
	if r.Err() == nil && r.Len() != 8*n {
		r.Fail("digest count")
	}
	if r.Err() != nil {
		return Digests{}, r.Err()
	}
	d.Slot = make([]uint64, n)
	for i := range d.Slot {
		d.Slot[i] = r.U64("digest")
	}
	return d, r.End()
}

// cursor is a position in a slot's (db, key) order; a nil Key is the start.
type cursor struct {
	DB  int
	Key []byte
}

type keysReq struct {
	Slot       uint16
	After      cursor
	MaxEntries int
}

func (q keysReq) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(q.Slot))
	if q.After.Key == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(q.After.DB)+1)
		b = appendStr(b, q.After.Key)
	}
	return binary.AppendUvarint(b, uint64(q.MaxEntries))
}

func decodeKeysReq(p []byte) (keysReq, error) {
	r := cluster.ReadPayload(p)
	var q keysReq
	q.Slot = r.Slot("slot")
	if db := r.Uvarint("cursor db"); db > 0 {
		if db > 256 {
			r.Fail("cursor db")
		}
		q.After.DB = int(db - 1)
		q.After.Key = r.Str("cursor key")
		if q.After.Key == nil && r.Err() == nil {
			q.After.Key = []byte{} // after the empty key, a valid Redis key
		}
	}
	n := r.Uvarint("page size")
	if err := r.End(); err != nil {
		return q, err
	}
	if n == 0 || n > maxPageEntries {
		return q, fmt.Errorf("antientropy: malformed payload: page size %d not in 1..%d", n, maxPageEntries)
	}
	q.MaxEntries = int(n)
	return q, nil
}

// entry is one record's digest in a slot.
type entry struct {
	DB   int
	Key  []byte
	Hash uint64
}

func appendKeysReply(b []byte, es []entry, more bool) []byte {
	b = appendFlag(b, more)
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = binary.AppendUvarint(b, uint64(e.DB))
		b = appendStr(b, e.Key)
		b = binary.LittleEndian.AppendUint64(b, e.Hash)
	}
	return b
}

// decodeKeysReply decodes a page for q, checking that its entries are in
// order, after q's cursor and in q's slot. Keys alias p.
func decodeKeysReply(p []byte, q keysReq) (es []entry, more bool, err error) {
	r := cluster.ReadPayload(p)
	more = r.Flag("more")
	n := r.Uvarint("count")
	// An entry takes at least ten bytes: a count past that is a lie.
	if r.Err() == nil && n > uint64(r.Len())/10 {
		r.Fail("count")
	}
	if r.Err() != nil {
		return nil, false, r.Err()
	}
	es = make([]entry, 0, n)
	prev := q.After
	for range n {
		var e entry
		db := r.Uvarint("db")
		if db > 255 {
			r.Fail("db")
		}
		e.DB, e.Key, e.Hash = int(db), r.Str("key"), r.U64("hash")
		if r.Err() != nil {
			return nil, false, r.Err()
		}
		if e.Key == nil {
			e.Key = []byte{}
		}
		if ring.Slot(e.Key) != q.Slot {
			return nil, false, fmt.Errorf("antientropy: malformed payload: key of slot %d in a page of slot %d", ring.Slot(e.Key), q.Slot)
		}
		if prev.Key != nil && compare(prev, cursor{e.DB, e.Key}) >= 0 {
			return nil, false, errors.New("antientropy: malformed payload: entries out of order")
		}
		prev = cursor{e.DB, e.Key}
		es = append(es, e)
	}
	if err := r.End(); err != nil {
		return nil, false, err
	}
	if more && len(es) == 0 {
		return nil, false, errors.New("antientropy: malformed payload: more without entries")
	}
	return es, more, nil
}

// Handlers returns the handlers of OpSlotDigests and OpSlotKeys over store,
// to register with cluster.PeerServer.Handle. A malformed request gets an
// error, never a panic.
func Handlers(store Store) map[cluster.Op]cluster.OpHandler {
	return map[cluster.Op]cluster.OpHandler{
		cluster.OpSlotDigests: func(_ context.Context, _ string, p []byte) ([]byte, error) {
			from, to, err := decodeDigestsReq(p)
			if err != nil {
				return nil, err
			}
			d, trusted := store.SlotDigests(from, to)
			return appendDigests(make([]byte, 0, 1+8*len(d)), d, trusted), nil
		},
		cluster.OpSlotKeys: func(ctx context.Context, _ string, p []byte) ([]byte, error) {
			q, err := decodeKeysReq(p)
			if err != nil {
				return nil, err
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			es, more, err := scanPage(store, q)
			if err != nil {
				return nil, err
			}
			return appendKeysReply(nil, es, more), nil
		},
	}
}

// scanPage reads one page of q's slot from store.
func scanPage(store Store, q keysReq) (es []entry, more bool, err error) {
	size := 0
	err = store.ScanSlotDigests(q.Slot, q.After.DB, q.After.Key, func(db int, key []byte, h uint64) bool {
		if len(es) == q.MaxEntries || size >= pageBytes {
			more = true
			return false
		}
		es = append(es, entry{DB: db, Key: key, Hash: h})
		size += len(key) + 16
		return true
	})
	return es, more, err
}
