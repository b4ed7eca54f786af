package resp

import (
	"context"
	"encoding/binary"
	"math/bits"

	"github.com/ringstore/ringstore/coordinator"
)

// Bit commands treat a string as a bit array, bit 0 being the most
// significant bit of the first byte, as Redis does.

const txtBitArg = "ERR The bit argument must be 1 or 0."

func (srv *Server) bitCommands() []*command {
	return []*command{
		{name: "setbit", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@bitmap", "@slow"}, handler: srv.cmdSetBit},
		{name: "getbit", arity: 3, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@bitmap", "@fast"}, handler: srv.cmdGetBit},
		{name: "bitcount", arity: -2, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@bitmap", "@slow"}, handler: srv.cmdBitCount},
		{name: "bitpos", arity: -3, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@bitmap", "@slow"}, handler: srv.cmdBitPos},
	}
}

// parseBitOffset parses a bit offset: a strict integer, not negative, and
// addressing a byte below proto-max-bulk-len, which bounds what SETBIT can
// allocate.
func (srv *Server) parseBitOffset(b []byte) (int64, bool) {
	off, ok := parseRedisInt(b)
	if !ok || off < 0 || off>>3 >= srv.protoMaxBulkLen() {
		return 0, false
	}
	return off, true
}

// cmdSetBit is SETBIT key offset 0|1: it zero-pads the string up to the
// offset's byte, keeps the TTL, and answers the bit's previous value.
func (srv *Server) cmdSetBit(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	off, ok := srv.parseBitOffset(args[2])
	if !ok {
		w.Error(txtBitOffset)
		return
	}
	on, ok := parseRedisInt(args[3])
	if !ok || on&^1 != 0 {
		w.Error(txtBitValue)
		return
	}
	byteIdx := int(off >> 3)
	mask := byte(1) << (7 - off&7)
	var old int64
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		if ok && !isString(cur) {
			return coordinator.Change{}, replyText(txtWrongType)
		}
		old = 0
		grow := !ok || byteIdx >= len(cur.Data)
		if !grow && cur.Data[byteIdx]&mask != 0 {
			old = 1
		}
		if !grow && old == on {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		data := make([]byte, max(len(cur.Data), byteIdx+1))
		copy(data, cur.Data)
		if on == 1 {
			data[byteIdx] |= mask
		} else {
			data[byteIdx] &^= mask
		}
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(data, cur.ExpireAt)}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(old)
}

func (srv *Server) cmdGetBit(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	off, ok := srv.parseBitOffset(args[2])
	if !ok {
		w.Error(txtBitOffset)
		return
	}
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	switch {
	case err != nil:
		srv.writeError(w, err)
	case !ok:
		w.Int(0)
	case !isString(v):
		w.Error(txtWrongType)
	case int(off>>3) < len(v.Data) && v.Data[off>>3]&(1<<(7-off&7)) != 0:
		w.Int(1)
	default:
		w.Int(0)
	}
}

// bitRange turns start and end indexes (bytes, or bits when inBits) into an
// inclusive range of bits of a string of n bytes, with Redis's rules (see
// clampRange). empty is true when nothing is left.
func bitRange(start, end, n int64, inBits bool) (lo, hi int64, empty bool) {
	total := n
	if inBits {
		total <<= 3
	}
	start, end, empty = clampRange(start, end, total)
	if empty || inBits {
		return start, end, empty
	}
	return start << 3, end<<3 + 7, false
}

// clampRange applies Redis's index rules for a sequence of total elements
// (GETRANGE, BITCOUNT, BITPOS): negative indexes count from the end, then
// both are clamped into [0, total-1]. empty is true when nothing is left.
func clampRange(start, end, total int64) (lo, hi int64, empty bool) {
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	if end >= total {
		end = total - 1
	}
	if start > end {
		return 0, 0, true
	}
	return start, end, false
}

// unitArg parses the BYTE|BIT argument of BITCOUNT and BITPOS.
func unitArg(b []byte) (inBits, ok bool) {
	switch {
	case eqFold(b, "bit"):
		return true, true
	case eqFold(b, "byte"):
		return false, true
	}
	return false, false
}

// cmdBitCount is BITCOUNT key [start end [BYTE|BIT]]. As in Redis, a
// missing key answers 0 before the arguments are looked at.
func (srv *Server) cmdBitCount(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	switch {
	case err != nil:
		srv.writeError(w, err)
		return
	case !ok:
		w.Int(0)
		return
	case !isString(v):
		w.Error(txtWrongType)
		return
	}
	p := v.Data
	n := int64(len(p))
	var lo, hi int64
	switch len(args) {
	case 2:
		if n == 0 {
			w.Int(0)
			return
		}
		lo, hi = 0, n*8-1
	case 4, 5:
		start, ok1 := parseRedisInt(args[2])
		if !ok1 {
			w.Error(errNotInteger)
			return
		}
		end, ok2 := parseRedisInt(args[3])
		if !ok2 {
			w.Error(errNotInteger)
			return
		}
		if start < 0 && end < 0 && start > end {
			w.Int(0)
			return
		}
		inBits := false
		if len(args) == 5 {
			var ok bool
			if inBits, ok = unitArg(args[4]); !ok {
				w.Error(errSyntax)
				return
			}
		}
		var empty bool
		if lo, hi, empty = bitRange(start, end, n, inBits); empty {
			w.Int(0)
			return
		}
	default:
		w.Error(errSyntax)
		return
	}
	w.Int(countBits(p, lo, hi))
}

// cmdBitPos is BITPOS key bit [start [end [BYTE|BIT]]]: the first bit set
// to bit within the range, or -1. Without an explicit end a search for 0
// treats the string as padded with zeros on the right, as Redis does.
func (srv *Server) cmdBitPos(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	bit, ok := parseRedisInt(args[2])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	if bit != 0 && bit != 1 {
		w.Error(txtBitArg)
		return
	}
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	switch {
	case err != nil:
		srv.writeError(w, err)
		return
	case !ok:
		w.Int(-bit) // an absent key is all zeros: 0 for a clear bit, -1 for a set one
		return
	case !isString(v):
		w.Error(txtWrongType)
		return
	}
	p := v.Data
	n := int64(len(p))
	var lo, hi int64
	endGiven := false
	switch len(args) {
	case 3:
		if n == 0 {
			w.Int(-1)
			return
		}
		lo, hi = 0, n*8-1
	case 4, 5, 6:
		start, ok := parseRedisInt(args[3])
		if !ok {
			w.Error(errNotInteger)
			return
		}
		inBits := false
		if len(args) == 6 {
			if inBits, ok = unitArg(args[5]); !ok {
				w.Error(errSyntax)
				return
			}
		}
		end := n - 1
		if inBits {
			end = n*8 - 1
		}
		if len(args) >= 5 {
			if end, ok = parseRedisInt(args[4]); !ok {
				w.Error(errNotInteger)
				return
			}
			endGiven = true
		}
		var empty bool
		if lo, hi, empty = bitRange(start, end, n, inBits); empty {
			w.Int(-1)
			return
		}
	default:
		w.Error(errSyntax)
		return
	}
	pos := firstBit(p, lo, hi, byte(bit))
	if pos < 0 && bit == 0 && !endGiven {
		pos = hi + 1
	}
	w.Int(pos)
}

// countBits counts the set bits of p from bit lo to bit hi inclusive.
func countBits(p []byte, lo, hi int64) int64 {
	first, last := lo>>3, hi>>3
	headMask := byte(0xFF) >> (lo & 7)
	tailMask := byte(0xFF) << (7 - hi&7)
	if first == last {
		return int64(bits.OnesCount8(p[first] & headMask & tailMask))
	}
	n := int64(bits.OnesCount8(p[first]&headMask) + bits.OnesCount8(p[last]&tailMask))
	mid := p[first+1 : last]
	for len(mid) >= 8 {
		n += int64(bits.OnesCount64(binary.LittleEndian.Uint64(mid)))
		mid = mid[8:]
	}
	for _, c := range mid {
		n += int64(bits.OnesCount8(c))
	}
	return n
}

// firstBit returns the position of the first bit of p equal to bit between
// bit lo and bit hi inclusive, or -1.
func firstBit(p []byte, lo, hi int64, bit byte) int64 {
	var flip byte // XORed into each byte so that the bit sought reads as 1
	if bit == 0 {
		flip = 0xFF
	}
	for pos := lo; pos <= hi; {
		i := pos >> 3
		if pos&7 == 0 && pos+63 <= hi {
			// Skip whole words that cannot hold the bit.
			word := binary.LittleEndian.Uint64(p[i:])
			if (bit == 1 && word == 0) || (bit == 0 && word == ^uint64(0)) {
				pos += 64
				continue
			}
		}
		c := (p[i] ^ flip) & (0xFF >> (pos & 7))
		if end := i<<3 + 7; hi < end {
			c &= 0xFF << (end - hi)
		}
		if c != 0 {
			return i<<3 + int64(bits.LeadingZeros8(c))
		}
		pos = i<<3 + 8
	}
	return -1
}
