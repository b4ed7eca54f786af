package resp

import (
	"bufio"
	"strings"
	"testing"

	"github.com/ringstore/ringstore/version"
)

// getCtx runs GETCTX and returns the context (nil when the reply's is nil)
// and the values, failing on any other reply shape.
func getCtx(t *testing.T, h *harness, key string) (ctx *string, vals []string) {
	t.Helper()
	out := h.doStr("GETCTX", key)
	v, err := parseReply(bufio.NewReader(strings.NewReader(out)))
	if err != nil || len(v.elems) != 2 || v.elems[1].elems == nil && string(v.elems[1].raw) != "*0\r\n" {
		t.Fatalf("GETCTX %s = %q", key, out)
	}
	bulk := func(r *reply) string {
		raw := string(r.raw)
		return raw[strings.Index(raw, "\r\n")+2 : len(raw)-2]
	}
	if string(v.elems[0].raw) != "$-1\r\n" {
		s := bulk(v.elems[0])
		ctx = &s
	}
	for _, el := range v.elems[1].elems {
		vals = append(vals, bulk(el))
	}
	return ctx, vals
}

func TestContextCommands(t *testing.T) {
	h := newHarness(t)
	if got := h.doStr("GETCTX", "k"); got != "*2\r\n$-1\r\n*0\r\n" {
		t.Fatalf("GETCTX of a missing key = %q", got)
	}
	if got := h.doStr("SETCTX", "k", "", "a"); got != "+OK\r\n" {
		t.Fatalf("SETCTX with an empty context = %q", got)
	}
	ctxA, vals := getCtx(t, h, "k")
	if ctxA == nil || len(vals) != 1 || vals[0] != "a" {
		t.Fatalf("after SETCTX: %v %q", ctxA, vals)
	}
	if got := h.doStr("GET", "k"); got != "$1\r\na\r\n" {
		t.Fatalf("GET = %q", got)
	}

	// A concurrent write by another node that has not seen "a".
	other := version.Version{Clock: version.Clock(nil).Increment("n2", 1), Timestamp: 1, Writer: "n2", Kind: version.KindString, Value: []byte("b")}
	if _, err := h.store.Merge(0, []byte("k"), version.Siblings{other}); err != nil {
		t.Fatal(err)
	}
	ctxAB, vals := getCtx(t, h, "k")
	if len(vals) != 2 || *ctxAB == *ctxA {
		t.Fatalf("siblings: %q, context changed: %v", vals, *ctxAB != *ctxA)
	}
	// Superseding what was read before the concurrent write keeps that write.
	if got := h.doStr("SETCTX", "k", *ctxA, "c"); got != "+OK\r\n" {
		t.Fatalf("SETCTX = %q", got)
	}
	ctxBC, vals := getCtx(t, h, "k")
	if len(vals) != 2 || !strings.Contains(strings.Join(vals, ","), "b") || !strings.Contains(strings.Join(vals, ","), "c") {
		t.Fatalf("want siblings b and c, got %q", vals)
	}
	// Superseding both resolves them.
	if got := h.doStr("SETCTX", "k", *ctxBC, "d", "PX", "1000"); got != "+OK\r\n" {
		t.Fatalf("SETCTX PX = %q", got)
	}
	ctxD, vals := getCtx(t, h, "k")
	if len(vals) != 1 || vals[0] != "d" {
		t.Fatalf("resolved: %q", vals)
	}
	if got := h.doStr("PTTL", "k"); got != ":1000\r\n" {
		t.Fatalf("PTTL after SETCTX PX 1000 = %q", got)
	}
	if got := h.doStr("DELCTX", "k", *ctxA); got != ":0\r\n" {
		t.Fatalf("DELCTX with a stale context = %q", got)
	}
	if _, vals := getCtx(t, h, "k"); len(vals) != 1 {
		t.Fatalf("a stale DELCTX removed %q", vals)
	}
	ctxD, _ = getCtx(t, h, "k")
	if got := h.doStr("DELCTX", "k", *ctxD); got != ":1\r\n" {
		t.Fatalf("DELCTX = %q", got)
	}
	ctxGone, vals := getCtx(t, h, "k")
	if ctxGone == nil || len(vals) != 0 {
		t.Fatalf("after DELCTX: context %v (a tombstone still has one), values %q", ctxGone, vals)
	}
	if got := h.doStr("GET", "k"); got != "$-1\r\n" {
		t.Fatalf("GET after DELCTX = %q", got)
	}
	if got := h.doStr("SETCTX", "e", "", "v", "EX", "100"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := h.doStr("TTL", "e"); got != ":100\r\n" {
		t.Fatalf("TTL after SETCTX EX 100 = %q", got)
	}

	for _, c := range []struct {
		args []string
		want string // exact, or a prefix ending in '*'
	}{
		{[]string{"SETCTX", "k", "!!not-base64", "v"}, "-ERR *"},
		{[]string{"DELCTX", "k", "!!not-base64"}, "-ERR *"},
		{[]string{"SETCTX", "k", "", "v", "EX"}, "-ERR syntax error\r\n"},
		{[]string{"SETCTX", "k", "", "v", "EX", "1", "PX", "1"}, "-ERR syntax error\r\n"},
		{[]string{"SETCTX", "k", "", "v", "NX"}, "-ERR syntax error\r\n"},
		{[]string{"SETCTX", "k", "", "v", "EX", "0"}, "-ERR invalid expire time in 'setctx' command\r\n"},
		{[]string{"SETCTX", "k", "", "v", "PX", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SETCTX", "k", ""}, "-ERR wrong number of arguments for 'setctx' command\r\n"},
		{[]string{"GETCTX"}, "-ERR wrong number of arguments for 'getctx' command\r\n"},
		{[]string{"DELCTX", "k"}, "-ERR wrong number of arguments for 'delctx' command\r\n"},
	} {
		got := h.doStr(c.args...)
		if p, ok := strings.CutSuffix(c.want, "*"); ok && strings.HasPrefix(got, p) || got == c.want {
			continue
		}
		t.Errorf("%q = %q, want %q", c.args, got, c.want)
	}

	h.plantOther([]byte("h"))
	if got := h.doStr("GETCTX", "h"); got != "-"+txtWrongType+"\r\n" {
		t.Fatalf("GETCTX of another type = %q", got)
	}
}
