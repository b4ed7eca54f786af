package resp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestMultiKeyCommandsOnARing runs the multi-key commands with many keys
// spread over the slots of a three-node ring, where their keys run
// concurrently, and checks Redis's replies, duplicates included.
func TestMultiKeyCommandsOnARing(t *testing.T) {
	rc := dialRaw(t, startRingServer(t))
	cmd := func(args ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		rc.send(b.String())
		return rc.reply()
	}
	const n = 100 // more keys than maxKeyFanout
	mset := []string{"MSET"}
	mget := []string{"MGET"}
	var wantGet strings.Builder
	fmt.Fprintf(&wantGet, "*%d\r\n", n+1)
	for i := range n {
		k, v := fmt.Sprintf("key%d", i), fmt.Sprintf("v%d", i)
		if i == 7 {
			v = "first" // overwritten below by a later pair for the same key
		}
		mset = append(mset, k, v)
		mget = append(mget, k)
	}
	mset = append(mset, "key7", "v7") // MSET k a ... k b leaves b
	for i := range n {
		v := fmt.Sprintf("v%d", i)
		fmt.Fprintf(&wantGet, "$%d\r\n%s\r\n", len(v), v)
	}
	mget = append(mget, "absent")
	wantGet.WriteString("$-1\r\n")
	if got := cmd(mset...); got != "+OK\r\n" {
		t.Fatalf("MSET: %q", got)
	}
	if got := cmd(mget...); got != wantGet.String() {
		t.Fatalf("MGET:\n got %q\nwant %q", got, wantGet.String())
	}
	// EXISTS counts every argument, duplicates included.
	if got := cmd("EXISTS", "key1", "key1", "absent", "key99"); got != ":3\r\n" {
		t.Fatalf("EXISTS: %q", got)
	}
	// DEL deletes a key named twice once.
	del := []string{"DEL", "key0", "key0"}
	for i := 1; i < n; i++ {
		del = append(del, fmt.Sprintf("key%d", i))
	}
	del = append(del, "absent")
	if got, want := cmd(del...), fmt.Sprintf(":%d\r\n", n); got != want {
		t.Fatalf("DEL: %q, want %q", got, want)
	}
	if got := cmd("EXISTS", "key0", "key50"); got != ":0\r\n" {
		t.Fatalf("EXISTS after DEL: %q", got)
	}
	// MSETNX sets nothing when one key exists, else every key, the last
	// value of a repeated one.
	msetnx := []string{"MSETNX"}
	for i := range n {
		msetnx = append(msetnx, fmt.Sprintf("nx%d", i), "a")
	}
	msetnx = append(msetnx, "nx3", "b")
	if got := cmd(append(slices.Clone(msetnx), "key99-exists", "c")...); got != ":1\r\n" {
		t.Fatalf("MSETNX of new keys: %q", got)
	}
	if got := cmd("MGET", "nx0", "nx3", "nx99", "key99-exists"); got != "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nc\r\n" {
		t.Fatalf("MGET after MSETNX: %q", got)
	}
	if got := cmd("MSETNX", "fresh1", "x", "nx50", "y", "fresh2", "z"); got != ":0\r\n" {
		t.Fatalf("MSETNX over an existing key: %q", got)
	}
	if got := cmd("EXISTS", "fresh1", "fresh2"); got != ":0\r\n" {
		t.Fatalf("MSETNX that found an existing key wrote: EXISTS %q", got)
	}
}

func TestLastOccurrences(t *testing.T) {
	keys := func(s string) [][]byte {
		var out [][]byte
		for _, f := range strings.Fields(s) {
			out = append(out, []byte(f))
		}
		return out
	}
	for _, tc := range []struct {
		keys string
		step int
		want string
	}{
		{"a b c", 1, "[0 1 2]"},
		{"a b a", 1, "[1 2]"},
		{"a 1 b 2 a 3", 2, "[2 4]"},
		{"a 1 a 2 a 3", 2, "[4]"},
		{strings.Repeat("x y ", 20), 1, "[38 39]"}, // the map path
		{strings.Repeat("x 1 ", 20) + "y 2", 2, "[38 40]"},
	} {
		if got := fmt.Sprint(lastOccurrences(keys(tc.keys), tc.step)); got != tc.want {
			t.Errorf("lastOccurrences(%q, %d) = %s, want %s", tc.keys, tc.step, got, tc.want)
		}
	}
}
