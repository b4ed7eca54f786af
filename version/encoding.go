package version

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// Reasons a record does not decode. They are values, not built per call, so
// that rejecting hostile bytes allocates nothing.
var (
	errFormat    = corrupt("unknown format")
	errLength    = corrupt("bad length")
	errVarint    = corrupt("bad varint")
	errOverlong  = corrupt("non-minimal varint")
	errCount     = corrupt("bad sibling count")
	errClockSize = corrupt("bad clock size")
	errClock     = corrupt("bad clock")
	errFlags     = corrupt("bad flags")
	errTrailing  = corrupt("trailing bytes")
	errCanonical = corrupt("not a canonical sibling set")
)

func corrupt(what string) error { return fmt.Errorf("%w: %s", ErrCorrupt, what) }

// Smallest encodings, used to bound declared counts by the bytes that remain
// before allocating for them.
const (
	minVersionLen = 7 // empty clock, one-byte timestamp, empty writer, expiry, flags, kind, empty value
	minEntryLen   = 4 // one-byte node ID, counter and stamp
)

// AppendBinary appends the record encoding of s to b. Decode accepts exactly
// the bytes AppendBinary makes from a canonical set, so equal sets have equal
// encodings.
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
// not a valid sibling set is ErrCorrupt, as is any encoding AppendBinary would
// not have produced (over-long varints, trailing bytes). Every error wraps
// ErrCorrupt. Decode allocates only for what it has actually read, never for
// a declared count or length.
func Decode(b []byte) (Siblings, error) {
	d := decoder{b: b}
	if d.byte() != recordFormat {
		return nil, errFormat
	}
	n := d.uvarint()
	if d.err == nil && (n > MaxSiblings || n > uint64(len(d.b)/minVersionLen)) {
		d.fail(errCount)
	}
	var s Siblings
	for i := uint64(0); i < n && d.err == nil; i++ {
		var v Version
		v.Clock = d.clock(MaxClockEntries)
		v.Timestamp = HLC(d.uvarint())
		v.Writer = d.str(maxNodeIDLen)
		v.ExpireAt = d.varint()
		flags := d.byte()
		if flags&^1 != 0 {
			d.fail(errFlags)
		}
		v.Tombstone = flags&1 != 0
		v.Kind = Kind(d.byte())
		v.Value = d.bytes(len(d.b))
		if d.err != nil {
			break
		}
		// Canonical means sorted by newer and pairwise concurrent, which is
		// exactly what reconcile returns; checking as we go rejects a
		// hostile record at its first bad version.
		if i > 0 && newer(&s[i-1], &v) >= 0 {
			d.fail(errCanonical)
			break
		}
		for j := range s {
			if Compare(s[j].Clock, v.Clock) != Concurrent {
				d.fail(errCanonical)
				break
			}
		}
		if d.err != nil {
			break
		}
		s = append(s, v)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(errTrailing)
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

type decoder struct {
	b   []byte
	err error

	// names are node IDs decoded so far, reused rather than allocated again:
	// a record names the same few nodes in every clock and as writers.
	names  [8]string
	nnames int
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(errLength)
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
		d.fail(errVarint)
		return 0
	}
	if n > 1 && d.b[n-1] == 0 {
		// A last byte of zero adds nothing: a longer encoding of a value
		// AppendUvarint writes shorter.
		d.fail(errOverlong)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	ux := d.uvarint() // AppendVarint is AppendUvarint of the zig-zag encoding
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) || n > uint64(limit) {
		d.fail(errLength)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// str decodes a node ID, reusing an identical one decoded before.
func (d *decoder) str(limit int) string {
	b := d.bytes(limit)
	if s, ok := d.known(b); ok {
		return s
	}
	s := string(b)
	d.remember(s)
	return s
}

// known returns a node ID equal to b decoded before, if any.
func (d *decoder) known(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", true
	}
	for _, s := range d.names[:d.nnames] {
		if s == string(b) {
			return s, true
		}
	}
	return "", false
}

func (d *decoder) remember(s string) {
	if d.nnames < len(d.names) {
		d.names[d.nnames] = s
		d.nnames++
	}
}

// clock decodes a clock of at most limit entries that is well formed
// (sorted, unique, non-empty node IDs, counters above zero).
func (d *decoder) clock(limit int) Clock {
	n := d.uvarint()
	if d.err == nil && (n > uint64(limit) || n > uint64(len(d.b)/minEntryLen)) {
		d.fail(errClockSize)
	}
	if d.err != nil || n == 0 {
		return nil
	}
	if n > MaxClockEntries {
		return d.longClock(int(n))
	}
	// Decode on the stack and allocate only for a clock that is good: one
	// slice of entries and one string holding every new node ID.
	var entries [MaxClockEntries]Entry
	var nodes [MaxClockEntries][]byte
	for i := range n {
		nodes[i] = d.bytes(maxNodeIDLen)
		entries[i].Counter = d.uvarint()
		entries[i].Stamp = HLC(d.uvarint())
		if d.err != nil {
			return nil
		}
		if len(nodes[i]) == 0 || entries[i].Counter == 0 || (i > 0 && bytes.Compare(nodes[i-1], nodes[i]) >= 0) {
			d.fail(errClock)
			return nil
		}
	}
	size := 0
	for i := range n {
		if s, ok := d.known(nodes[i]); ok {
			entries[i].Node = s
			nodes[i] = nil
		}
		size += len(nodes[i])
	}
	var fresh strings.Builder
	fresh.Grow(size)
	for i := range n {
		fresh.Write(nodes[i])
	}
	all, off := fresh.String(), 0
	for i := range n {
		if nodes[i] != nil {
			entries[i].Node = all[off : off+len(nodes[i])]
			off += len(nodes[i])
			d.remember(entries[i].Node)
		}
	}
	return slices.Clone(entries[:n])
}

// longClock decodes the n entries of a clock longer than MaxClockEntries,
// which only a context token holds.
func (d *decoder) longClock(n int) Clock {
	c := make(Clock, 0, n)
	for range n {
		var e Entry
		e.Node = d.str(maxNodeIDLen)
		e.Counter = d.uvarint()
		e.Stamp = HLC(d.uvarint())
		if d.err != nil {
			return nil
		}
		c = append(c, e)
	}
	if !c.wellFormed() {
		d.fail(errClock)
		return nil
	}
	return c
}

// ErrBadContext is returned for a context token that did not come from
// EncodeContext.
var ErrBadContext = errors.New("version: malformed context")

// contextEncoding is strict so that every clock has exactly one token.
var contextEncoding = base64.RawURLEncoding.Strict()

// EncodeContext returns the opaque token clients pass back to supersede
// exactly the versions a read showed them: unpadded URL-safe base64 of a
// format byte and the clock. c may have more than MaxClockEntries entries
// (the merge of several siblings' clocks). DecodeContext refuses tokens
// longer than 4096 characters, which a clock reaches only past about sixty
// entries with 36-byte node IDs.
func EncodeContext(c Clock) string {
	return contextEncoding.EncodeToString(c.appendBinary([]byte{recordFormat}))
}

// DecodeContext parses a token made by EncodeContext, rejecting malformed or
// oversized ones with an error that wraps ErrBadContext. It accepts exactly
// the tokens EncodeContext makes from well-formed clocks.
func DecodeContext(token string) (Clock, error) {
	if len(token) > maxContextLen {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrBadContext, maxContextLen)
	}
	if strings.ContainsAny(token, "\r\n") {
		// The base64 decoder skips line breaks; a token has none.
		return nil, fmt.Errorf("%w: line break", ErrBadContext)
	}
	raw, err := contextEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContext, err)
	}
	d := decoder{b: raw}
	if d.byte() != recordFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrBadContext)
	}
	c := d.clock(len(raw))
	if d.err == nil && len(d.b) != 0 {
		d.fail(errTrailing)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContext, d.err)
	}
	return c, nil
}
