package resp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator/coordtest"
)

// The connection loop parses commands in place: their arguments are slices
// of the connection's read buffer, which the next read overwrites. These
// tests pipeline many commands, in writes that split them across reads, so
// that any argument kept past its command (a SET's value in the store, a
// late replica answer's hint, a client name) would read another command's
// bytes if it aliased the buffer.

// loopValue is the value loopPipeline stores under key i of round r: long
// enough to span reads, and different in every byte position from the
// values of other keys.
func loopValue(r, i int) string {
	return strings.Repeat(fmt.Sprintf("<%d.%d>", r, i), 7+i%5)
}

// loopPipeline sends rounds of n SETs, each round in pieces of odd sizes,
// and checks every reply.
func loopPipeline(t *testing.T, rc *rawClient, rounds, n int) {
	t.Helper()
	for r := range rounds {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$%d\r\nloop:%d:%d\r\n$%d\r\n%s\r\n",
				len(fmt.Sprintf("loop:%d:%d", r, i)), r, i, len(loopValue(r, i)), loopValue(r, i))
			if i%7 == 3 {
				b.WriteString("CLIENT SETNAME name-" + fmt.Sprint(r, "-", i) + "\r\n")
			}
		}
		all := b.String()
		for len(all) > 0 { // pieces of 1000 bytes: commands straddle reads
			k := min(len(all), 1000)
			rc.send(all[:k])
			all = all[k:]
		}
		for i := range n {
			if got := rc.reply(); got != "+OK\r\n" {
				t.Fatalf("round %d SET %d: %q", r, i, got)
			}
			if i%7 == 3 {
				if got := rc.reply(); got != "+OK\r\n" {
					t.Fatalf("round %d SETNAME %d: %q", r, i, got)
				}
			}
		}
	}
}

// checkLoopValues reads every key back in one pipeline.
func checkLoopValues(t *testing.T, rc *rawClient, rounds, n int) {
	t.Helper()
	var b strings.Builder
	for r := range rounds {
		for i := range n {
			fmt.Fprintf(&b, "GET loop:%d:%d\r\n", r, i)
		}
	}
	b.WriteString("CLIENT GETNAME\r\n")
	rc.send(b.String())
	for r := range rounds {
		for i := range n {
			v := loopValue(r, i)
			if got, want := rc.reply(), fmt.Sprintf("$%d\r\n%s\r\n", len(v), v); got != want {
				t.Fatalf("GET loop:%d:%d = %q, want %q", r, i, got, want)
			}
		}
	}
	last := (n - 1) / 7 * 7
	if last+3 >= n {
		last -= 7
	}
	name := fmt.Sprint("name-", rounds-1, "-", last+3)
	if got, want := rc.reply(), fmt.Sprintf("$%d\r\n%s\r\n", len(name), name); got != want {
		t.Fatalf("CLIENT GETNAME = %q, want %q", got, want)
	}
}

func TestLoopArgsSurviveBufferReuse(t *testing.T) {
	_, addr := startServer(t, nil)
	rc := dialRaw(t, addr)
	loopPipeline(t, rc, 20, 100)
	checkLoopValues(t, rc, 20, 100)
}

// TestLoopArgsSurviveBufferReuseOnRing runs the pipelines on a ring whose
// third node fails every write late, after the quorum of the other two
// answered: the coordinator then records a hint from the key and value it
// was given, long after the command's reply went out and its read buffer
// was reused.
func TestLoopArgsSurviveBufferReuseOnRing(t *testing.T) {
	net3 := coordtest.NewNetwork(1)
	third := fmt.Sprintf("%040x", 3)
	net3.Add(coordtest.Delay{To: third, Max: 20 * time.Millisecond}, coordtest.Drop{To: third, Rate: 1})
	addr, store := startRingServerOn(t, net3)
	rc := dialRaw(t, addr)
	const rounds, n = 10, 60
	loopPipeline(t, rc, rounds, n)
	checkLoopValues(t, rc, rounds, n)

	want := map[string]string{}
	for r := range rounds {
		for i := range n {
			want[fmt.Sprintf("loop:%d:%d", r, i)] = loopValue(r, i)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		hints, err := store.PendingHints(third, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hints {
			v, ok := want[string(h.Key)]
			if !ok {
				t.Fatalf("hint for key %q, which no client sent", h.Key)
			}
			if len(h.Siblings) != 1 || string(h.Siblings[0].Value) != v {
				t.Fatalf("hint for %s holds %d siblings %v, want one of value %q", h.Key, len(h.Siblings), h.Siblings, v)
			}
		}
		if len(hints) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d hints for %d writes: the late failures never came (%s)", len(hints), len(want), net3.Faults())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
