package resp

// Glob patterns for KEYS and SCAN MATCH, with the semantics of Redis 7's
// stringmatchlen (case-sensitive):
//
//	*        any run of bytes, also empty
//	?        any one byte
//	[abc]    one byte of the set; [^abc] one byte not in it
//	[a-z]    a range; reversed ends are swapped, and the ends compare as C's
//	         signed char, so bytes >= 0x80 sort below 0x00
//	\x       the byte x, also inside brackets
//
// and Redis's quirks kept on purpose, because clients see them: a '['
// without ']' takes the rest of the pattern as its set; a trailing '\' is
// a literal backslash; "[a-]" is the range from 'a' to ']'; and the empty
// string matches only the empty pattern (so "**" does not match the key "",
// while KEYS * and MATCH * list every key because they do not match at all).
//
// Redis matches by recursion on every '*'. Here a pattern compiles once to a
// list of tokens, each of which but '*' consumes exactly one byte, and the
// match is the classic iterative walk that only ever backtracks to the last
// '*' seen: O(len(pattern) * len(key)) time, constant stack, no allocation.

type globOp uint8

const (
	globByte globOp = iota // one literal byte
	globAny                // '?'
	globStar               // '*' (runs of stars are one token)
	globSet                // '[...]'
)

type globToken struct {
	op  globOp
	b   byte   // globByte
	neg bool   // globSet: [^...]
	set []byte // globSet: single bytes
	rng []byte // globSet: ranges as (lo, hi) pairs, ordered as signed chars
}

// glob is a compiled pattern. Its match method is safe for concurrent use.
type glob struct {
	toks []globToken
}

// compileGlob parses pat into tokens exactly as stringmatchlen reads it.
func compileGlob(pat []byte) glob {
	var g glob
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			for i+1 < len(pat) && pat[i+1] == '*' {
				i++
			}
			g.toks = append(g.toks, globToken{op: globStar})
		case '?':
			g.toks = append(g.toks, globToken{op: globAny})
		case '[':
			var t globToken
			t, i = compileSet(pat, i+1)
			g.toks = append(g.toks, t)
		case '\\':
			if i+1 < len(pat) {
				i++
			}
			g.toks = append(g.toks, globToken{op: globByte, b: pat[i]})
		default:
			g.toks = append(g.toks, globToken{op: globByte, b: c})
		}
	}
	return g
}

// compileSet parses a bracket set whose body starts at pat[i], after the
// '['. It returns the token and the index of the closing ']', or len(pat)
// when there is none and the set took the rest of the pattern.
func compileSet(pat []byte, i int) (globToken, int) {
	t := globToken{op: globSet}
	if i < len(pat) && pat[i] == '^' {
		t.neg = true
		i++
	}
	for ; i < len(pat); i++ {
		switch {
		case pat[i] == '\\' && i+1 < len(pat):
			i++
			t.set = append(t.set, pat[i])
		case pat[i] == ']':
			return t, i
		case i+2 < len(pat) && pat[i+1] == '-':
			lo, hi := pat[i], pat[i+2]
			if int8(lo) > int8(hi) {
				lo, hi = hi, lo
			}
			t.rng = append(t.rng, lo, hi)
			i += 2
		default:
			t.set = append(t.set, pat[i])
		}
	}
	return t, i
}

// matchOne reports whether token t (not a star) accepts byte c.
func (t *globToken) matchOne(c byte) bool {
	switch t.op {
	case globByte:
		return t.b == c
	case globAny:
		return true
	}
	in := false
	for _, s := range t.set {
		if s == c {
			in = true
			break
		}
	}
	for j := 0; !in && j < len(t.rng); j += 2 {
		sc := int8(c)
		in = int8(t.rng[j]) <= sc && sc <= int8(t.rng[j+1])
	}
	return in != t.neg
}

// match reports whether s matches the pattern.
func (g glob) match(s []byte) bool {
	toks := g.toks
	if len(s) == 0 {
		return len(toks) == 0 // stringmatchlen never enters its loop
	}
	ti, si := 0, 0
	star, starSi := -1, 0 // the last star's token index and where its run ends
	for si < len(s) {
		switch {
		case ti < len(toks) && toks[ti].op == globStar:
			star, starSi = ti, si
			ti++
		case ti < len(toks) && toks[ti].matchOne(s[si]):
			ti++
			si++
		case star >= 0:
			// Let the last star take one more byte and retry after it.
			starSi++
			ti, si = star+1, starSi
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].op == globStar {
		ti++
	}
	return ti == len(toks)
}
