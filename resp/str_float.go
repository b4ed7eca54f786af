package resp

import (
	"math/big"
)

// INCRBYFLOAT in Redis parses with strtold, adds in C long double (the x87
// 80-bit format on amd64: 64-bit mantissa, 15-bit exponent) and prints with
// "%.17Lf" minus trailing zeros. The same decimal text only comes out of the
// same arithmetic, so ringstore emulates that format with big.Float at 64
// bits of precision and checks the long double exponent range by hand.
const (
	ldPrec   = 64     // mantissa bits of an x87 long double
	ldMaxExp = 16384  // big.Float exponent (mantissa in [0.5, 1)) of the largest finite long double
	ldMinExp = -16381 // exponent of the smallest normal long double
	ldSubExp = -16444 // exponent of the smallest subnormal long double

	// maxFloatLen is Redis's MAX_LONG_DOUBLE_CHARS: longer texts are not floats.
	maxFloatLen = 5 * 1024
)

// longDouble is a value of the emulated long double: finite (f != nil), or
// an infinity (inf = +1 or -1).
type longDouble struct {
	f   *big.Float
	inf int
}

// zeroLongDouble is +0, the value of an absent key.
func zeroLongDouble() longDouble { return longDouble{f: new(big.Float).SetPrec(ldPrec)} }

// parseLongDouble parses b as Redis's string2ld does: the whole of b must be
// a C strtold number (decimal or 0x hexadecimal, optional sign and exponent,
// "inf"/"infinity"), not NaN, not starting with a space, and neither
// overflowing nor underflowing to zero.
func parseLongDouble(b []byte) (longDouble, bool) {
	if len(b) == 0 || len(b) >= maxFloatLen {
		return longDouble{}, false
	}
	i, neg := 0, false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		i++
	}
	rest := b[i:]
	if asciiEqualFold(rest, "inf") || asciiEqualFold(rest, "infinity") {
		if neg {
			return longDouble{inf: -1}, true
		}
		return longDouble{inf: 1}, true
	}
	hex := len(rest) >= 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	base, expChar := 10, byte('e')
	if hex {
		rest = rest[2:]
		base, expChar = 16, 'p'
	}
	// mantissa: digits with at most one '.', at least one digit.
	mant := new(big.Int)
	digits, frac, dot := 0, 0, false
	j := 0
	for ; j < len(rest); j++ {
		c := rest[j]
		if c == '.' && !dot {
			dot = true
			continue
		}
		d := digitVal(c)
		if d < 0 || d >= base {
			break
		}
		digits++
		if dot {
			frac++
		}
		mant.Mul(mant, big.NewInt(int64(base)))
		mant.Add(mant, big.NewInt(int64(d)))
	}
	if digits == 0 {
		return longDouble{}, false
	}
	var exp int64
	if j < len(rest) {
		if rest[j]|0x20 != expChar {
			return longDouble{}, false
		}
		e, ok := parseExponent(rest[j+1:])
		if !ok {
			return longDouble{}, false
		}
		exp = e
	}
	if mant.Sign() == 0 {
		f := new(big.Float).SetPrec(ldPrec)
		if neg {
			f.Neg(f)
		}
		return longDouble{f: f}, true
	}
	// Reject what would overflow to HUGE_VAL or underflow to zero before
	// building exact numbers, so a huge exponent costs nothing.
	var r *big.Rat
	if hex {
		binExp := exp - 4*int64(frac) // value = mant * 2^binExp
		mag := int64(mant.BitLen()) + binExp
		if mag-1 > 16383 || mag < -16445 {
			return longDouble{}, false
		}
		r = new(big.Rat).SetInt(mant)
		scale := new(big.Int).Lsh(big.NewInt(1), uint(abs64(binExp)))
		if binExp >= 0 {
			r.Mul(r, new(big.Rat).SetInt(scale))
		} else {
			r.Quo(r, new(big.Rat).SetInt(scale))
		}
	} else {
		decExp := exp - int64(frac) // value = mant * 10^decExp
		mag := int64(len(mant.String())) + decExp
		if mag-1 > 4933 || mag < -4952 {
			return longDouble{}, false
		}
		r = new(big.Rat).SetInt(mant)
		scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(decExp)), nil)
		if decExp >= 0 {
			r.Mul(r, new(big.Rat).SetInt(scale))
		} else {
			r.Quo(r, new(big.Rat).SetInt(scale))
		}
	}
	if neg {
		r.Neg(r)
	}
	f, ok := roundLongDouble(r)
	if !ok {
		return longDouble{}, false
	}
	return longDouble{f: f}, true
}

// roundLongDouble rounds r to the nearest long double, with the reduced
// precision of subnormals. It fails on overflow and on underflow to zero.
func roundLongDouble(r *big.Rat) (*big.Float, bool) {
	f := new(big.Float).SetPrec(ldPrec).SetRat(r)
	exp := f.MantExp(nil)
	if exp > ldMaxExp || (f.Sign() != 0 && exp < ldSubExp) {
		return nil, false
	}
	if exp < ldMinExp {
		f = new(big.Float).SetPrec(uint(ldPrec - (ldMinExp - exp))).SetRat(r)
		f.SetPrec(ldPrec)
	}
	return f, true
}

// addLongDouble adds as long double arithmetic does; ok is false when the
// sum is NaN or infinite.
func addLongDouble(a, b longDouble) (*big.Float, bool) {
	if a.inf != 0 || b.inf != 0 {
		return nil, false
	}
	sum := new(big.Float).SetPrec(ldPrec).Add(a.f, b.f)
	exp := sum.MantExp(nil)
	if exp > ldMaxExp {
		return nil, false
	}
	if sum.Sign() != 0 && exp < ldMinExp {
		if exp < ldSubExp {
			return new(big.Float).SetPrec(ldPrec), true
		}
		sum.SetPrec(uint(ldPrec - (ldMinExp - exp)))
		sum.SetPrec(ldPrec)
	}
	return sum, true
}

// formatLongDouble prints f as Redis's "human friendly" long double format:
// "%.17Lf", then trailing zeros and a trailing '.' removed, "-0" as "0".
func formatLongDouble(f *big.Float) []byte {
	b := f.Append(nil, 'f', 17)
	n := len(b)
	for n > 0 && b[n-1] == '0' {
		n--
	}
	if n > 0 && b[n-1] == '.' {
		n--
	}
	b = b[:n]
	if string(b) == "-0" {
		return []byte("0")
	}
	return b
}

// parseExponent parses an optional sign and at least one decimal digit, the
// whole of b, saturating far beyond any long double exponent.
func parseExponent(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var e int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if e < 1<<40 {
			e = e*10 + int64(c-'0')
		}
	}
	if neg {
		e = -e
	}
	return e, true
}

func digitVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
