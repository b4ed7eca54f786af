package resp

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestLCSCommand(t *testing.T) {
	runScripts(t, []script{
		{"lcs", []step{
			{"LCS a b", "$0\r\n\r\n"},
			{"LCS a b LEN", ":0\r\n"},
			{"LCS a b IDX", "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"},
			{"MSET key1 ohmytext key2 mynewtext", "+OK\r\n"},
			{"LCS key1 key2", "$6\r\nmytext\r\n"},
			{"LCS key1 key2 LEN", ":6\r\n"},
			{"LCS key1 key2 IDX", "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"},
			{"LCS key1 key2 IDX MINMATCHLEN 4", "*4\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n$3\r\nlen\r\n:6\r\n"},
			{"LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN", "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"},
			{"LCS key1 key2 idx withmatchlen", "*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n*3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n"},
			{"LCS key1 key2 IDX MINMATCHLEN -5", "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"},
			{"LCS key1 key2 WITHMATCHLEN", "$6\r\nmytext\r\n"},
			{"LCS key1 key2 MINMATCHLEN 2", "$6\r\nmytext\r\n"},
			{"LCS key1 key2 LEN IDX", "-ERR If you want both the length and indexes, please just use IDX.\r\n"},
			{"LCS key1 key2 IDX LEN", "-ERR If you want both the length and indexes, please just use IDX.\r\n"},
			{"LCS key1 key2 MINMATCHLEN", "-ERR syntax error\r\n"},
			{"LCS key1 key2 MINMATCHLEN x", "-ERR value is not an integer or out of range\r\n"},
			{"LCS key1 key2 FOO", "-ERR syntax error\r\n"},
			{"LCS key1 missing", "$0\r\n\r\n"},
			{"LCS key1 missing IDX", "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"},
			{"LCS key1 key1 IDX WITHMATCHLEN", "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:0\r\n:7\r\n*2\r\n:0\r\n:7\r\n:8\r\n$3\r\nlen\r\n:8\r\n"},
			{"MSET x ABCBDAB y BDCABA", "+OK\r\n"},
			{"LCS x y", "$4\r\nBDAB\r\n"},
			{"LCS x y IDX WITHMATCHLEN", "*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:5\r\n:6\r\n*2\r\n:3\r\n:4\r\n:2\r\n*3\r\n*2\r\n:3\r\n:4\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:4\r\n"},
			{"LCS y x IDX", "*4\r\n$7\r\nmatches\r\n*4\r\n*2\r\n*2\r\n:5\r\n:5\r\n*2\r\n:5\r\n:5\r\n*2\r\n*2\r\n:4\r\n:4\r\n*2\r\n:3\r\n:3\r\n*2\r\n*2\r\n:2\r\n:2\r\n*2\r\n:2\r\n:2\r\n*2\r\n*2\r\n:0\r\n:0\r\n*2\r\n:1\r\n:1\r\n$3\r\nlen\r\n:4\r\n"},
			{"MSET p \"a\\x00b\\xffc\" q \"\\x00\\xff\"", "+OK\r\n"},
			{"LCS p q", "$2\r\n\x00\xff\r\n"},
			{"LCS p q IDX", "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:3\r\n:3\r\n*2\r\n:1\r\n:1\r\n*2\r\n*2\r\n:1\r\n:1\r\n*2\r\n:0\r\n:0\r\n$3\r\nlen\r\n:2\r\n"},
			{"MSET r aaaaaaaaaaaaaaaaaaaa s aaaaabaaaaabaaaaa", "+OK\r\n"},
			{"LCS r s IDX WITHMATCHLEN", "*4\r\n$7\r\nmatches\r\n*3\r\n*3\r\n*2\r\n:15\r\n:19\r\n*2\r\n:12\r\n:16\r\n:5\r\n*3\r\n*2\r\n:10\r\n:14\r\n*2\r\n:6\r\n:10\r\n:5\r\n*3\r\n*2\r\n:5\r\n:9\r\n*2\r\n:0\r\n:4\r\n:5\r\n$3\r\nlen\r\n:15\r\n"},
			{"LCS r s IDX MINMATCHLEN 5", "*4\r\n$7\r\nmatches\r\n*3\r\n*2\r\n*2\r\n:15\r\n:19\r\n*2\r\n:12\r\n:16\r\n*2\r\n*2\r\n:10\r\n:14\r\n*2\r\n:6\r\n:10\r\n*2\r\n*2\r\n:5\r\n:9\r\n*2\r\n:0\r\n:4\r\n$3\r\nlen\r\n:15\r\n"},
			{"@other h", ""},
			{"LCS h key1", "-ERR The specified keys must contain string values\r\n"},
			{"LCS key1 h", "-ERR The specified keys must contain string values\r\n"},
			{"LCS h key1 FOO", "-ERR The specified keys must contain string values\r\n"},
		}},
	})
}

// TestLCSLimits checks the size refusal and that LEN and the full walk agree
// with a plain full-table LCS on random inputs.
func TestLCSLimits(t *testing.T) {
	h := newHarness(t)
	// (2^14+1)^2 * 4 bytes is just over 512 MB: Redis refuses, and so do we,
	// without allocating anything of that size.
	big := strings.Repeat("x", 1<<14)
	h.doStr("MSET", "a", big, "b", big)
	const refused = "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
	for _, opt := range [][]string{nil, {"LEN"}, {"IDX"}} {
		if got := h.doStr(append([]string{"LCS", "a", "b"}, opt...)...); got != refused {
			t.Fatalf("LCS of two 16 KB strings %v = %.80q", opt, got)
		}
	}

	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 300; iter++ {
		a := randBytes(rng, rng.IntN(30), 3)
		b := randBytes(rng, rng.IntN(30), 3)
		want := naiveLCSLen(a, b)
		if got := lcsLength(a, b); int(got) != want {
			t.Fatalf("lcsLength(%q, %q) = %d, want %d", a, b, got, want)
		}
		str, _ := newLCSTable(a, b).walk(a, b, 0)
		if len(str) != want || !isSubsequence(str, a) || !isSubsequence(str, b) {
			t.Fatalf("LCS(%q, %q) = %q, want a common subsequence of length %d", a, b, str, want)
		}
	}
}

func randBytes(rng *rand.Rand, n, alphabet int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(alphabet))
	}
	return b
}

func naiveLCSLen(a, b []byte) int {
	t := make([][]int, len(a)+1)
	for i := range t {
		t[i] = make([]int, len(b)+1)
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				t[i][j] = t[i-1][j-1] + 1
			} else {
				t[i][j] = max(t[i-1][j], t[i][j-1])
			}
		}
	}
	return t[len(a)][len(b)]
}

func isSubsequence(s, of []byte) bool {
	i := 0
	for _, c := range of {
		if i < len(s) && s[i] == c {
			i++
		}
	}
	return i == len(s)
}
