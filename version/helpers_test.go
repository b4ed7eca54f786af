package version

import (
	"encoding/binary"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("version.seed", 0, "seed for randomized tests (0: pick one from the time)")

// testSeed returns the seed a randomized test runs with and arranges for it
// to be printed if the test fails, so the failure can be replayed with
// -version.seed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./version/ -run '^%s$' -version.seed %d", t.Name(), seed)
		}
	})
	return seed
}

// cl builds a clock from "node=counter" or "node=counter@stamp" words, in
// the order given (so tests can also build malformed clocks).
func cl(spec string) Clock {
	var c Clock
	for _, w := range strings.Fields(spec) {
		node, rest, ok := strings.Cut(w, "=")
		if !ok {
			panic("bad clock word " + w)
		}
		ctr, stamp, _ := strings.Cut(rest, "@")
		e := Entry{Node: node, Counter: mustUint(ctr)}
		if stamp != "" {
			e.Stamp = HLC(mustUint(stamp))
		}
		c = append(c, e)
	}
	return c
}

func mustUint(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// ver builds a live string version.
func ver(clock string, ts HLC, writer, value string) Version {
	return Version{Clock: cl(clock), Timestamp: ts, Writer: writer, Kind: KindString, Value: []byte(value)}
}

// values lists the values of s in order, for readable failures.
func values(s Siblings) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v.Value)
		if v.Tombstone {
			out[i] = "<del>"
		}
	}
	return out
}

// canonical reports why s is not a canonical sibling set, or "".
func canonical(s Siblings) string {
	for i := range s {
		if !s[i].Clock.Valid() {
			return "invalid clock " + s[i].Clock.String()
		}
		if i > 0 && newer(&s[i-1], &s[i]) >= 0 {
			return "not sorted at " + strconv.Itoa(i)
		}
		for j := range i {
			if o := Compare(s[j].Clock, s[i].Clock); o != Concurrent {
				return "versions " + strconv.Itoa(j) + " and " + strconv.Itoa(i) + " are " + o.String()
			}
		}
	}
	return ""
}

// cloneSiblings deep-copies s so a test can check an input was not modified.
func cloneSiblings(s Siblings) Siblings {
	if s == nil {
		return nil
	}
	out := make(Siblings, len(s))
	for i, v := range s {
		v.Clock = append(Clock(nil), v.Clock...)
		v.Value = append([]byte(nil), v.Value...)
		out[i] = v
	}
	return out
}

// identical reports whether two sibling sets are equal field by field,
// stamps included.
func identical(a, b Siblings) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if len(x.Clock) != len(y.Clock) || x.Timestamp != y.Timestamp || x.Writer != y.Writer ||
			x.ExpireAt != y.ExpireAt || x.Tombstone != y.Tombstone || x.Kind != y.Kind || string(x.Value) != string(y.Value) {
			return false
		}
		for j := range x.Clock {
			if x.Clock[j] != y.Clock[j] {
				return false
			}
		}
	}
	return true
}

// appendV1 is the record encoding of s in format 1, which Decode still reads
// and AppendBinary no longer writes.
func appendV1(s Siblings) []byte {
	b := []byte{recordFormatV1}
	b = binary.AppendUvarint(b, uint64(len(s)))
	for i := range s {
		v := &s[i]
		b = v.Clock.appendBinary(b)
		b = binary.AppendUvarint(b, uint64(v.Timestamp))
		b = appendStr(b, v.Writer)
		b = v.appendTail(b)
	}
	return b
}
