package resp

import (
	"bufio"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// globCases were checked against redis-server 7.0.15 (KEYS on a db holding
// only the string); TestGlobAgainstRedis re-checks them when
// RINGSTORE_TEST_REDIS is set.
var globCases = []struct {
	pat, s string
	want   bool
}{
	{"", "", true},
	{"", "a", false},
	{"*", "", false}, // stringmatchlen never matches "" but to ""; KEYS * and MATCH * skip matching
	{"**", "", false},
	{"?", "", false},
	{"*", "abc", true},
	{"a*", "a", true},
	{"a*", "abc", true},
	{"*c", "abc", true},
	{"*b*", "abc", true},
	{"*b*", "ac", false},
	{"a*b*c", "aXbYc", true},
	{"a*b*c", "aXcYb", false},
	{"a**b", "ab", true},
	{"?", "a", true},
	{"??", "a", false},
	{"a?c", "abc", true},
	{"[abc]", "b", true},
	{"[abc]", "d", false},
	{"[^abc]", "d", true},
	{"[^abc]", "a", false},
	{"[a-c]", "b", true},
	{"[c-a]", "b", true},
	{"[a-c]", "d", false},
	{"[a-]", "]", true},    // the range from ']' to 'a', unterminated
	{"[a-]", "-", false},   // ... which does not contain '-'
	{"[a-]x", "x", true},   // the set {']'..'a', 'x'}: one byte
	{"[a-]x", "bx", false}, // ... so two bytes never match
	{"[]]", "]", false},
	{"[]", "a", false},
	{"[^]", "a", true},
	{"[", "a", false},
	{"[^", "a", true},
	{"[ab", "b", true},
	{"[ab", "c", false},
	{"[\\]]", "]", true},
	{"[\\]", "]", true},
	{"[\\", "\\", true},
	{"[\\-]", "-", true},
	{"[a\\-c]", "b", false},
	{"\\*", "*", true},
	{"\\*", "a", false},
	{"\\?", "?", true},
	{"\\[a]", "[a]", true},
	{"a\\", "a\\", true},
	{"a\\", "a", false},
	{"\\", "\\", true},
	{"\\\\", "\\", true},
	{"[\x80-\xff]", "\xe9", true},
	{"[\x00-\xff]", "a", false}, // signed chars: the range is -1..0
	{"[\x00-\xff]", "\xff", true},
	{"[a-\xff]", "a", true},
	{"[a-\xff]", "\xe9", false},
	{"[\x00-\x7f]", "\x00", true},
	{"h*o", "h\x00o", true},
	{"*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false},
	{"*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60) + "b", true},
	{"a*?", "a", false},
	{"a*?", "ab", true},
	{"*?*?*", "a", false},
	{"*?*?*", "ab", true},
	{"[*]", "*", true},
	{"[?]", "a", false},
}

func TestGlobCases(t *testing.T) {
	for _, c := range globCases {
		if got := compileGlob([]byte(c.pat)).match([]byte(c.s)); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

// naiveMatch is the textbook recursive reading of a token list, with the
// empty-string rule of stringmatchlen on top: the oracle for match.
func naiveMatch(toks []globToken, s []byte) bool {
	if len(toks) == 0 {
		return len(s) == 0
	}
	if toks[0].op == globStar {
		for i := 0; i <= len(s); i++ {
			if naiveMatch(toks[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return len(s) > 0 && toks[0].matchOne(s[0]) && naiveMatch(toks[1:], s[1:])
}

func randGlob(rng *rand.Rand, alphabet string, n int) []byte {
	b := make([]byte, rng.IntN(n+1))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

func TestGlobAgainstNaive(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 5))
	for i := 0; i < 20000; i++ {
		pat := randGlob(rng, "ab*?[]^-\\", 8)
		s := randGlob(rng, "ab-]\\^", 7)
		g := compileGlob(pat)
		want := len(s) == 0 && len(pat) == 0
		if len(s) > 0 {
			want = naiveMatch(g.toks, s)
		}
		if got := g.match(s); got != want {
			t.Fatalf("seed %d: match(%q, %q) = %v, naive %v", seed, pat, s, got, want)
		}
	}
}

// TestGlobNoBlowup: patterns that make naive backtracking exponential finish
// at once.
func TestGlobNoBlowup(t *testing.T) {
	pat := []byte(strings.Repeat("*a", 5000) + "*b")
	s := []byte(strings.Repeat("a", 20000))
	start := time.Now()
	if compileGlob(pat).match(s) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestGlobAgainstRedis compares match with redis-server's KEYS on the cases
// above and on random patterns over a fixed set of keys.
func TestGlobAgainstRedis(t *testing.T) {
	rc := dialTestRedis(t)
	if rc == nil {
		t.Skip("RINGSTORE_TEST_REDIS not set")
	}
	keysMatching := func(pat []byte) map[string]bool {
		reply := rc.do(t, []byte("KEYS"), pat)
		v, err := parseReply(bufio.NewReader(strings.NewReader(reply)))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, el := range v.elems {
			raw := string(el.raw)
			got[raw[strings.Index(raw, "\r\n")+2:len(raw)-2]] = true
		}
		return got
	}
	for _, c := range globCases {
		if c.pat == "*" {
			continue // KEYS * does not match at all
		}
		rc.mustDo(t, []byte("FLUSHALL"))
		rc.mustDo(t, []byte("SET"), []byte(c.s), []byte("v"))
		if got := keysMatching([]byte(c.pat))[c.s]; got != c.want {
			t.Errorf("redis: KEYS %q with key %q: %v, table says %v", c.pat, c.s, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	rc.mustDo(t, []byte("FLUSHALL"))
	var keys [][]byte
	seen := map[string]bool{}
	for len(keys) < 60 {
		k := randGlob(rng, "ab-]\\^\xe9", 6)
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
			rc.mustDo(t, []byte("SET"), k, []byte("v"))
		}
	}
	for i := 0; i < 1500; i++ {
		pat := randGlob(rng, "ab*?[]^-\\\xe9\x00", 7)
		if string(pat) == "*" {
			continue
		}
		want := keysMatching(pat)
		g := compileGlob(pat)
		for _, k := range keys {
			if got := g.match(k); got != want[string(k)] {
				t.Fatalf("match(%q, %q) = %v, redis %v", pat, k, got, want[string(k)])
			}
		}
	}
}
