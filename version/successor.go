package version

// AppendSuccessor appends to b the record of the version that supersedes
// every version of old, a record (empty: the key holds none), and returns
// it with the version old held. The successor is v with its clock set to
// old's clock incremented at v.Writer and stamped v.Timestamp
// (Decode(old).Clock().Increment(v.Writer, v.Timestamp)), which is how a
// blind write such as SET versions a key, so the record is the one
// Merge(Decode(old), Siblings{v}).AppendBinary(b) gives, byte for byte.
//
// It exists because that general way is most of what a SET costs beyond
// the storage write: decoding old into a set on the heap, a new clock and
// set for v, the merge, then encoding. Here old is decoded onto the stack
// (with node IDs from d) and v encoded from there, so the only allocation
// is the record, when b has no room for it.
//
// It takes the records most keys hold: none, or one version whose clock
// names v.Writer or has room for it. For any other old (several versions, a
// full clock that Increment would truncate, bytes that do not decode) and
// for a v whose clock would not be valid (an empty writer, a counter at its
// limit) or whose writer is longer than Decode accepts, ok is false, b is
// returned as it was, and the caller takes the general way, which also
// reports what is wrong. prev, when old held a version, has everything but
// its Clock, and its Value aliases old.
func (d *Decoder) AppendSuccessor(b, old []byte, v Version) (out []byte, prev Version, ok bool) {
	if len(v.Writer) > maxNodeIDLen {
		return b, Version{}, false
	}
	var held [MaxClockEntries]Entry
	k := 0
	if len(old) > 0 {
		r := reader{b: old, ids: d}
		format := r.byte()
		if !knownFormat(format) || r.uvarint() != 1 {
			return b, Version{}, false
		}
		prev, k = r.version(format, &held)
		if r.err != nil || len(r.b) != 0 {
			return b, Version{}, false
		}
	}
	// The successor is built in s rather than in v: escape analysis, which
	// sees v's writer reach the heap, would then move the clock there too.
	var next [MaxClockEntries + 1]Entry
	n := Clock(held[:k]).incrementInto(next[:], v.Writer, v.Timestamp)
	s := [1]Version{{
		Clock:     next[:n],
		Timestamp: v.Timestamp,
		Writer:    v.Writer,
		ExpireAt:  v.ExpireAt,
		Tombstone: v.Tombstone,
		Kind:      v.Kind,
		Value:     v.Value,
	}}
	if !s[0].Clock.Valid() { // longer than MaxClockEntries, or not well formed
		return b, Version{}, false
	}
	return Siblings(s[:]).AppendBinary(b), prev, true
}
