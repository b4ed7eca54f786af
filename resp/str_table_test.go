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
// and key commands: name, arity, flags, first key, last key, key step.
// go-redis's cluster client routes by these, so they must be Redis's.
var redisCommandInfo = []struct {
	name                string
	arity               int
	flags               string
	first, last, stride int
}{
	{"get", 2, "readonly fast", 1, 1, 1},
	{"set", -3, "write denyoom", 1, 1, 1},
	{"setnx", 3, "write denyoom fast", 1, 1, 1},
	{"setex", 4, "write denyoom", 1, 1, 1},
	{"psetex", 4, "write denyoom", 1, 1, 1},
	{"getset", 3, "write denyoom fast", 1, 1, 1},
	{"getdel", 2, "write fast", 1, 1, 1},
	{"getex", -2, "write fast", 1, 1, 1},
	{"mget", -2, "readonly fast", 1, -1, 1},
	{"mset", -3, "write denyoom", 1, -1, 2},
	{"msetnx", -3, "write denyoom", 1, -1, 2},
	{"append", 3, "write denyoom fast", 1, 1, 1},
	{"strlen", 2, "readonly fast", 1, 1, 1},
	{"getrange", 4, "readonly", 1, 1, 1},
	{"setrange", 4, "write denyoom", 1, 1, 1},
	{"incr", 2, "write denyoom fast", 1, 1, 1},
	{"decr", 2, "write denyoom fast", 1, 1, 1},
	{"incrby", 3, "write denyoom fast", 1, 1, 1},
	{"decrby", 3, "write denyoom fast", 1, 1, 1},
	{"incrbyfloat", 3, "write denyoom fast", 1, 1, 1},
	{"lcs", -3, "readonly", 1, 2, 1},
	{"setbit", 4, "write denyoom", 1, 1, 1},
	{"getbit", 3, "readonly fast", 1, 1, 1},
	{"bitcount", -2, "readonly", 1, 1, 1},
	{"bitpos", -3, "readonly", 1, 1, 1},
	{"del", -2, "write", 1, -1, 1},
	{"unlink", -2, "write fast", 1, -1, 1},
	{"exists", -2, "readonly fast", 1, -1, 1},
	{"touch", -2, "readonly fast", 1, -1, 1},
	{"type", 2, "readonly fast", 1, 1, 1},
	{"keys", 2, "readonly", 0, 0, 0},
	{"scan", -2, "readonly", 0, 0, 0},
	{"randomkey", 1, "readonly", 0, 0, 0},
	{"rename", 3, "write", 1, 2, 1},
	{"renamenx", 3, "write fast", 1, 2, 1},
	{"copy", -3, "write denyoom", 1, 2, 1},
	{"move", 3, "write fast", 1, 1, 1},
	{"expire", -3, "write fast", 1, 1, 1},
	{"pexpire", -3, "write fast", 1, 1, 1},
	{"expireat", -3, "write fast", 1, 1, 1},
	{"pexpireat", -3, "write fast", 1, 1, 1},
	{"ttl", 2, "readonly fast", 1, 1, 1},
	{"pttl", 2, "readonly fast", 1, 1, 1},
	{"expiretime", 2, "readonly fast", 1, 1, 1},
	{"pexpiretime", 2, "readonly fast", 1, 1, 1},
	{"persist", 2, "write fast", 1, 1, 1},
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
		if err != nil || len(v.elems) != 1 || len(v.elems[0].elems) < 6 {
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
		if num(e[1]) != want.arity || strings.Join(flags, " ") != want.flags ||
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
			if h.srv.cmds.lookup(args[0]) == nil {
				continue
			}
			if name := strings.ToLower(string(args[0])); name == "keys" || name == "scan" || name == "randomkey" {
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
