package version

import (
	"encoding/binary"
	"sync/atomic"
)

// Decoder decodes records as Decode does, but remembers node ID strings
// across calls and hands the same string out again instead of allocating a
// new one: every record of a cluster names the same few nodes, in every
// clock and as writers. A Decoder is safe for concurrent use and its memory
// is bounded (idSlots IDs of at most maxNodeIDLen bytes). An ID it has
// forgotten or never seen is allocated as Decode would, so what it remembers
// changes the cost of a call, never its result. The zero value is ready to
// use; a nil *Decoder decodes as Decode.
//
// It is the one thing in this package that outlives a call, and it belongs
// to the caller: a Store or a transport keeps one.
type Decoder struct {
	// ids is a direct-mapped table: an ID lives in the slot its hash picks
	// until another ID that hashes there replaces it. Lock-free, so that a
	// lookup costs a hash, an atomic load and a compare.
	ids [idSlots]atomic.Pointer[string]
}

// idSlots is the size of a Decoder's table: room for the node IDs of a large
// cluster (and the per-write actor IDs of context writes, which come and go)
// with few collisions.
const (
	idBits  = 8
	idSlots = 1 << idBits
)

// Decode is Decode, with node IDs from d.
func (d *Decoder) Decode(b []byte) (Siblings, error) { return decodeRecord(b, d) }

// id returns b as a string, the one d remembers if it equals b.
func (d *Decoder) id(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	slot := &d.ids[idHash(b)>>(64-idBits)]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

// idHash is a cheap hash of a node ID whose top bits depend on every byte.
// It need not resist an attacker: IDs that collide on purpose only cost
// allocations.
func idHash(b []byte) uint64 {
	const prime = 0x100000001b3
	h := uint64(len(b)) * prime
	for ; len(b) >= 8; b = b[8:] {
		h = (h ^ binary.LittleEndian.Uint64(b)) * prime
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * prime
	}
	// A multiplication only carries a low byte's change upwards by about 40
	// bits; fold the middle into the top so "node-a" and "node-b" part.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	return h ^ h>>33
}
