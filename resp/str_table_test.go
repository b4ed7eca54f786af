package resp

import (
	"bufio"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisCommandInfo is COMMAND INFO of redis-server 7.0.15 for the string
// and key commands: name, arity, flags, first key, last key, key step, ACL
// categories.
// go-redis's cluster client routes by these, so they must be Redis's.
var redisCommandInfo = []struct {
	name                string
	arity               int
	flags               string
	first, last, stride int
	acl                 string
}{
	{"get", 2, "readonly fast", 1, 1, 1, "@read @string @fast"},
	{"set", -3, "write denyoom", 1, 1, 1, "@write @string @slow"},
	{"setnx", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"setex", 4, "write denyoom", 1, 1, 1, "@write @string @slow"},
	{"psetex", 4, "write denyoom", 1, 1, 1, "@write @string @slow"},
	{"getset", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"getdel", 2, "write fast", 1, 1, 1, "@write @string @fast"},
	{"getex", -2, "write fast", 1, 1, 1, "@write @string @fast"},
	{"mget", -2, "readonly fast", 1, -1, 1, "@read @string @fast"},
	{"mset", -3, "write denyoom", 1, -1, 2, "@write @string @slow"},
	{"msetnx", -3, "write denyoom", 1, -1, 2, "@write @string @slow"},
	{"append", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"strlen", 2, "readonly fast", 1, 1, 1, "@read @string @fast"},
	{"getrange", 4, "readonly", 1, 1, 1, "@read @string @slow"},
	{"substr", 4, "readonly", 1, 1, 1, "@read @string @slow"},
	{"setrange", 4, "write denyoom", 1, 1, 1, "@write @string @slow"},
	{"incr", 2, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"decr", 2, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"incrby", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"decrby", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"incrbyfloat", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast"},
	{"lcs", -3, "readonly", 1, 2, 1, "@read @string @slow"},
	{"setbit", 4, "write denyoom", 1, 1, 1, "@write @bitmap @slow"},
	{"getbit", 3, "readonly fast", 1, 1, 1, "@read @bitmap @fast"},
	{"bitcount", -2, "readonly", 1, 1, 1, "@read @bitmap @slow"},
	{"bitpos", -3, "readonly", 1, 1, 1, "@read @bitmap @slow"},
	{"del", -2, "write", 1, -1, 1, "@keyspace @write @slow"},
	{"unlink", -2, "write fast", 1, -1, 1, "@keyspace @write @fast"},
	{"exists", -2, "readonly fast", 1, -1, 1, "@keyspace @read @fast"},
	{"touch", -2, "readonly fast", 1, -1, 1, "@keyspace @read @fast"},
	{"type", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast"},
	{"keys", 2, "readonly", 0, 0, 0, "@keyspace @read @slow @dangerous"},
	{"scan", -2, "readonly", 0, 0, 0, "@keyspace @read @slow"},
	{"randomkey", 1, "readonly", 0, 0, 0, "@keyspace @read @slow"},
	{"rename", 3, "write", 1, 2, 1, "@keyspace @write @slow"},
	{"renamenx", 3, "write fast", 1, 2, 1, "@keyspace @write @fast"},
	{"copy", -3, "write denyoom", 1, 2, 1, "@keyspace @write @slow"},
	{"move", 3, "write fast", 1, 1, 1, "@keyspace @write @fast"},
	{"expire", -3, "write fast", 1, 1, 1, "@keyspace @write @fast"},
	{"pexpire", -3, "write fast", 1, 1, 1, "@keyspace @write @fast"},
	{"expireat", -3, "write fast", 1, 1, 1, "@keyspace @write @fast"},
	{"pexpireat", -3, "write fast", 1, 1, 1, "@keyspace @write @fast"},
	{"ttl", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast"},
	{"pttl", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast"},
	{"expiretime", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast"},
	{"pexpiretime", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast"},
	{"persist", 2, "write fast", 1, 1, 1, "@keyspace @write @fast"},
}

// rmwCommands run their decision under the key's lock (coord.Update).
var rmwCommands = []string{"set", "setnx", "getset", "getdel", "getex", "append", "setrange",
	"incr", "decr", "incrby", "decrby", "incrbyfloat", "setbit",
	"expire", "pexpire", "expireat", "pexpireat", "persist"}

func TestCommandTableMatchesRedis(t *testing.T) {
	h := newHarness(t)
	for _, want := range redisCommandInfo {
		c := h.srv.cmds[want.name]
		if c == nil {
			t.Errorf("%s: not in the table", want.name)
			continue
		}
		if c.arity != want.arity || strings.Join(c.flags, " ") != want.flags ||
			c.firstKey != want.first || c.lastKey != want.last || c.keyStep != want.stride {
			t.Errorf("%s: arity %d flags %q keys %d,%d,%d; redis: %d %q %d,%d,%d", c.name,
				c.arity, strings.Join(c.flags, " "), c.firstKey, c.lastKey, c.keyStep,
				want.arity, want.flags, want.first, want.last, want.stride)
		}
		if got := strings.Join(c.acl, " "); got != want.acl {
			t.Errorf("%s: ACL categories %q, redis %q", c.name, got, want.acl)
		}
		if c.rmw != slices.Contains(rmwCommands, c.name) {
			t.Errorf("%s: rmw = %v", c.name, c.rmw)
		}
	}
	for _, name := range []string{"getctx", "setctx", "delctx"} {
		if c := h.srv.cmds[name]; c == nil || c.firstKey != 1 || c.lastKey != 1 || c.keyStep != 1 {
			t.Errorf("%s: missing or wrong key positions", name)
		}
	}

	rc := dialTestRedis(t)
	if rc == nil {
		return
	}
	for _, want := range redisCommandInfo {
		out := rc.do(t, []byte("COMMAND"), []byte("INFO"), []byte(want.name))
		v, err := parseReply(bufio.NewReader(strings.NewReader(out)))
		if err != nil || len(v.elems) != 1 || len(v.elems[0].elems) < 7 {
			t.Fatalf("COMMAND INFO %s: %q", want.name, out)
		}
		e := v.elems[0].elems
		num := func(r *reply) int {
			n, _ := strconv.Atoi(strings.TrimSpace(string(r.raw[1:])))
			return n
		}
		var flags []string
		for _, f := range e[2].elems {
			flags = append(flags, strings.TrimSpace(string(f.raw[1:])))
		}
		var cats []string
		for _, f := range e[6].elems {
			cats = append(cats, strings.TrimSpace(string(f.raw[1:])))
		}
		if num(e[1]) != want.arity || strings.Join(flags, " ") != want.flags || strings.Join(cats, " ") != want.acl ||
			num(e[3]) != want.first || num(e[4]) != want.last || num(e[5]) != want.stride {
			t.Errorf("redis-server's COMMAND INFO %s differs from the table: %q", want.name, out)
		}
	}
}

// TestCommandsSurviveRandomArguments sends every string and key command
// random argument lists built from words that steer into option parsing and
// edge values, and checks that each answers exactly one well-formed reply
// and nothing panics. The seed is printed on failure.
func TestCommandsSurviveRandomArguments(t *testing.T) {
	words := []string{"k", "k2", "h", "", "0", "1", "-1", "2", "10", "x", "1.5", "inf", "-0",
		"EX", "PX", "EXAT", "PXAT", "NX", "XX", "GT", "LT", "GET", "KEEPTTL", "PERSIST",
		"IDX", "LEN", "MINMATCHLEN", "WITHMATCHLEN", "BIT", "BYTE", "COUNT", "MATCH", "TYPE",
		"DB", "REPLACE", "*", "[a-", "\\", "9223372036854775807", "-9223372036854775808",
		"4294967296", "18446744073709551616", "\x00", "a\r\nb"}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	h := newHarness(t)
	h.plantOther([]byte("h"))
	names := make([]string, 0, len(redisCommandInfo)+3)
	for _, c := range redisCommandInfo {
		names = append(names, c.name)
	}
	names = append(names, "getctx", "setctx", "delctx")
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("seed %d: panic %v", seed, r)
		}
	}()
	for i := 0; i < 10000; i++ {
		name := names[rng.IntN(len(names))]
		if (name == "keys" || name == "scan" || name == "randomkey") && rng.IntN(40) != 0 {
			continue // each walks all 16384 slots of the test store: keep them rare
		}
		args := [][]byte{[]byte(name)}
		for n := rng.IntN(7); n > 0; n-- {
			args = append(args, []byte(words[rng.IntN(len(words))]))
		}
		if rng.IntN(50) == 0 {
			h.now = h.now.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
		}
		reply := h.do(args...)
		r := bufio.NewReader(strings.NewReader(reply))
		if _, err := readReply(r); err != nil || r.Buffered() != 0 {
			t.Fatalf("seed %d: %q answered %q", seed, args, reply)
		}
	}
}

// FuzzStringAndKeyCommands runs lines of commands (arguments separated by
// spaces) through the string and key handlers: every command must answer
// exactly one well-formed reply and never panic. Numbers are capped at six
// digits so that the fuzzer cannot ask for the (legal) 512 MB strings.
// The seed corpus is every step of the scripts in this package's tests.
func FuzzStringAndKeyCommands(f *testing.F) {
	for _, scripts := range [][]script{stringScripts, keyScripts, expireScripts, bitScripts} {
		for _, sc := range scripts {
			var lines []string
			for _, st := range sc.steps {
				if cmd, _, _ := st.markers(); !strings.HasPrefix(cmd, "@") {
					lines = append(lines, cmd)
				}
			}
			f.Add(strings.Join(lines, "\n"))
		}
	}
	ours := map[string]bool{"getctx": true, "setctx": true, "delctx": true}
	for _, c := range redisCommandInfo {
		ours[c.name] = true
	}
	f.Fuzz(func(t *testing.T, input string) {
		h := newHarness(t)
		h.plantOther([]byte("h"))
		for _, line := range strings.Split(input, "\n") {
			var args [][]byte
			for _, a := range strings.Split(line, " ") {
				if d := strings.TrimPrefix(a, "-"); len(d) > 6 && strings.Trim(d, "0123456789") == "" {
					a = a[:len(a)-len(d)+6]
				}
				args = append(args, []byte(a))
			}
			switch name := strings.ToLower(string(args[0])); {
			case !ours[name]:
				continue // not a string or key command
			case name == "keys" || name == "scan" || name == "randomkey":
				continue // each walks all 16384 slots of the test store: too slow to fuzz
			}
			reply := h.do(args...)
			r := bufio.NewReader(strings.NewReader(reply))
			if _, err := readReply(r); err != nil || r.Buffered() != 0 {
				t.Fatalf("%q answered %q", args, reply)
			}
		}
	})
}
