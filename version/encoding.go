package version

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Record format: the bytes a replica stores and sends for a key. Version 1:
//
//	record  = 0x01 uvarint(count) version*count
//	version = clock uvarint(timestamp) str(writer) varint(expireAt) flags kind str(value)
//	clock   = uvarint(n) (str(node) uvarint(counter) uvarint(stamp))*n
//	str     = uvarint(len) bytes
//
// flags bit 0 is the tombstone. Decode checks every length against the bytes
// that remain, so a corrupt or hostile record costs at most its own size.
const recordFormat = 1

// Limits a decoder enforces on any input.
const (
	MaxSiblings   = 1024
	maxNodeIDLen  = 256
	maxContextLen = 4096 // bytes of a context token, as text
)

// ErrCorrupt is returned for bytes that are not a well-formed record.
var ErrCorrupt = errors.New("version: corrupt record")

// AppendBinary appends the record encoding of s to b.
func (s Siblings) AppendBinary(b []byte) []byte {
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(len(s)))
	for i := range s {
		v := &s[i]
		b = v.Clock.appendBinary(b)
		b = binary.AppendUvarint(b, uint64(v.Timestamp))
		b = appendStr(b, v.Writer)
		b = binary.AppendVarint(b, v.ExpireAt)
		var flags byte
		if v.Tombstone {
			flags |= 1
		}
		b = append(b, flags, byte(v.Kind))
		b = binary.AppendUvarint(b, uint64(len(v.Value)))
		b = append(b, v.Value...)
	}
	return b
}

func (c Clock) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(c)))
	for _, e := range c {
		b = appendStr(b, e.Node)
		b = binary.AppendUvarint(b, e.Counter)
		b = binary.AppendUvarint(b, uint64(e.Stamp))
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode parses a record. Value slices of the result alias b, so b must not
// be modified afterwards. The result is canonical: a record whose versions are
// not a valid sibling set is ErrCorrupt.
func Decode(b []byte) (Siblings, error) {
	d := decoder{b: b}
	if d.byte() != recordFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrCorrupt)
	}
	n := d.uvarint()
	if d.err == nil && (n > MaxSiblings || n > uint64(len(d.b))) {
		d.fail("sibling count")
	}
	s := make(Siblings, 0, int(min(n, MaxSiblings)))
	for i := uint64(0); i < n && d.err == nil; i++ {
		var v Version
		v.Clock = d.clock()
		v.Timestamp = HLC(d.uvarint())
		v.Writer = d.str(maxNodeIDLen)
		v.ExpireAt = d.varint()
		flags := d.byte()
		if flags&^1 != 0 {
			d.fail("flags")
		}
		v.Tombstone = flags&1 != 0
		v.Kind = Kind(d.byte())
		v.Value = d.bytes(len(d.b))
		s = append(s, v)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	if !reconcile(s).Equal(s) {
		return nil, fmt.Errorf("%w: not a canonical sibling set", ErrCorrupt)
	}
	return s, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("length")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) || n > uint64(limit) {
		d.fail("length")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(limit int) string { return string(d.bytes(limit)) }

func (d *decoder) clock() Clock {
	n := d.uvarint()
	if d.err == nil && n > MaxClockEntries {
		d.fail("clock size")
	}
	if d.err != nil || n == 0 {
		return nil
	}
	c := make(Clock, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		c = append(c, Entry{Node: d.str(maxNodeIDLen), Counter: d.uvarint(), Stamp: HLC(d.uvarint())})
	}
	if d.err == nil && !c.Valid() {
		d.fail("clock")
	}
	return c
}

// ErrBadContext is returned for a context token that did not come from
// EncodeContext.
var ErrBadContext = errors.New("version: malformed context")

// EncodeContext returns the opaque token clients pass back to supersede
// exactly the versions a read showed them.
func EncodeContext(c Clock) string {
	return base64.RawURLEncoding.EncodeToString(c.appendBinary([]byte{recordFormat}))
}

// DecodeContext parses a token made by EncodeContext, rejecting malformed or
// oversized ones with ErrBadContext.
func DecodeContext(token string) (Clock, error) {
	if len(token) > maxContextLen {
		return nil, fmt.Errorf("%w: too long", ErrBadContext)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContext, err)
	}
	d := decoder{b: raw}
	if d.byte() != recordFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrBadContext)
	}
	c := d.clock()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContext, d.err)
	}
	return c, nil
}
