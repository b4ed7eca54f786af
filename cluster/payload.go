package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/ringstore/ringstore/ring"
)

// PayloadReader decodes an op payload field by field. Every length is
// checked against the bytes that remain, so a hostile payload costs at most
// its own size; the first bad field sets Err, empties the reader and makes
// every later read return a zero value. It is exported so that ops served
// outside this package (package antientropy) decode their payloads the
// same way as the built-in ones.
type PayloadReader struct {
	b   []byte
	err error
}

// ReadPayload returns a reader of p; the slices it returns alias p.
func ReadPayload(p []byte) PayloadReader { return PayloadReader{b: p} }

// Fail records that the field what is malformed, unless an earlier one was.
func (d *PayloadReader) Fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("malformed payload: bad %s", what)
	}
	d.b = nil
}

// Err is the first decoding error, or nil.
func (d *PayloadReader) Err() error { return d.err }

// Len is the number of bytes left.
func (d *PayloadReader) Len() int { return len(d.b) }

// Uvarint reads an unsigned varint.
func (d *PayloadReader) Uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// DB reads a database number as a uvarint (its range is the handler's to
// check).
func (d *PayloadReader) DB() int {
	v := d.Uvarint("db")
	if v > maxDB {
		d.Fail("db")
		return 0
	}
	return int(v)
}

// Slot reads a slot number as a uvarint.
func (d *PayloadReader) Slot(what string) uint16 {
	v := d.Uvarint(what)
	if v >= ring.NumSlots {
		d.Fail(what)
		return 0
	}
	return uint16(v)
}

// Str reads a uvarint length and that many bytes.
func (d *PayloadReader) Str(what string) []byte {
	n := d.Uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.Fail(what)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// U64 reads a fixed 8-byte little-endian integer.
func (d *PayloadReader) U64(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.Fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// Flag reads a byte that must be 0 or 1.
func (d *PayloadReader) Flag(what string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < 1 || d.b[0] > 1 {
		d.Fail(what)
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// Rest returns the remaining bytes.
func (d *PayloadReader) Rest() []byte {
	r := d.b
	d.b = nil
	return r
}

// End reports the first error, or a malformed payload if bytes remain.
func (d *PayloadReader) End() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail("trailing bytes")
	}
	return d.err
}
