package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// OpSlotPage asks a node for one page of the records it holds in a range of
// slots: the range transfer of a node that joined a slot's preference list
// (see Transfers). It is the first op of the range reserved for handoff.
const OpSlotPage Op = OpReservedFirst

// MaxPageBytes bounds a page request's byte budget, so that one request
// cannot make a node build a reply of unbounded size in memory. A page may
// still pass its budget by one record, since every page but the last holds
// at least one record.
const MaxPageBytes = 64 << 20

// pageRequest is one OpSlotPage request: the records of slots From..To
// (inclusive), in every database from DB on, in (database, slot, key)
// order, starting after the cursor (DB, Slot, After), until the reply
// holds about MaxBytes.
//
//	request = uvarint(from) uvarint(to) uvarint(db) uvarint(slot) after uvarint(maxBytes)
//	after   = uvarint(0) | uvarint(len+1) bytes   (0: from the slot's first key)
//
// After is nil to start at Slot's first key; an empty non-nil After starts
// after the empty key, which is a valid Redis key.
type pageRequest struct {
	From, To uint16
	DB       int
	Slot     uint16
	After    []byte
	MaxBytes int
}

func (r pageRequest) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(r.From))
	b = binary.AppendUvarint(b, uint64(r.To))
	b = binary.AppendUvarint(b, uint64(r.DB))
	b = binary.AppendUvarint(b, uint64(r.Slot))
	if r.After == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(r.After))+1)
		b = append(b, r.After...)
	}
	return binary.AppendUvarint(b, uint64(r.MaxBytes))
}

// decodePageRequest decodes and checks a request; databases is the number
// of databases the serving node has.
func decodePageRequest(p []byte, databases int) (pageRequest, error) {
	d := PayloadReader{b: p}
	var r pageRequest
	r.From, r.To = d.Slot("from slot"), d.Slot("to slot")
	r.DB = d.DB()
	r.Slot = d.Slot("cursor slot")
	if n := d.Uvarint("after"); d.err == nil && n > 0 {
		if n-1 > uint64(len(d.b)) {
			d.Fail("after")
		} else {
			r.After = d.b[: n-1 : n-1]
			d.b = d.b[n-1:]
		}
	}
	mb := d.Uvarint("page size")
	if err := d.End(); err != nil {
		return r, err
	}
	var errs []error
	if r.From > r.To || r.Slot < r.From || r.Slot > r.To {
		errs = append(errs, fmt.Errorf("cluster: page request: slots %d..%d with cursor at %d", r.From, r.To, r.Slot))
	}
	if r.DB >= databases {
		errs = append(errs, fmt.Errorf("cluster: page request: db %d out of range [0, %d)", r.DB, databases))
	}
	if mb == 0 || mb > MaxPageBytes {
		errs = append(errs, fmt.Errorf("cluster: page request: page size %d not in 1..%d", mb, MaxPageBytes))
	}
	r.MaxBytes = int(min(mb, MaxPageBytes))
	return r, errors.Join(errs...)
}

// A page reply lists records in (database, slot, key) order:
//
//	reply  = more:u8 uvarint(count) record*count
//	record = uvarint(db) str(key) str(siblings)
//
// with siblings in version.Siblings.AppendBinary's encoding. When more is 1
// there is at least one record, and the next request's cursor is the last
// one: its database, its key's slot and its key.

// pageRecord is one decoded record of a page. Key and Siblings alias the
// reply.
type pageRecord struct {
	DB       int
	Key      []byte
	Siblings version.Siblings
}

// NewSlotPageHandler returns the OpSlotPage handler that serves pages of
// store's records; databases is the number of databases store has. A
// malformed or out-of-range request gets an error, never a panic. The
// handler reads a point-in-time view per slot and database (ScanSlot's),
// so records written while a transfer runs may or may not be in it: the
// puller receives those writes directly, being in the slots' preference
// lists already.
func NewSlotPageHandler(store coordinator.Store, databases int) OpHandler {
	return func(ctx context.Context, _ string, payload []byte) ([]byte, error) {
		r, err := decodePageRequest(payload, databases)
		if err != nil {
			return nil, err
		}
		return servePage(ctx, store, databases, r)
	}
}

func servePage(ctx context.Context, store coordinator.Store, databases int, r pageRequest) ([]byte, error) {
	// The count goes before the records but is known only after them: the
	// records are built in body and the header prepended at the end.
	var body []byte
	count, more := 0, false
	add := func(db int, key []byte, sib version.Siblings) bool {
		body = binary.AppendUvarint(body, uint64(db))
		body = appendStr(body, key)
		rec := sib.AppendBinary(nil)
		body = appendStr(body, rec)
		count++
		if len(body) >= r.MaxBytes {
			more = true
			return false
		}
		return true
	}
	for db := r.DB; db < databases && !more; db++ {
		from, after := r.From, []byte(nil)
		if db == r.DB {
			from, after = r.Slot, r.After
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if after != nil {
			err := store.ScanSlot(db, from, after, func(key []byte, sib version.Siblings) bool { return add(db, key, sib) })
			if err != nil {
				return nil, fmt.Errorf("cluster: page of slot %d db %d: %w", from, db, err)
			}
			if more || from == r.To {
				continue
			}
			from++
		}
		err := store.ScanSlots(db, from, r.To, func(_ uint16, key []byte, sib version.Siblings) bool { return add(db, key, sib) })
		if err != nil {
			return nil, fmt.Errorf("cluster: page of slots %d..%d db %d: %w", from, r.To, db, err)
		}
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(body))
	if more {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	out = binary.AppendUvarint(out, uint64(count))
	return append(out, body...), nil
}

// decodePage decodes a page reply for request r, checking that every
// record lies in r's slots and comes after r's cursor's database.
func decodePage(p []byte, r pageRequest, ids *version.Decoder) (recs []pageRecord, more bool, err error) {
	if len(p) < 1 || p[0] > 1 {
		return nil, false, errors.New("cluster: malformed page: bad flag")
	}
	more = p[0] == 1
	d := PayloadReader{b: p[1:]}
	n := d.Uvarint("count")
	// A record takes at least three bytes: a count past that is a lie.
	if d.err == nil && n > uint64(len(d.b))/3 {
		d.Fail("count")
	}
	if d.err != nil {
		return nil, false, d.err
	}
	recs = make([]pageRecord, 0, n)
	for range n {
		db := d.DB()
		key := d.Str("key")
		raw := d.Str("record")
		if d.err != nil {
			return nil, false, d.err
		}
		if db < r.DB {
			return nil, false, fmt.Errorf("cluster: malformed page: db %d before the cursor's %d", db, r.DB)
		}
		if s := ring.Slot(key); s < r.From || s > r.To {
			return nil, false, fmt.Errorf("cluster: malformed page: key of slot %d outside %d..%d", s, r.From, r.To)
		}
		sib, err := ids.Decode(raw)
		if err != nil {
			return nil, false, fmt.Errorf("cluster: malformed page: record of %q: %w", key, err)
		}
		recs = append(recs, pageRecord{DB: db, Key: key, Siblings: sib})
	}
	if err := d.End(); err != nil {
		return nil, false, err
	}
	if more && len(recs) == 0 {
		return nil, false, errors.New("cluster: malformed page: more without records")
	}
	return recs, more, nil
}
