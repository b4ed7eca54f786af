package compat_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// difference is a command whose reply ringstore does not match byte for byte
// on purpose. The test checks the shape of ringstore's reply instead.
type difference struct {
	args  []string
	why   string
	check func(r reply) error
}

// intentionalDifferences lists where ringstore differs from redis-server
// 7.0.15 on purpose, and why. TestDifferential leaves these commands out;
// TestIntentionalDifferences checks ringstore's side of each.
var intentionalDifferences = []difference{
	{splitLine("HELLO"), "ringstore reports its own id, version 7.2.0 (clients gate features on >= 7) " +
		"and mode cluster (CLIENTS.md 2.6)", helloReply},
	{splitLine("HELLO 2"), "as HELLO", helloReply},
	{splitLine("HELLO 3"), "RESP3 is not implemented: NOPROTO makes go-redis and ioredis fall back to RESP2 " +
		"(DESIGN.md Connection); Redis 7 switches to RESP3", errPrefix("-NOPROTO")},
	{splitLine("CLIENT SETINFO LIB-NAME compat"), "Redis 7.0.15 lacks CLIENT SETINFO (added in 7.2) and " +
		"answers unknown subcommand; go-redis, ioredis and Jedis 5 send it, so ringstore answers OK", isOK},
	{splitLine("CLIENT SETINFO LIB-VER 1.0"), "as CLIENT SETINFO LIB-NAME", isOK},
	{splitLine("CLIENT ID"), "connection ids are per server", positiveInt},
	{splitLine("CLIENT INFO"), "the client line's fields and values are per server", bulkContaining("id=")},
	{splitLine("CLIENT LIST"), "as CLIENT INFO, one line per connection", bulkContaining("id=")},
	{splitLine("INFO"), "INFO describes ringstore, not Redis; it keeps the fields clients read " +
		"(CLIENTS.md 2.6: redis_version, loading, cluster_enabled, connected_clients)",
		bulkContaining("redis_version:", "loading:0", "cluster_enabled:1", "connected_clients:")},
	{splitLine("TIME"), "the clock", timeReply},
	{splitLine("COMMAND COUNT"), "ringstore implements fewer commands", positiveInt},
	{splitLine("COMMAND DOCS"), "ringstore may answer an empty array (CLIENTS.md: redis-cli accepts it)", isArray},
	{splitLine("COMMAND INFO get set mget mset"), "Redis 7 entries carry ACL categories, tips, key specs and " +
		"subcommands; ringstore's carry at least name, arity, flags and key positions", commandInfoReply},
	{splitLine("COMMAND"), "as COMMAND INFO, for every command; go-redis routes reads by the readonly flag",
		commandInfoReply},
	{splitLine("CONFIG GET save"), "values are ringstore's own configuration; redis-benchmark reads save and " +
		"appendonly (CLIENTS.md 2.3)", configPair("save")},
	{splitLine("CONFIG GET appendonly"), "as CONFIG GET save", configPair("appendonly")},
	{splitLine("CONFIG GET appendfsync"), "as CONFIG GET save; DESIGN.md Configuration lists the Redis names " +
		"ringstore accepts", configPair("appendfsync")},
	{splitLine("CONFIG GET port"), "as CONFIG GET appendfsync", configPair("port")},
	{splitLine("CLUSTER KEYSLOT foo"), "ringstore is cluster-enabled; standalone Redis answers 'cluster support " +
		"disabled'", intEquals(12182)},
	{splitLine("CLUSTER KEYSLOT {foo}.bar"), "as CLUSTER KEYSLOT foo (hash tag)", intEquals(12182)},
	{splitLine("CLUSTER KEYSLOT bar"), "as CLUSTER KEYSLOT foo", intEquals(5061)},
	{splitLine("READONLY"), "cluster clients send it; standalone Redis refuses it", isOK},
	{splitLine("READWRITE"), "as READONLY", isOK},
	{splitLine("MULTI"), "transactions are not supported (DESIGN.md: unsupported commands answer unknown command)",
		unknownCommand("MULTI")},
	{splitLine("EXEC"), "as MULTI", unknownCommand("EXEC")},
	{splitLine("EVAL return 0"), "scripting is not supported", unknownCommand("EVAL", "return", "0")},
	{splitLine("SUBSCRIBE ch"), "pub/sub is not supported", unknownCommand("SUBSCRIBE", "ch")},
	{splitLine("object encoding k"), "OBJECT is not in the command list", unknownCommand("object", "encoding", "k")},
}

