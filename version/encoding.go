package version

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Record format: the bytes a replica stores and sends for a key. Version 2,
// which AppendBinary writes:
//
//	record  = 0x02 uvarint(count) version*count
//	version = uvarint(timestamp) clock writer varint(expireAt) flags kind str(value)
//	clock   = uvarint(n) (id uvarint(counter) varint(timestamp - stamp))*n
//	writer  = uvarint(i)   the node of the clock's entry i (1-based)
//	        | 0x00 id      a writer the clock does not name
//	id      = 0x00 byte*20 a node ID of 40 lowercase hex digits, packed
//	        | uvarint(len+1) byte*len   any other ID, as it is
//	str     = uvarint(len) bytes
//
// Version 1, which stores and peers from before version 2 hold and Decode
// still reads:
//
//	record  = 0x01 uvarint(count) version*count
//	version = clock uvarint(timestamp) str(writer) varint(expireAt) flags kind str(value)
//	clock   = uvarint(n) (str(node) uvarint(counter) uvarint(stamp))*n
//
// Version 2 exists because version 1 spent about half of a typical record on
// node IDs: a cluster's IDs are 40 hex digits, written out twice (the
// writer's clock entry and the writer), with the entry's stamp, nine bytes,
// equal to the version's timestamp. A SET of a 100-byte value made a
// 209-byte record; it now makes 141, and every layer that moves records
// (the WAL, the memtable, flushes and compactions, the record cache, peer
// calls) moves a third less. The choices that keep version 2 canonical:
// an ID is packed exactly when it can be; the writer is a reference exactly
// when the clock names it; stamps are differences from the timestamp, so
// the writer's own entry costs one byte.
//
// flags bit 0 is the tombstone. Decode checks every length against the bytes
// that remain, so a corrupt or hostile record costs at most its own size.
const (
	recordFormat   = 2
	recordFormatV1 = 1
	// contextFormat is the first byte of a context token, whose clock keeps
	// version 1's layout: tokens are text a client holds, rarely written,
	// and their format is theirs.
	contextFormat = 1
)

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
	// minVersionLen is format 1's smallest version: empty clock, one-byte
	// timestamp, empty writer, expiry, flags, kind, empty value. Format 2's
	// is a byte longer (an empty writer is two bytes), so it bounds both.
	minVersionLen = 7
	minEntryLen   = 4 // one-byte node ID and its length, counter and stamp
	packedIDLen   = 20
	hexIDLen      = 2 * packedIDLen
)

// AppendBinary appends the record encoding of s to b, in format 2. Of format
// 2, Decode accepts exactly the bytes AppendBinary makes from a canonical
// set, so equal sets have equal encodings; of format 1, exactly the bytes
// format 1 made of one.
func (s Siblings) AppendBinary(b []byte) []byte {
	if n := s.encodedLen(); cap(b)-len(b) < n {
		b = append(make([]byte, 0, len(b)+n), b...)
	}
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(len(s)))
	for i := range s {
		v := &s[i]
		b = binary.AppendUvarint(b, uint64(v.Timestamp))
		b = binary.AppendUvarint(b, uint64(len(v.Clock)))
		for _, e := range v.Clock {
			b = appendID(b, e.Node)
			b = binary.AppendUvarint(b, e.Counter)
			b = binary.AppendVarint(b, stampDelta(v.Timestamp, e.Stamp))
		}
		if i, ok := v.Clock.find(v.Writer); ok {
			b = binary.AppendUvarint(b, uint64(i+1))
		} else {
			b = appendID(append(b, 0), v.Writer)
		}
		b = v.appendTail(b)
	}
	return b
}

// appendTail appends what follows the writer in both formats: the expiry,
// flags, kind and value.
func (v *Version) appendTail(b []byte) []byte {
	b = binary.AppendVarint(b, v.ExpireAt)
	var flags byte
	if v.Tombstone {
		flags |= 1
	}
	b = append(b, flags, byte(v.Kind))
	b = binary.AppendUvarint(b, uint64(len(v.Value)))
	return append(b, v.Value...)
}

