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

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("antientropy: malformed payload")

// reader decodes a payload, checking every length against what remains, so
// that a hostile payload costs at most its own size.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", errMalformed, what)
	}
	r.b = nil
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) slot(what string) uint16 {
	v := r.uvarint(what)
	if v >= ring.NumSlots {
		r.fail(what)
	}
	return uint16(v)
}

func (r *reader) str(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) u64(what string) uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) flag(what string) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < 1 || r.b[0] > 1 {
		r.fail(what)
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

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
	r := reader{b: p}
	from, to = r.slot("from slot"), r.slot("to slot")
	if err := r.end(); err != nil {
		return 0, 0, err
	}
	if from > to {
		return 0, 0, fmt.Errorf("%w: slots %d..%d", errMalformed, from, to)
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
	r := reader{b: p}
	d := Digests{From: from, Trusted: r.flag("trusted")}
	n := int(to-from) + 1
	if r.err == nil && len(r.b) != 8*n {
		r.fail("digest count")
	}
	if r.err != nil {
		return Digests{}, r.err
	}
	d.Slot = make([]uint64, n)
	for i := range d.Slot {
		d.Slot[i] = r.u64("digest")
	}
	return d, r.end()
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
	r := reader{b: p}
	var q keysReq
	q.Slot = r.slot("slot")
	if db := r.uvarint("cursor db"); db > 0 {
		if db > 256 {
			r.fail("cursor db")
		}
		q.After.DB = int(db - 1)
		q.After.Key = r.str("cursor key")
		if q.After.Key == nil && r.err == nil {
			q.After.Key = []byte{} // after the empty key, a valid Redis key
		}
	}
	n := r.uvarint("page size")
	if err := r.end(); err != nil {
		return q, err
	}
	if n == 0 || n > maxPageEntries {
		return q, fmt.Errorf("%w: page size %d not in 1..%d", errMalformed, n, maxPageEntries)
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
	r := reader{b: p}
	more = r.flag("more")
	n := r.uvarint("count")
	// An entry takes at least ten bytes: a count past that is a lie.
	if r.err == nil && n > uint64(len(r.b))/10 {
		r.fail("count")
	}
	if r.err != nil {
		return nil, false, r.err
	}
	es = make([]entry, 0, n)
	prev := q.After
	for range n {
		var e entry
		db := r.uvarint("db")
		if db > 255 {
			r.fail("db")
		}
		e.DB, e.Key, e.Hash = int(db), r.str("key"), r.u64("hash")
		if r.err != nil {
			return nil, false, r.err
		}
		if e.Key == nil {
			e.Key = []byte{}
		}
		if ring.Slot(e.Key) != q.Slot {
			return nil, false, fmt.Errorf("%w: key of slot %d in a page of slot %d", errMalformed, ring.Slot(e.Key), q.Slot)
		}
		if prev.Key != nil && compare(prev, cursor{e.DB, e.Key}) >= 0 {
			return nil, false, fmt.Errorf("%w: entries out of order", errMalformed)
		}
		prev = cursor{e.DB, e.Key}
		es = append(es, e)
	}
	if err := r.end(); err != nil {
		return nil, false, err
	}
	if more && len(es) == 0 {
		return nil, false, fmt.Errorf("%w: more without entries", errMalformed)
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