// TestIntentionalDifferences sends each intentionalDifferences command to a
// fresh connection on both servers, checks ringstore's reply, and logs
// redis-server's for comparison.
func TestIntentionalDifferences(t *testing.T) {
	rs := startRingstore(t, serverOptions{})
	redis := startRedis(t, serverOptions{})
	for _, d := range intentionalDifferences {
		t.Run(strings.Join(d.args, " "), func(t *testing.T) {
			got := rs.dial(t).do(t, d.args...)
			other := redis.dial(t).do(t, d.args...)
			t.Logf("why: %s\nringstore:    %s\nredis-server: %s", d.why, abbreviate(got.String()), abbreviate(other.String()))
			if standin() != "" {
				return // the stand-in is Redis itself: there is nothing to check
			}
			if err := d.check(got); err != nil {
				t.Errorf("%s: %v (reply %s)", quoteArgs(d.args), err, abbreviate(got.String()))
			}
		})
	}
	for _, s := range []*server{rs, redis} {
		if err := s.Alive(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDifferencesAreNotCompared keeps the differential tables free of the
// commands listed in intentionalDifferences.
func TestDifferencesAreNotCompared(t *testing.T) {
	differs := map[string]bool{}
	for _, d := range intentionalDifferences {
		differs[commandKey(d.args)] = true
	}
	for _, seq := range allSequences() {
		for _, st := range seq.steps {
			if differs[commandKey(st.args)] {
				t.Errorf("sequence %q compares %s, which is in intentionalDifferences", seq.name, quoteArgs(st.args))
			}
		}
	}
}

// commandKey is the lower-cased command line; HELLO 2 counts as HELLO,
// which it answers alike.
func commandKey(args []string) string {
	key := strings.ToLower(strings.Join(args, " "))
	if key == "hello 2" {
		return "hello"
	}
	return key
}

func abbreviate(s string) string {
	if len(s) > 500 {
		return s[:500] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

func isOK(r reply) error {
	if r.String() != "+OK" {
		return fmt.Errorf("want +OK")
	}
	return nil
}

func isArray(r reply) error {
	if r.Kind != '*' || r.Null {
		return fmt.Errorf("want an array")
	}
	return nil
}

func positiveInt(r reply) error {
	if n, err := r.Int(); err != nil || n <= 0 {
		return fmt.Errorf("want a positive integer")
	}
	return nil
}

func intEquals(want int64) func(reply) error {
	return func(r reply) error {
		if n, err := r.Int(); err != nil || n != want {
			return fmt.Errorf("want :%d", want)
		}
		return nil
	}
}

func errPrefix(prefix string) func(reply) error {
	return func(r reply) error {
		if !strings.HasPrefix(string(r.Raw), prefix) {
			return fmt.Errorf("want an error starting with %q", prefix)
		}
		return nil
	}
}

func bulkContaining(parts ...string) func(reply) error {
	return func(r reply) error {
		if r.Kind != '$' || r.Null {
			return fmt.Errorf("want a bulk string")
		}
		for _, p := range parts {
			if !strings.Contains(r.Str, p) {
				return fmt.Errorf("missing %q", p)
			}
		}
		return nil
	}
}

// unknownCommand expects Redis's exact unknown-command error for args.
func unknownCommand(args ...string) func(reply) error {
	want := "-ERR unknown command '" + args[0] + "', with args beginning with: "
	for _, a := range args[1:] {
		want += "'" + a + "' "
	}
	want += "\r\n"
	return func(r reply) error {
		if string(r.Raw) != want {
			return fmt.Errorf("want %q", want)
		}
		return nil
	}
}

// helloReply checks the RESP2 HELLO shape: a flat array of 7 name/value
// pairs with proto 2.
func helloReply(r reply) error {
	if r.Kind != '*' || len(r.Elems) != 14 {
		return fmt.Errorf("want a flat array of 14 elements")
	}
	fields := map[string]reply{}
	for i := 0; i < len(r.Elems); i += 2 {
		fields[r.Elems[i].Str] = r.Elems[i+1]
	}
	for _, name := range []string{"server", "version", "proto", "id", "mode", "role", "modules"} {
		if _, ok := fields[name]; !ok {
			return fmt.Errorf("missing field %q", name)
		}
	}
	if fields["proto"].String() != ":2" {
		return fmt.Errorf("proto is %s, want :2", fields["proto"])
	}
	if v := fields["version"].Str; v < "7" {
		return fmt.Errorf("version %q, want >= 7", v)
	}
	return nil
}

func timeReply(r reply) error {
	if r.Kind != '*' || len(r.Elems) != 2 {
		return fmt.Errorf("want [seconds, microseconds]")
	}
	sec, err1 := strconv.ParseInt(r.Elems[0].Str, 10, 64)
	usec, err2 := strconv.ParseInt(r.Elems[1].Str, 10, 64)
	if err1 != nil || err2 != nil || usec < 0 || usec >= 1e6 {
		return fmt.Errorf("want two bulk integers")
	}
	if d := time.Since(time.Unix(sec, usec*1000)); d < -time.Minute || d > time.Minute {
		return fmt.Errorf("server time is %v away from ours", d)
	}
	return nil
}

func configPair(name string) func(reply) error {
	return func(r reply) error {
		if r.Kind != '*' || len(r.Elems) != 2 || r.Elems[0].Str != name || r.Elems[1].Kind != '$' {
			return fmt.Errorf("want [%q, value]", name)
		}
		return nil
	}
}

// commandInfoReply checks that the get, set, mget and mset entries (when
// present; COMMAND INFO asks for exactly these) carry the right arity, flags
// and key positions: name, arity, flags, first key, last key, step.
func commandInfoReply(r reply) error {
	want := map[string]struct {
		arity, first, last, step int64
		flag                     string
	}{
		"get":  {2, 1, 1, 1, "readonly"},
		"set":  {-3, 1, 1, 1, "write"},
		"mget": {-2, 1, -1, 1, "readonly"},
		"mset": {-3, 1, -1, 2, "write"},
	}
	if r.Kind != '*' {
		return fmt.Errorf("want an array")
	}
	found := 0
	for _, e := range r.Elems {
		if e.Kind != '*' || len(e.Elems) < 6 {
			if e.Null {
				return fmt.Errorf("a command is missing")
			}
			return fmt.Errorf("entry %s has fewer than 6 elements", e)
		}
		if n := len(e.Elems); n != 6 && n != 7 && n != 10 {
			return fmt.Errorf("entry %s has %d elements; go-redis accepts 6, 7 or 10", e.Elems[0], n)
		}
		w, ok := want[e.Elems[0].Str]
		if !ok {
			continue
		}
		found++
		var flags []string
		for _, f := range e.Elems[2].Elems {
			flags = append(flags, f.Str)
		}
		ints := make([]int64, 0, 4)
		for _, i := range []int{1, 3, 4, 5} {
			n, err := e.Elems[i].Int()
			if err != nil {
				return fmt.Errorf("%s: element %d: %v", e.Elems[0].Str, i, err)
			}
			ints = append(ints, n)
		}
		if got := [4]int64(ints); got != [4]int64{w.arity, w.first, w.last, w.step} {
			return fmt.Errorf("%s: arity/first/last/step = %v, want %v", e.Elems[0].Str, got,
				[4]int64{w.arity, w.first, w.last, w.step})
		}
		if !slices.Contains(flags, w.flag) {
			return fmt.Errorf("%s: flags %q lack %q", e.Elems[0].Str, flags, w.flag)
		}
	}
	if found != len(want) {
		return fmt.Errorf("found %d of the entries get, set, mget, mset", found)
	}
	return nil
}