// encodedLen is the length of s.AppendBinary(nil), so that AppendBinary
// allocates once, exactly.
func (s Siblings) encodedLen() int {
	n := 1 + uvarintLen(uint64(len(s)))
	for i := range s {
		v := &s[i]
		n += uvarintLen(uint64(v.Timestamp)) + uvarintLen(uint64(len(v.Clock)))
		for _, e := range v.Clock {
			n += idLen(e.Node) + uvarintLen(e.Counter) + uvarintLen(zigzag(stampDelta(v.Timestamp, e.Stamp)))
		}
		if i, ok := v.Clock.find(v.Writer); ok {
			n += uvarintLen(uint64(i + 1))
		} else {
			n += 1 + idLen(v.Writer)
		}
		n += uvarintLen(zigzag(v.ExpireAt)) + 2 + strLen(len(v.Value))
	}
	return n
}

// stampDelta is how far before ts an entry's stamp lies, as version 2
// stores it: wrapping, so that every pair of stamps has one.
func stampDelta(ts, stamp HLC) int64 { return int64(ts - stamp) }

// packable reports whether a node ID is 40 lowercase hex digits, which
// version 2 stores as the 20 bytes they spell. Every ID of every version
// written goes through it (encodedLen), and a looked-up byte at a time it
// was 2-3% of a pipelined SET's CPU, so it tests eight bytes at once: in
// each byte of a word, adding 0x80-lo sets the top bit exactly when the
// byte is at least lo, and adding 0x7f-hi exactly when it is above hi,
// without carrying into the next byte as long as no byte has its top bit
// set (which alone makes the ID unpackable).
func packable[T string | []byte](id T) bool {
	if len(id) != hexIDLen {
		return false
	}
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	var bad uint64
	for i := 0; i < hexIDLen; i += 8 {
		x := uint64(id[i]) | uint64(id[i+1])<<8 | uint64(id[i+2])<<16 | uint64(id[i+3])<<24 |
			uint64(id[i+4])<<32 | uint64(id[i+5])<<40 | uint64(id[i+6])<<48 | uint64(id[i+7])<<56
		digit := (x + (0x80-'0')*ones) &^ (x + (0x7f-'9')*ones)
		lower := (x + (0x80-'a')*ones) &^ (x + (0x7f-'f')*ones)
		bad |= x&tops | ^(digit|lower)&tops
	}
	return bad == 0
}

// hexValue maps a lowercase hex digit to its value and any other byte to
// notHex. Computed once and never written: a constant the language cannot
// spell.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = notHex
	}
	for i := range len(hexDigits) {
		t[hexDigits[i]] = byte(i)
	}
	return t
}()

const (
	notHex    = 0x10
	hexDigits = "0123456789abcdef"
)

// appendID appends a node ID in version 2's encoding. It packs an ID of
// the right length and checks its digits in the same pass, falling back to
// the ID as it is when one is not a lowercase hex digit; so b must have
// room for that longer form (AppendBinary sizes it with idLen), or a failed
// packing writes into b's array past its length before the append that
// grows it.
func appendID(b []byte, id string) []byte {
	if len(id) == hexIDLen {
		start := len(b)
		b = append(b, 0)
		b = slices.Grow(b, packedIDLen)
		p := b[len(b) : len(b)+packedIDLen]
		var seen byte
		for i := range p {
			hi, lo := hexValue[id[2*i]], hexValue[id[2*i+1]]
			seen |= hi | lo
			p[i] = hi<<4 | lo
		}
		if seen&notHex == 0 {
			return b[:len(b)+packedIDLen]
		}
		b = b[:start]
	}
	b = binary.AppendUvarint(b, uint64(len(id))+1)
	return append(b, id...)
}

