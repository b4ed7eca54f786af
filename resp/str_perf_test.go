package resp

import (
	"context"
	"testing"
)

// TestHotPathAllocations: the GET and SET handlers allocate nothing beyond
// what the coordinator call they make allocates.
func TestHotPathAllocations(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	key, val := []byte("key:000000000001"), make([]byte, 100)
	var w Writer
	get := h.srv.cmds.lookup([]byte("GET")).handler
	set := h.srv.cmds.lookup([]byte("SET")).handler
	getArgs := [][]byte{[]byte("GET"), key}
	setArgs := [][]byte{[]byte("SET"), key, val}
	set(ctx, h.sess, &w, setArgs)

	coordSet := testing.AllocsPerRun(200, func() { h.srv.coord.Set(ctx, 0, key, stringValue(val, 0)) })
	handlerSet := testing.AllocsPerRun(200, func() { w.Reset(); set(ctx, h.sess, &w, setArgs) })
	if handlerSet > coordSet {
		t.Errorf("SET handler: %.1f allocations, coordinator.Set alone %.1f", handlerSet, coordSet)
	}
	coordGet := testing.AllocsPerRun(200, func() { h.srv.coord.Get(ctx, 0, key) })
	handlerGet := testing.AllocsPerRun(200, func() { w.Reset(); get(ctx, h.sess, &w, getArgs) })
	if handlerGet > coordGet {
		t.Errorf("GET handler: %.1f allocations, coordinator.Get alone %.1f", handlerGet, coordGet)
	}
	if got := parseRedisIntAllocs(); got != 0 {
		t.Errorf("parseRedisInt allocates %.1f", got)
	}
}

func parseRedisIntAllocs() float64 {
	b := []byte("-9223372036854775808")
	return testing.AllocsPerRun(100, func() { parseRedisInt(b) })
}

func TestParseRedisInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"-1", -1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"000000000000000000001", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"-0", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"1\x00", 0, false},
	} {
		got, ok := parseRedisInt([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("parseRedisInt(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func BenchmarkGetHandler(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	key := []byte("key:000000000001")
	h.do([]byte("SET"), key, make([]byte, 100))
	get := h.srv.cmds.lookup([]byte("GET")).handler
	args := [][]byte{[]byte("GET"), key}
	var w Writer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		get(ctx, h.sess, &w, args)
	}
}

func BenchmarkSetHandler(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	set := h.srv.cmds.lookup([]byte("SET")).handler
	args := [][]byte{[]byte("SET"), []byte("key:000000000001"), make([]byte, 100)}
	var w Writer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		set(ctx, h.sess, &w, args)
	}
}
