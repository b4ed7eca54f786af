package resp

import (
	"math/rand/v2"
	"testing"
)

var bitScripts = []script{
	{"setbit-getbit", []step{
		{"GETBIT k 0", ":0\r\n"},
		{"SETBIT k 7 1", ":0\r\n"},
		{"GET k", "$1\r\n\x01\r\n"},
		{"SETBIT k 7 1", ":1\r\n"},
		{"SETBIT k 7 0", ":1\r\n"},
		{"GET k", "$1\r\n\x00\r\n"},
		{"SETBIT k 0 1", ":0\r\n"},
		{"GET k", "$1\r\n\x80\r\n"},
		{"GETBIT k 0", ":1\r\n"},
		{"GETBIT k 1", ":0\r\n"},
		{"GETBIT k 100", ":0\r\n"},
		{"SETBIT k 20 1", ":0\r\n"},
		{"GET k", "$3\r\n\x80\x00\b\r\n"},
		{"STRLEN k", ":3\r\n"},
		{"SETBIT z 15 0", ":0\r\n"},
		{"GET z", "$2\r\n\x00\x00\r\n"},
		{"SETBIT k -1 1", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SETBIT k x 1", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SETBIT k 4294967296 1", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SETBIT k 9223372036854775807 1", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SETBIT k 0 2", "-ERR bit is not an integer or out of range\r\n"},
		{"SETBIT k 0 -1", "-ERR bit is not an integer or out of range\r\n"},
		{"SETBIT k 0 x", "-ERR bit is not an integer or out of range\r\n"},
		{"SETBIT k x x", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SETBIT k 0 \"\"", "-ERR bit is not an integer or out of range\r\n"},
		{"SETBIT k 0 01", "-ERR bit is not an integer or out of range\r\n"},
		{"GETBIT k -1", "-ERR bit offset is not an integer or out of range\r\n"},
		{"GETBIT k 4294967296", "-ERR bit offset is not an integer or out of range\r\n"},
		{"GETBIT k 4294967295", ":0\r\n"},
		{"GETBIT missing x", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SET t a EX 100", "+OK\r\n"},
		{"SETBIT t 6 1", ":0\r\n"},
		{"GET t", "$1\r\nc\r\n"},
		{"TTL t", ":100\r\n"},
		{"@other h", ""},
		{"SETBIT h 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"SETBIT h -1 1", "-ERR bit offset is not an integer or out of range\r\n"},
		{"SETBIT h 0 5", "-ERR bit is not an integer or out of range\r\n"},
		{"GETBIT h 0", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"GETBIT h x", "-ERR bit offset is not an integer or out of range\r\n"},
	}},
	{"bitcount", []step{
		{"BITCOUNT k", ":0\r\n"},
		{"BITCOUNT k 0", ":0\r\n"},
		{"BITCOUNT k a b", ":0\r\n"},
		{"SET k foobar", "+OK\r\n"},
		{"BITCOUNT k", ":26\r\n"},
		{"BITCOUNT k 0 0", ":4\r\n"},
		{"BITCOUNT k 1 1", ":6\r\n"},
		{"BITCOUNT k 1 1 BYTE", ":6\r\n"},
		{"BITCOUNT k 5 30 BIT", ":17\r\n"},
		{"BITCOUNT k 5 30 bit", ":17\r\n"},
		{"BITCOUNT k 0 -1", ":26\r\n"},
		{"BITCOUNT k -2 -1", ":7\r\n"},
		{"BITCOUNT k -1 -2", ":0\r\n"},
		{"BITCOUNT k -1 -2 BOGUS", ":0\r\n"},
		{"BITCOUNT k 2 1", ":0\r\n"},
		{"BITCOUNT k -100 100", ":26\r\n"},
		{"BITCOUNT k 0 -1 BIT", ":26\r\n"},
		{"BITCOUNT k -9 -1 BIT", ":5\r\n"},
		{"BITCOUNT k 7 7 BIT", ":0\r\n"},
		{"BITCOUNT k 8 8 BIT", ":0\r\n"},
		{"BITCOUNT k 47 1000 BIT", ":0\r\n"},
		{"BITCOUNT k 0", "-ERR syntax error\r\n"},
		{"BITCOUNT k 0 1 2", "-ERR syntax error\r\n"},
		{"BITCOUNT k 0 1 BIT x", "-ERR syntax error\r\n"},
		{"BITCOUNT k a 1", "-ERR value is not an integer or out of range\r\n"},
		{"BITCOUNT k 1 a", "-ERR value is not an integer or out of range\r\n"},
		{"BITCOUNT k 0 1 FOO", "-ERR syntax error\r\n"},
		{"BITCOUNT k -9223372036854775808 9223372036854775807", ":26\r\n"},
		{"BITCOUNT k -9223372036854775808 9223372036854775807 BIT", ":26\r\n"},
		{"SET long 0123456789abcdefghijklmnopqrstuvwxyz", "+OK\r\n"},
		{"BITCOUNT long", ":147\r\n"},
		{"BITCOUNT long 3 29", ":109\r\n"},
		{"BITCOUNT long 13 250 BIT", ":120\r\n"},
		{"SET e \"\"", "+OK\r\n"},
		{"BITCOUNT e", ":0\r\n"},
		{"BITCOUNT e 0 -1", ":0\r\n"},
		{"BITCOUNT e 0 -1 BIT", ":0\r\n"},
		{"@other h", ""},
		{"BITCOUNT h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"BITCOUNT h 0", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	}},
	{"bitpos", []step{
		{"BITPOS k 1", ":-1\r\n"},
		{"BITPOS k 0", ":0\r\n"},
		{"BITPOS k 0 1 2 x", ":0\r\n"},
		{"BITPOS k 2", "-ERR The bit argument must be 1 or 0.\r\n"},
		{"BITPOS k x", "-ERR value is not an integer or out of range\r\n"},
		{"BITPOS k -1", "-ERR The bit argument must be 1 or 0.\r\n"},
		{"SET k \"\\xff\\xf0\\x00\"", "+OK\r\n"},
		{"BITPOS k 0", ":12\r\n"},
		{"BITPOS k 1", ":0\r\n"},
		{"BITPOS k 1 2", ":-1\r\n"},
		{"BITPOS k 0 0", ":12\r\n"},
		{"BITPOS k 0 0 0", ":-1\r\n"},
		{"BITPOS k 0 0 1", ":12\r\n"},
		{"BITPOS k 1 1 -1", ":8\r\n"},
		{"BITPOS k 1 2 -1", ":-1\r\n"},
		{"BITPOS k 0 2 -1", ":16\r\n"},
		{"BITPOS k 1 -1", ":-1\r\n"},
		{"BITPOS k 0 3", ":-1\r\n"},
		{"BITPOS k 0 -100", ":12\r\n"},
		{"BITPOS k 1 0 -1 BIT", ":0\r\n"},
		{"BITPOS k 0 0 -1 BIT", ":12\r\n"},
		{"BITPOS k 1 7 15 BIT", ":7\r\n"},
		{"BITPOS k 0 7 11 BIT", ":-1\r\n"},
		{"BITPOS k 0 7 12 BIT", ":12\r\n"},
		{"BITPOS k 1 12 100 BIT", ":-1\r\n"},
		{"BITPOS k 0 3 5 BIT", ":-1\r\n"},
		{"BITPOS k 1 -5 -1 BIT", ":-1\r\n"},
		{"BITPOS k 0 2 1", ":-1\r\n"},
		{"BITPOS k 1 2 1 BIT", ":-1\r\n"},
		{"BITPOS k 0 0 -1 byte", ":12\r\n"},
		{"BITPOS k 0 0 -1 FOO", "-ERR syntax error\r\n"},
		{"BITPOS k 0 x -1 FOO", "-ERR value is not an integer or out of range\r\n"},
		{"BITPOS k 0 0 x FOO", "-ERR syntax error\r\n"},
		{"BITPOS k 0 0 x", "-ERR value is not an integer or out of range\r\n"},
		{"BITPOS k 0 x", "-ERR value is not an integer or out of range\r\n"},
		{"BITPOS k 0 0 1 BIT x", "-ERR syntax error\r\n"},
		{"SET ones \"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\"", "+OK\r\n"},
		{"BITPOS ones 0", ":159\r\n"},
		{"BITPOS ones 1", ":0\r\n"},
		{"BITPOS ones 0 0 18", ":-1\r\n"},
		{"BITPOS ones 0 3", ":159\r\n"},
		{"BITPOS ones 0 9 158 BIT", ":-1\r\n"},
		{"SET allones \"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\"", "+OK\r\n"},
		{"BITPOS allones 0", ":80\r\n"},
		{"BITPOS allones 0 1", ":80\r\n"},
		{"BITPOS allones 0 1 -1", ":-1\r\n"},
		{"BITPOS allones 0 3 75 BIT", ":-1\r\n"},
		{"SET zeros \"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\"", "+OK\r\n"},
		{"BITPOS zeros 1", ":95\r\n"},
		{"BITPOS zeros 1 0 10", ":-1\r\n"},
		{"BITPOS zeros 1 3 95 BIT", ":95\r\n"},
		{"BITPOS zeros 1 3 94 BIT", ":-1\r\n"},
		{"SET e \"\"", "+OK\r\n"},
		{"BITPOS e 0", ":-1\r\n"},
		{"BITPOS e 1", ":-1\r\n"},
		{"BITPOS e 0 0", ":-1\r\n"},
		{"BITPOS e 0 0 -1", ":-1\r\n"},
		{"@other h", ""},
		{"BITPOS h 1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"BITPOS h 2", "-ERR The bit argument must be 1 or 0.\r\n"},
		{"BITPOS h 1 x", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	}},
}

func TestBitCommands(t *testing.T) { runScripts(t, bitScripts) }

// TestBitHelpersAgainstNaive checks countBits and firstBit, which work a
// word at a time, against a bit-by-bit reading on random strings and ranges.
func TestBitHelpersAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bitAt := func(p []byte, i int64) byte { return p[i>>3] >> (7 - i&7) & 1 }
	for iter := 0; iter < 3000; iter++ {
		p := make([]byte, 1+rng.IntN(40))
		fill := rng.IntN(4)
		for i := range p {
			switch fill {
			case 0:
				p[i] = byte(rng.Uint32())
			case 1:
				p[i] = 0
			case 2:
				p[i] = 0xFF
			}
		}
		if fill > 0 && rng.IntN(2) == 0 {
			p[rng.IntN(len(p))] ^= 1 << rng.IntN(8)
		}
		n := int64(len(p)) * 8
		lo := rng.Int64N(n)
		hi := lo + rng.Int64N(n-lo)
		var ones int64
		for i := lo; i <= hi; i++ {
			ones += int64(bitAt(p, i))
		}
		if got := countBits(p, lo, hi); got != ones {
			t.Fatalf("countBits(%x, %d, %d) = %d, want %d", p, lo, hi, got, ones)
		}
		for _, want := range []byte{0, 1} {
			first := int64(-1)
			for i := lo; i <= hi; i++ {
				if bitAt(p, i) == want {
					first = i
					break
				}
			}
			if got := firstBit(p, lo, hi, want); got != first {
				t.Fatalf("firstBit(%x, %d, %d, %d) = %d, want %d", p, lo, hi, want, got, first)
			}
		}
	}
}