// idLen is the length of appendID(nil, id).
func idLen(id string) int {
	if packable(id) {
		return 1 + packedIDLen
	}
	return uvarintLen(uint64(len(id))+1) + len(id)
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func strLen(n int) int { return uvarintLen(uint64(n)) + n }

// zigzag is how binary.AppendVarint maps a signed value to the unsigned one
// it writes.
func zigzag(x int64) uint64 { return uint64(x<<1) ^ uint64(x>>63) }

// appendBinary appends c in version 1's layout, which context tokens use.
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

// knownFormat reports whether a record's first byte is a format Decode
// reads.
func knownFormat(f byte) bool { return f == recordFormat || f == recordFormatV1 }

// Outdated reports whether rec is a record in a format AppendBinary no
// longer writes. It decodes as any other; a store rewrites it, so that
// replicas holding equal sets hold equal bytes (anti-entropy compares
// hashes of them).
func Outdated(rec []byte) bool { return len(rec) > 0 && rec[0] == recordFormatV1 }

// Decode parses a record. Value slices of the result alias b, so b must not
// be modified afterwards. The result is canonical: a record whose versions are
// not a valid sibling set is ErrCorrupt, as is any encoding AppendBinary would
// not have produced (over-long varints, trailing bytes). Every error wraps
// ErrCorrupt. Decode allocates only for what it has actually read, never for
// a declared count or length.
func Decode(b []byte) (Siblings, error) { return decodeRecord(b, nil) }

func decodeRecord(b []byte, ids *Decoder) (Siblings, error) {
	d := reader{b: b, ids: ids}
	format := d.byte()
	if !knownFormat(format) {
		return nil, errFormat
	}
	n := d.uvarint()
	if d.err == nil && (n > MaxSiblings || n > uint64(len(d.b)/minVersionLen)) {
		d.fail(errCount)
	}
	var s Siblings
	// One clock at a time is decoded here, then copied to the heap once the
	// version around it has decoded too.
	var entries [MaxClockEntries]Entry
	for i := uint64(0); i < n && d.err == nil; i++ {
		v, k := d.version(format, &entries)
		if d.err != nil {
			break
		}
		if n == 1 {
			// Most keys hold one version: one allocation for it and its clock.
			s = single(v, entries[:k])
			break
		}
		if k > 0 {
			v.Clock = slices.Clone(entries[:k])
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

// version decodes one version of a record in format, with its clock's
// entries in entries[:k] and v.Clock left nil.
func (d *reader) version(format byte, entries *[MaxClockEntries]Entry) (v Version, k int) {
	if format == recordFormat {
		v.Timestamp = HLC(d.uvarint())
		k = d.clock(entries, format, v.Timestamp)
		v.Writer = d.writer(entries[:k])
	} else {
		k = d.clock(entries, format, 0)
		v.Timestamp = HLC(d.uvarint())
		v.Writer = d.str(maxNodeIDLen)
	}
	v.ExpireAt = d.varint()
	flags := d.byte()
	if flags&^1 != 0 {
		d.fail(errFlags)
	}
	v.Tombstone = flags&1 != 0
	v.Kind = Kind(d.byte())
	v.Value = d.bytes(len(d.b))
	return v, k
}

// single returns Siblings{v} with v's clock a copy of c, both in one
// allocation sized for c.
func single(v Version, c []Entry) Siblings {
	switch {
	case len(c) == 0:
		return Siblings{v}
	case len(c) == 1: // a key only ever written through one node
		blk := new(struct {
			v [1]Version
			e [1]Entry
		})
		return fill(blk.v[:], blk.e[:], v, c)
	case len(c) <= 3: // a key's replicas, in a cluster of N=3
		blk := new(struct {
			v [1]Version
			e [3]Entry
		})
		return fill(blk.v[:], blk.e[:], v, c)
	default:
		blk := new(struct {
			v [1]Version
			e [MaxClockEntries]Entry
		})
		return fill(blk.v[:], blk.e[:], v, c)
	}
}

// fill stores v, with a copy of c in e as its clock, as s's only version.
func fill(s Siblings, e Clock, v Version, c []Entry) Siblings {
	v.Clock = e[:copy(e, c):len(c)]
	s[0] = v
	return s
}

// reader is the state of one decoding.
type reader struct {
	b   []byte
	err error

	ids *Decoder // where node IDs come from; nil: names below

	// names are node IDs decoded so far, reused rather than allocated again:
	// a record names the same few nodes in every clock and as writers.
	names  [8]string
	nnames int
}

func (d *reader) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *reader) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(errLength)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *reader) uvarint() uint64 {
	// Lengths, counts and most counters are one byte: inline those. (A
	// failed reader has no bytes left, so this never reads past an error.)
	b := d.b
	if len(b) == 0 || b[0] >= 0x80 {
		return d.uvarintSlow()
	}
	d.b = b[1:]
	return uint64(b[0])
}

func (d *reader) uvarintSlow() uint64 {
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

func (d *reader) varint() int64 {
	ux := d.uvarint() // AppendVarint is AppendUvarint of the zig-zag encoding
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *reader) bytes(limit int) []byte {
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
func (d *reader) str(limit int) string { return d.name(d.bytes(limit)) }

// name returns a node ID as a string, reusing an identical one decoded
// before.
func (d *reader) name(b []byte) string {
	if d.ids != nil {
		return d.ids.id(b)
	}
	if s, ok := d.known(b); ok {
		return s
	}
	s := string(b)
	d.remember(s)
	return s
}

// known returns a node ID equal to b decoded before, if any.
func (d *reader) known(b []byte) (string, bool) {
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

func (d *reader) remember(s string) {
	if d.nnames < len(d.names) {
		d.names[d.nnames] = s
		d.nnames++
	}
}

// clock decodes a clock of at most MaxClockEntries entries into c and
// returns its length: in format 1's layout, or in format 2's, whose IDs may
// be packed and whose stamps are differences from ts. Only a clock that is
// well formed (sorted, unique, non-empty node IDs, counters above zero)
// costs allocations, for node IDs not seen before.
func (d *reader) clock(c *[MaxClockEntries]Entry, format byte, ts HLC) int {
	n := d.uvarint()
	if d.err == nil && (n > MaxClockEntries || n > uint64(len(d.b)/minEntryLen)) {
		d.fail(errClockSize)
	}
	if d.err != nil || n == 0 {
		return 0
	}
	var nodes [MaxClockEntries][]byte
	var text [MaxClockEntries][hexIDLen]byte
	for i := range n {
		if format == recordFormat {
			nodes[i] = d.id(&text[i])
			c[i].Counter = d.uvarint()
			c[i].Stamp = ts - HLC(d.varint())
		} else {
			nodes[i] = d.bytes(maxNodeIDLen)
			c[i].Counter = d.uvarint()
			c[i].Stamp = HLC(d.uvarint())
		}
		if d.err != nil {
			return 0
		}
		if len(nodes[i]) == 0 || c[i].Counter == 0 || (i > 0 && bytes.Compare(nodes[i-1], nodes[i]) >= 0) {
			d.fail(errClock)
			return 0
		}
	}
	if d.ids != nil {
		for i := range n {
			c[i].Node = d.ids.id(nodes[i])
		}
		return int(n)
	}
	// One string holds every node ID not seen before.
	size := 0
	for i := range n {
		if s, ok := d.known(nodes[i]); ok {
			c[i].Node = s
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
			c[i].Node = all[off : off+len(nodes[i])]
			off += len(nodes[i])
			d.remember(c[i].Node)
		}
	}
	return int(n)
}

// id decodes a version 2 node ID: the record's own bytes, or, for a packed
// one, its hex digits written into text.
func (d *reader) id(text *[hexIDLen]byte) []byte {
	tag := d.uvarint()
	if d.err != nil {
		return nil
	}
	if tag == 0 {
		if len(d.b) < packedIDLen {
			d.fail(errLength)
			return nil
		}
		for i, c := range d.b[:packedIDLen] {
			text[2*i], text[2*i+1] = hexDigits[c>>4], hexDigits[c&0xf]
		}
		d.b = d.b[packedIDLen:]
		return text[:]
	}
	n := tag - 1
	if n > uint64(len(d.b)) || n > maxNodeIDLen {
		d.fail(errLength)
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	if packable(b) {
		d.fail(errCanonical) // AppendBinary would have packed it
		return nil
	}
	return b
}

// writer decodes a version 2 writer, given the version's clock c.
func (d *reader) writer(c []Entry) string {
	i := d.uvarint()
	if d.err != nil {
		return ""
	}
	if i > 0 {
		if i > uint64(len(c)) {
			d.fail(errClock)
			return ""
		}
		return c[i-1].Node
	}
	var text [hexIDLen]byte
	b := d.id(&text)
	if d.err != nil {
		return ""
	}
	for _, e := range c {
		if e.Node == string(b) {
			d.fail(errCanonical) // AppendBinary would have referred to the entry
			return ""
		}
	}
	return d.name(b)
}

// anyClock decodes a clock of at most limit entries, which may exceed
// MaxClockEntries (a context token's).
func (d *reader) anyClock(limit int) Clock {
	save := d.b
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
	d.b = save
	var c [MaxClockEntries]Entry
	k := d.clock(&c, contextFormat, 0)
	if d.err != nil {
		return nil
	}
	return slices.Clone(c[:k])
}

// longClock decodes the n entries of a clock longer than MaxClockEntries,
// which only a context token holds.
func (d *reader) longClock(n int) Clock {
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
	return contextEncoding.EncodeToString(c.appendBinary([]byte{contextFormat}))
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
	d := reader{b: raw}
	if d.byte() != contextFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrBadContext)
	}
	c := d.anyClock(len(raw))
	if d.err == nil && len(d.b) != 0 {
		d.fail(errTrailing)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadContext, d.err)
	}
	return c, nil
}
