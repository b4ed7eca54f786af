package resp

import (
	"context"
	"math"
)

const (
	txtLCSType    = "ERR The specified keys must contain string values"
	txtLCSLenIdx  = "ERR If you want both the length and indexes, please just use IDX."
	txtLCSTooLong = "ERR String too long for LCS"
	txtLCSMemory  = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)

// lcsRange is one matched run: a[aStart..aEnd] equals b[bStart..bEnd].
type lcsRange struct{ aStart, aEnd, bStart, bEnd uint32 }

// cmdLCS is LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN].
//
// Redis fills an (len(a)+1)*(len(b)+1) table of 32-bit lengths and refuses
// when that table would exceed proto-max-bulk-len (512 MB by default).
// ringstore gives the same answers and refuses the same inputs, but keeps
// only two rows of lengths plus one bit per cell (which way the walk back
// goes), so the largest accepted input costs 1/32 of that (16 MB by
// default), and LEN alone costs two rows.
func (srv *Server) cmdLCS(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	va, oka, err := srv.coord.Get(ctx, s.DB, args[1])
	if err != nil {
		srv.writeError(w, err)
		return
	}
	vb, okb, err := srv.coord.Get(ctx, s.DB, args[2])
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if (oka && !isString(va)) || (okb && !isString(vb)) {
		w.Error(txtLCSType)
		return
	}
	a, b := va.Data, vb.Data
	var getLen, getIdx, withLen bool
	var minLen int64
	for j := 3; j < len(args); j++ {
		opt := args[j]
		switch {
		case eqFold(opt, "idx"):
			getIdx = true
		case eqFold(opt, "len"):
			getLen = true
		case eqFold(opt, "withmatchlen"):
			withLen = true
		case eqFold(opt, "minmatchlen") && j+1 < len(args):
			n, ok := parseRedisInt(args[j+1])
			if !ok {
				w.Error(errNotInteger)
				return
			}
			minLen = max(n, 0)
			j++
		default:
			w.Error(errSyntax)
			return
		}
	}
	if getLen && getIdx {
		w.Error(txtLCSLenIdx)
		return
	}
	if uint64(len(a)) >= math.MaxUint32-1 || uint64(len(b)) >= math.MaxUint32-1 {
		w.Error(txtLCSTooLong)
		return
	}
	if (uint64(len(a))+1)*(uint64(len(b))+1)*4 > uint64(srv.protoMaxBulkLen()) {
		w.Error(txtLCSMemory)
		return
	}
	if getLen {
		w.Int(int64(lcsLength(a, b)))
		return
	}
	t := newLCSTable(a, b)
	str, ranges := t.walk(a, b, minLen)
	if !getIdx {
		w.Bulk(str)
		return
	}
	w.Array(4) // a RESP2 map of two entries
	w.BulkString("matches")
	w.Array(len(ranges))
	for _, r := range ranges {
		if withLen {
			w.Array(3)
		} else {
			w.Array(2)
		}
		w.Array(2)
		w.Int(int64(r.aStart))
		w.Int(int64(r.aEnd))
		w.Array(2)
		w.Int(int64(r.bStart))
		w.Int(int64(r.bEnd))
		if withLen {
			w.Int(int64(r.aEnd - r.aStart + 1))
		}
	}
	w.BulkString("len")
	w.Int(int64(t.length))
}

// lcsLength is the length of the longest common subsequence of a and b, in
// two rows of memory.
func lcsLength(a, b []byte) uint32 {
	prev := make([]uint32, len(b)+1)
	cur := make([]uint32, len(b)+1)
	for i := 1; i <= len(a); i++ {
		ai := a[i-1]
		for j := 1; j <= len(b); j++ {
			if ai == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// lcsTable remembers, for every cell (i, j) of the classic LCS table where
// a[i-1] != b[j-1], whether LCS(i-1, j) > LCS(i, j-1): the only thing the
// walk back from (len(a), len(b)) ever asks of the full table.
type lcsTable struct {
	up     []uint64 // bit (i-1)*len(b) + (j-1)
	cols   int
	length uint32 // LCS(len(a), len(b))
}

func newLCSTable(a, b []byte) *lcsTable {
	t := &lcsTable{cols: len(b), up: make([]uint64, (len(a)*len(b)+63)/64)}
	prev := make([]uint32, len(b)+1)
	cur := make([]uint32, len(b)+1)
	for i := 1; i <= len(a); i++ {
		ai := a[i-1]
		row := (i - 1) * len(b)
		for j := 1; j <= len(b); j++ {
			if ai == b[j-1] {
				cur[j] = prev[j-1] + 1
				continue
			}
			l1, l2 := prev[j], cur[j-1]
			if l1 > l2 {
				bit := row + j - 1
				t.up[bit>>6] |= 1 << (bit & 63)
				cur[j] = l1
			} else {
				cur[j] = l2
			}
		}
		prev, cur = cur, prev
	}
	t.length = prev[len(b)]
	return t
}

func (t *lcsTable) goesUp(i, j int) bool {
	bit := (i-1)*t.cols + j - 1
	return t.up[bit>>6]&(1<<(bit&63)) != 0
}

// walk goes back from the end of both strings as Redis does, building the
// common subsequence and the matched runs (last run first) of at least
// minLen bytes.
func (t *lcsTable) walk(a, b []byte, minLen int64) ([]byte, []lcsRange) {
	out := make([]byte, t.length)
	idx := t.length
	unset := uint32(len(a)) // marks "no run in progress"
	cur := lcsRange{aStart: unset}
	var ranges []lcsRange
	i, j := len(a), len(b)
	for i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			out[idx-1] = a[i-1]
			switch {
			case cur.aStart == unset:
				cur = lcsRange{uint32(i - 1), uint32(i - 1), uint32(j - 1), uint32(j - 1)}
			case cur.aStart == uint32(i) && cur.bStart == uint32(j):
				cur.aStart--
				cur.bStart--
			default:
				emit = true
			}
			if cur.aStart == 0 || cur.bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if t.goesUp(i, j) {
				i--
			} else {
				j--
			}
			if cur.aStart != unset {
				emit = true
			}
		}
		if emit {
			if minLen == 0 || int64(cur.aEnd-cur.aStart+1) >= minLen {
				ranges = append(ranges, cur)
			}
			cur.aStart = unset
		}
	}
	return out, ranges
}
