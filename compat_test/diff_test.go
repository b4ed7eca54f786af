package compat_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// compareMode says how the replies of one step are compared.
type compareMode int

const (
	// exact compares the raw reply bytes.
	exact compareMode = iota
	// unordered compares the sorted elements of an array reply whose order
	// Redis leaves unspecified (KEYS).
	unordered
	// scanAll runs a SCAN-like command (cursor in args[1]) until the cursor
	// is 0 on each server, then compares the sorted, de-duplicated union of
	// the elements. Cursor values are opaque and differ between servers.
	scanAll
	// intRange requires an integer reply within [lo, hi] from both servers:
	// for time-dependent values such as PTTL.
	intRange
	// closes compares the reply exactly, then requires both servers to close
	// the connection (QUIT).
	closes
)

// step is one command of a differential sequence.
type step struct {
	args   []string
	mode   compareMode
	lo, hi int64 // for intRange
}

// sequence is a list of commands run on a fresh connection to a FLUSHALL'd
// server, first on ringstore and then on redis-server.
type sequence struct {
	name  string
	steps []step
}

// c parses a command line: fields split on spaces; a field in double quotes
// is a Go string literal, for empty, binary or spaced arguments.
func c(line string) step { return step{args: splitLine(line)} }

// a builds a step from explicit arguments.
func a(args ...string) step { return step{args: args} }

// sorted marks a command whose array reply is compared as a sorted set.
func sorted(line string) step { return step{args: splitLine(line), mode: unordered} }

// scan marks a SCAN command to iterate to completion on both servers.
func scan(line string) step { return step{args: splitLine(line), mode: scanAll} }

// between marks a time-dependent integer reply that must lie in [lo, hi].
func between(line string, lo, hi int64) step {
	return step{args: splitLine(line), mode: intRange, lo: lo, hi: hi}
}

// quit marks a command after which both servers close the connection.
func quit(line string) step { return step{args: splitLine(line), mode: closes} }

func splitLine(line string) []string {
	var args []string
	for line = strings.TrimLeft(line, " "); line != ""; line = strings.TrimLeft(line, " ") {
		if line[0] != '"' {
			end := strings.IndexByte(line, ' ')
			if end < 0 {
				end = len(line)
			}
			args = append(args, line[:end])
			line = line[end:]
			continue
		}
		end := 1
		for end < len(line) && line[end] != '"' {
			if line[end] == '\\' {
				end++
			}
			end++
		}
		s, err := strconv.Unquote(line[:min(end+1, len(line))])
		if err != nil {
			panic(fmt.Sprintf("bad quoted argument in %q: %v", line, err))
		}
		args = append(args, s)
		line = line[min(end+1, len(line)):]
	}
	return args
}

func TestSplitLine(t *testing.T) {
	got := splitLine(`SET  "" "a b\r\n\x00" k`)
	want := []string{"SET", "", "a b\r\n\x00", "k"}
	if !slices.Equal(got, want) {
		t.Errorf("splitLine = %q, want %q", got, want)
	}
}

// Far-future absolute expiry times, so that EXPIRETIME is deterministic.
const (
	year2100   = "4102444800"    // 2100-01-01T00:00:00Z in seconds
	year2100ms = "4102444800123" // a millisecond later than that, plus 122
)

var (
	big      = strings.Repeat("0123456789", 10_000) // 100 kB value
	long200  = strings.Repeat("x", 200)             // longer than Redis's 128-byte error excerpts
	binKey   = "k\r\n\x00\xff\x01"
	binValue = "v\x00\r\n$3\r\n*1\r\n"
)

// connectionSequences cover the "Connection" command list of DESIGN.md. The
// commands whose replies differ on purpose are in intentionalDifferences.
func connectionSequences() []sequence {
	return []sequence{
		{"ping", []step{c("PING"), c("PING hello"), c(`PING ""`), a("PING", binValue), c("PING a b"),
			c("ping"), c("PiNg"), c("ping x")}},
		{"echo", []step{c("ECHO hi"), c(`ECHO ""`), a("ECHO", binValue), a("ECHO", big), c("ECHO"), c("ECHO a b"), c("echo Hi")}},
		{"select", []step{c("SELECT 0"), c("SELECT 15"), c("SELECT 16"), c("SELECT -1"), c("SELECT abc"),
			c("SELECT 1.5"), c(`SELECT ""`), c("SELECT 99999999999999999999"), c("SELECT"), c("SELECT 1 2"), c("select 3"),
			c("SET k v"), c("SELECT 0"), c("GET k"), c("SELECT 3"), c("GET k")}},
		{"dbsize", []step{c("DBSIZE"), c("MSET a 1 b 2 c 3"), c("DBSIZE"), c("DEL a"), c("DBSIZE"), c("DBSIZE x")}},
		{"flushdb", []step{c("SET a 1"), c("SELECT 1"), c("SET b 1"), c("FLUSHDB"), c("DBSIZE"), c("SELECT 0"),
			c("DBSIZE"), c("FLUSHDB ASYNC"), c("DBSIZE"), c("SET a 1"), c("FLUSHDB SYNC"), c("DBSIZE"),
			c("FLUSHDB bogus"), c("FLUSHDB ASYNC SYNC"), c("flushdb async")}},
		{"flushall", []step{c("SET a 1"), c("SELECT 2"), c("SET b 1"), c("FLUSHALL"), c("DBSIZE"), c("SELECT 0"),
			c("DBSIZE"), c("SET a 1"), c("FLUSHALL ASYNC"), c("DBSIZE"), c("FLUSHALL SYNC"), c("FLUSHALL bogus"),
			c("FLUSHALL SYNC ASYNC")}},
		{"quit", []step{c("SET k v"), quit("QUIT")}},
		{"quit with args", []step{quit("QUIT now")}},
		{"reset", []step{c("SELECT 4"), c("SET k v"), c("CLIENT SETNAME conn1"), c("RESET"), c("GET k"),
			c("CLIENT GETNAME"), c("RESET x")}},
		{"auth without a password", []step{c("AUTH secret"), c("AUTH default anything"), c("AUTH a b c"), c("AUTH"),
			c("PING")}},
		{"client name", []step{c("CLIENT GETNAME"), c("CLIENT SETNAME worker-1"), c("CLIENT GETNAME"),
			c(`CLIENT SETNAME "a b"`), c(`CLIENT SETNAME "a\nb"`), c("CLIENT GETNAME"), c(`CLIENT SETNAME ""`),
			c("CLIENT GETNAME"), c("client setname lower"), c("CLIENT GETNAME"), c("CLIENT SETNAME"),
			c("CLIENT SETNAME a b"), c("CLIENT GETNAME x")}},
		{"client errors", []step{c("CLIENT"), c("CLIENT BOGUS"), c("CLIENT bogus x")}},
		{"config errors", []step{c("CONFIG"), c("CONFIG BOGUS"), c("CONFIG GET"), c("CONFIG GET no-such-parameter"),
			c("CONFIG SET no-such-parameter 1"), c("CONFIG SET"), c("CONFIG SET save")}},
		{"command errors", []step{c("COMMAND BOGUS"), c("COMMAND INFO no-such-command"), c("COMMAND COUNT x")}},
		{"hello errors", []step{c("HELLO 4"), c("HELLO 1"), c("HELLO abc"), c("HELLO 0"), c("HELLO -1")}},
		{"time arity", []step{c("TIME x")}},
	}
}

// stringSequences cover the string commands of "Strings and keys".
func stringSequences() []sequence {
	return []sequence{
		{"set get", []step{c("GET k"), c("SET k v"), c("GET k"), c("SET k v2"), c("GET k"), c(`SET k ""`), c("GET k"),
			c("STRLEN k"), c("TYPE k")}},
		{"set empty key", []step{c(`SET "" v`), c(`GET ""`), c(`EXISTS ""`), sorted("KEYS *"), c(`DEL ""`), c(`GET ""`)}},
		{"set binary", []step{a("SET", binKey, binValue), a("GET", binKey), a("STRLEN", binKey), a("EXISTS", binKey),
			sorted("KEYS *"), a("APPEND", binKey, "\x00"), a("GET", binKey), a("MGET", binKey, "nope", binKey)}},
		{"set big value", []step{a("SET", "big", big), c("GET big"), c("STRLEN big"), c("GETRANGE big 99990 -1"),
			a("APPEND", "big", big), c("STRLEN big")}},
		{"set nx xx", []step{c("SET k v XX"), c("GET k"), c("SET k v NX"), c("SET k w NX"), c("GET k"),
			c("SET k w XX"), c("GET k"), c("set k x nx"), c("set k x xx"), c("GET k")}},
		{"set get option", []step{c("SET k v GET"), c("SET k w GET"), c("GET k"), c("SET k x NX GET"), c("GET k"),
			c("SET n v NX GET"), c("GET n"), c("SET k y XX GET"), c("SET m y XX GET"), c("GET m"),
			c("SET k z GET EX 100"), c("TTL k"), c("SET k z2 GET GET")}},
		{"set expire options", []step{c("SET k v EX 100"), c("TTL k"), between("PTTL k", 98000, 100000),
			c("SET k v PX 100000"), c("TTL k"), between("PTTL k", 98000, 100000), c("SET k v"), c("TTL k"),
			c("SET k v EXAT " + year2100), c("EXPIRETIME k"), c("PEXPIRETIME k"),
			c("SET k v PXAT " + year2100ms), c("PEXPIRETIME k"), c("EXPIRETIME k"),
			c("set k v ex 100 nx"), c("SeT k v Ex 50 Xx"), c("TTL k")}},
		{"set keepttl", []step{c("SET k v EX 100"), c("SET k w KEEPTTL"), c("TTL k"), c("GET k"), c("SET k x"),
			c("TTL k"), c("SET n v KEEPTTL"), c("TTL n"), c("SET k v PXAT " + year2100ms), c("SET k y KEEPTTL GET"),
			c("PEXPIRETIME k")}},
		{"set past expiry", []step{c("SET k v PXAT 1"), c("GET k"), c("EXISTS k"), c("SET k v EXAT 1"), c("GET k"),
			c("SET k v EXAT 1 GET"), c("SET k v"), c("SET k w PXAT 1 GET"), c("GET k"), c("DBSIZE")}},
		{"set syntax errors", []step{c("SET k v NX XX"), c("SET k v XX NX"), c("SET k v EX 10 PX 100"),
			c("SET k v PX 100 EX 10"), c("SET k v EX 10 KEEPTTL"), c("SET k v KEEPTTL PX 10"),
			c("SET k v EX 10 EXAT " + year2100), c("SET k v PXAT " + year2100ms + " EXAT " + year2100), c("SET k v EX 10 EX 10"),
			c("SET k v EX"), c("SET k v PX"), c("SET k v EXAT"), c("SET k v BOGUS"), c("SET k v NX BOGUS"),
			c("SET k v GET BOGUS"), c("SET k v 10"), c("GET k")}},
		{"set expire value errors", []step{c("SET k v EX 0"), c("SET k v EX -1"), c("SET k v PX 0"),
			c("SET k v PX -100"), c("SET k v EX abc"), c("SET k v PX 1.5"), c(`SET k v EX ""`),
			c("SET k v EX 9223372036854775807"), c("SET k v PX 9223372036854775807"), c("SET k v PX 9223372036854775000"),
			c("SET k v EX 9223372036854775808"), c("SET k v EXAT 0"), c("SET k v PXAT 0"), c("SET k v EXAT -5"),
			c("SET k v EXAT 9223372036854775807"), c("SET k v PXAT 9223372036854775807"), c("SET k v EX 10abc"),
			c("SET k v EX 0x10"), c("SET k v EX +5"), c("SET k v EX 05"), c("GET k")}},
		{"set arity", []step{c("SET"), c("SET a"), c("set a"), c("GET"), c("GET a b"), c("get")}},
		{"setnx", []step{c("SETNX k v"), c("SETNX k w"), c("GET k"), c("SETNX k"), c("SETNX k v w"), c(`SETNX "" e`),
			c(`GET ""`)}},
		{"setex psetex", []step{c("SETEX k 100 v"), c("GET k"), c("TTL k"), c("PSETEX p 100000 v"), c("TTL p"),
			between("PTTL p", 98000, 100000), c("SETEX k 0 v"), c("SETEX k -1 v"), c("SETEX k abc v"),
			c("SETEX k 9223372036854775807 v"), c("SETEX k 10"), c("SETEX k 10 v w"), c("PSETEX k 0 v"),
			c("PSETEX k -5 v"), c("PSETEX k abc v"), c("PSETEX k 9223372036854775807 v"), c("PSETEX k 10"),
			c("GET k"), c("TTL k")}},
		{"getset", []step{c("GETSET k v"), c("GETSET k w"), c("GET k"), c("SET k v EX 100"), c("GETSET k x"),
			c("TTL k"), c("GETSET k"), c("GETSET k v w")}},
		{"getdel", []step{c("GETDEL k"), c("SET k v EX 100"), c("GETDEL k"), c("GETDEL k"), c("EXISTS k"),
			c("GETDEL"), c("GETDEL a b")}},
		{"getex", []step{c("GETEX k"), c("GETEX k EX 100"), c("SET k v"), c("GETEX k"), c("TTL k"),
			c("GETEX k EX 100"), c("TTL k"), c("GETEX k PX 50000"), between("PTTL k", 48000, 50000), c("GETEX k PERSIST"),
			c("TTL k"), c("GETEX k EXAT " + year2100), c("EXPIRETIME k"), c("GETEX k PXAT " + year2100ms),
			c("PEXPIRETIME k"), c("getex k persist"), c("TTL k"), c("GETEX k PXAT 1"), c("EXISTS k")}},
		{"getex errors", []step{c("SET k v"), c("GETEX k EX 0"), c("GETEX k EX -1"), c("GETEX k PX 0"),
			c("GETEX k EX abc"), c("GETEX k EX 10 PX 10"), c("GETEX k PERSIST EX 10"), c("GETEX k EX 10 PERSIST"),
			c("GETEX k EX"), c("GETEX k BOGUS"), c("GETEX k KEEPTTL"), c("GETEX k EX 9223372036854775807"),
			c("GETEX k EXAT 0"), c("GETEX"), c("TTL k")}},
		{"mget mset", []step{c("MSET a 1 b 2 c 3"), c("MGET a b c nope a"), c("MGET nope"), c("MSET a 10 a 11"),
			c("GET a"), c("MSET"), c("MSET a"), c("MSET a 1 b"), c("MGET"), c("mset x 1"), c(`MSET "" empty`),
			c(`MGET ""`)}},
		{"mset clears ttl", []step{c("SET a v EX 100"), c("MSET a w"), c("TTL a")}},
		{"msetnx", []step{c("MSETNX a 1 b 2"), c("MGET a b"), c("MSETNX a 9 c 3"), c("MGET a b c"), c("MSETNX c 3"),
			c("MSETNX"), c("MSETNX a"), c("MSETNX d 1 e"), c("EXISTS d"), c("MSETNX f 1 f 2"), c("GET f")}},
		{"append strlen", []step{c("APPEND k hello"), c("APPEND k \" world\""), c("GET k"), c("STRLEN k"),
			c("STRLEN nope"), c(`APPEND k ""`), c(`APPEND e ""`), c("EXISTS e"), c("GET e"), c("SET n 5 EX 100"),
			c("APPEND n 0"), c("TTL n"), c("INCR n"), c("APPEND k"), c("APPEND k a b"), c("STRLEN"), c("STRLEN a b")}},
		{"getrange", []step{c("SET k \"This is a string\""), c("GETRANGE k 0 3"), c("GETRANGE k -3 -1"),
			c("GETRANGE k 0 -1"), c("GETRANGE k 10 100"), c("GETRANGE k 5 2"), c("GETRANGE k -100 100"),
			c("GETRANGE k -100 -50"), c("GETRANGE k 0 0"), c("GETRANGE k -1 -1"), c("GETRANGE k 16 16"),
			c("GETRANGE k 15 15"), c("GETRANGE k -1 -5"), c("GETRANGE k 0 9223372036854775807"),
			c("GETRANGE k -9223372036854775808 -1"), c("GETRANGE k 3 -9223372036854775808"), c("GETRANGE nope 0 -1"),
			c("GETRANGE k a 1"), c("GETRANGE k 0 b"), c("GETRANGE k 0 9223372036854775808"), c("GETRANGE k 0"),
			c("GETRANGE k 0 1 2"), c(`SET e ""`), c("GETRANGE e 0 -1"), c("GETRANGE e -1 0"),
			c("SUBSTR k 0 3"), c("SUBSTR k -3 -1"), c("substr nope 0 -1"), c("SUBSTR k a 1"), c("SUBSTR k 0"),
			c("SUBSTR k 0 1 2")}},
		{"setrange", []step{c("SETRANGE k 5 x"), c("GET k"), c("STRLEN k"), c("SETRANGE k 0 abc"), c("GET k"),
			c("SETRANGE k 8 tail"), c("GET k"), c("SETRANGE k 1 \"\""), c("SETRANGE nope 3 \"\""), c("EXISTS nope"),
			c("SETRANGE nope2 0 \"\""), c("SET t v EX 100"), c("SETRANGE t 1 w"), c("TTL t"), c("GET t")}},
		{"setrange errors", []step{c("SETRANGE k -1 x"), c("SETRANGE k 536870912 x"), c("SETRANGE k 536870911 xy"),
			c("SETRANGE k 9223372036854775807 x"), c("SETRANGE k abc x"), c("SETRANGE k 1.5 x"),
			c("SETRANGE k 536870912 \"\""), c("SETRANGE k -1 \"\""), c("SETRANGE k 1"), c("SETRANGE k 1 a b"),
			c("SET k v"), c("SETRANGE k 536870912 x"), c("SETRANGE k -1 \"\""), c("GET k")}},
		{"incr decr", []step{c("INCR n"), c("INCR n"), c("DECR n"), c("DECR m"), c("INCRBY n 10"), c("INCRBY n -20"),
			c("DECRBY n 5"), c("DECRBY n -5"), c("GET n"), c("TYPE n"), c("INCRBY z 0"), c("incr n"), c("SET s 007"),
			c("SET t 12"), c("INCR t"), c("SET t -12"), c("INCR t"), c("SET t v EX 100"), c("SET t 5 KEEPTTL"),
			c("INCR t"), c("TTL t")}},
		{"incr non-integers", []step{c("SET k abc"), c("INCR k"), c("SET k 1.5"), c("INCR k"), c(`SET k " 1"`),
			c("INCR k"), c(`SET k "1 "`), c("INCR k"), c("SET k 01"), c("INCR k"), c("SET k +1"), c("INCR k"),
			c("SET k -0"), c("INCR k"), c(`SET k ""`), c("INCR k"), c("SET k 1e3"), c("INCR k"),
			c("SET k 99999999999999999999"), c("DECR k"), c("SET k 0x10"), c("INCR k"), a("SET", "k", "1\x00"),
			c("INCR k"), c("GET k"), c("INCRBY n abc"), c("INCRBY n 1.0"), c("INCRBY n 9223372036854775808"),
			c(`INCRBY n ""`), c("DECRBY n x"), c("EXISTS n")}},
		{"incr overflow", []step{c("SET k 9223372036854775807"), c("INCR k"), c("INCRBY k 1"), c("GET k"),
			c("DECR k"), c("SET k -9223372036854775808"), c("DECR k"), c("DECRBY k 1"), c("INCRBY k -1"),
			c("INCR k"), c("SET j 0"), c("DECRBY j -9223372036854775808"), c("DECRBY j 9223372036854775807"),
			c("INCRBY j -9223372036854775808"), c("DECRBY j 1"), c("GET j")}},
		{"incr arity", []step{c("INCR"), c("INCR a b"), c("DECR"), c("INCRBY a"), c("INCRBY a 1 2"), c("DECRBY a"),
			c("INCRBYFLOAT a"), c("INCRBYFLOAT a 1 2")}},
		{"incrbyfloat", []step{c("SET k 10.5"), c("INCRBYFLOAT k 0.1"), c("INCRBYFLOAT k -5"), c("SET k 5.0e3"),
			c("INCRBYFLOAT k 2.0e2"), c("SET k 3.0"), c("INCRBYFLOAT k 0"), c("INCRBYFLOAT n 1.5"),
			c("INCRBYFLOAT n 1.5"), c("INCRBYFLOAT n -3"), c("SET k 0.1"), c("INCRBYFLOAT k 0.2"), c("SET k 1e20"),
			c("INCRBYFLOAT k 1"), c("INCRBYFLOAT k -1e20"), c("SET k 10"), c("INCRBYFLOAT k 1e-5"),
			c("INCRBYFLOAT k 3e-17"), c("SET k 17"), c("INCRBYFLOAT k 10"), c("INCRBYFLOAT k .5"),
			c("INCRBYFLOAT k -27.5"), c("INCRBYFLOAT k -0.1"), c("INCRBYFLOAT k 1E2"), c("SET k 7"),
			c("INCRBYFLOAT k 5"), c("INCR k"), c("SET t 1 EX 100"), c("INCRBYFLOAT t 1"), c("TTL t"),
			c("SET k 1.5"), c("INCRBYFLOAT k 0.25"), c("TYPE k")}},
		{"incrbyfloat errors", []step{c("SET k 1"), c("INCRBYFLOAT k inf"), c("INCRBYFLOAT k -inf"),
			c("INCRBYFLOAT k +inf"), c("INCRBYFLOAT k nan"), c("INCRBYFLOAT k abc"), c(`INCRBYFLOAT k ""`),
			c(`INCRBYFLOAT k " 1"`), c("INCRBYFLOAT k 1abc"),
			c("SET k abc"), c("INCRBYFLOAT k 1"), c("SET k inf"), c("INCRBYFLOAT k 1"), c("SET k nan"),
			c("INCRBYFLOAT k 1"), c(`SET k "1 "`), c("INCRBYFLOAT k 1"), c("GET k")}},
	}
}

// keySequences cover the key commands of "Strings and keys".
func keySequences() []sequence {
	return []sequence{
		{"del unlink", []step{c("MSET a 1 b 2 c 3 d 4"), c("DEL a b nope"), c("DEL a"), c("DEL c c c"),
			c("UNLINK d d nope"), c("UNLINK d"), c("DBSIZE"), c("DEL"), c("UNLINK"), c("del b")}},
		{"exists type touch", []step{c("MSET a 1 b 2"), c("EXISTS a"), c("EXISTS a a a"), c("EXISTS a b nope"),
			c("EXISTS nope"), c("EXISTS"), c("TYPE a"), c("TYPE nope"), c("TYPE"), c("TYPE a b"), c("TOUCH a b nope"),
			c("TOUCH a a"), c("TOUCH nope"), c("TOUCH")}},
		{"rename", []step{c("SET a 1"), c("RENAME a b"), c("GET a"), c("GET b"), c("RENAME nope x"),
			c("RENAME nope nope"), c("RENAME b b"), c("GET b"), c("SET c 3 EX 100"), c("RENAME c b"), c("TTL b"),
			c("GET b"), c("SET d 4"), c("SET e 5 EX 100"), c("RENAME d e"), c("TTL e"), c("GET e"), c("RENAME a"),
			c("RENAME a b c"), c("DBSIZE")}},
		{"renamenx", []step{c("MSET a 1 b 2"), c("RENAMENX a b"), c("RENAMENX a c"), c("GET c"), c("EXISTS a"),
			c("RENAMENX nope x"), c("RENAMENX c c"), c("RENAMENX nope nope"), c("SET t v EX 100"),
			c("RENAMENX t u"), c("TTL u"), c("RENAMENX a"), c("RENAMENX a b c")}},
		{"copy", []step{c("SET a 1 EX 100"), c("COPY a b"), c("GET b"), c("TTL b"), c("COPY a b"), c("SET a 2"),
			c("COPY a b REPLACE"), c("GET b"), c("TTL b"), c("COPY nope b"), c("COPY nope b REPLACE"), c("GET b"),
			c("COPY a a"), c("COPY a a REPLACE"), c("COPY a b replace"), c("COPY a b REPLACE REPLACE"),
			c("COPY a b BOGUS"), c("COPY a"), c("COPY")}},
		{"copy db", []step{c("SET a 1"), c("COPY a a DB 1"), c("COPY a a DB 1"), c("COPY a b DB 1 REPLACE"),
			c("COPY a a DB 0"), c("COPY a a DB 16"), c("COPY a a DB -1"), c("COPY a a DB abc"), c("COPY a a DB"),
			c("SELECT 1"), c("GET a"), c("GET b"), c("SET a x"), c("COPY a a DB 0 REPLACE"), c("SELECT 0"),
			c("GET a"), c("COPY nope a DB 1")}},
		{"move", []step{c("SET a 1 EX 100"), c("MOVE a 1"), c("EXISTS a"), c("MOVE a 1"), c("SELECT 1"), c("GET a"),
			c("TTL a"), c("MOVE a 0"), c("SELECT 0"), c("SET a 2"), c("SELECT 1"), c("SET a 1"), c("MOVE a 0"),
			c("GET a"), c("MOVE a 1"), c("MOVE a 16"), c("MOVE a -1"), c("MOVE a abc"), c("MOVE nope 2"),
			c("MOVE nope 1"), c("MOVE a"), c("MOVE a 1 2")}},
		{"keys", []step{c("MSET one 1 two 2 three 3 four 4 five 5"), a("SET", "h*llo", "x"), a("SET", "h\\llo", "y"),
			sorted("KEYS *"), sorted("KEYS t*"), sorted("KEYS *o*"), sorted("KEYS ?wo"), sorted("KEYS [ft]*"),
			sorted("KEYS [^t]*"), sorted("KEYS [a-g]*"), sorted(`KEYS h\*llo`), sorted(`KEYS h\\llo`),
			sorted("KEYS nomatch*"), c("SELECT 1"), sorted("KEYS *"), c("KEYS"), c("KEYS a b")}},
		{"scan", []step{c("SCAN 0"), c("MSET a1 1 a2 2 b1 3 b2 4 c1 5"), scan("SCAN 0"), scan("SCAN 0 MATCH a*"),
			scan("SCAN 0 COUNT 1"), scan("SCAN 0 MATCH *1 COUNT 2"), scan("SCAN 0 TYPE string"),
			scan("SCAN 0 TYPE hash"), scan("SCAN 0 match b* count 100 type STRING"), scan("SCAN 0 MATCH nomatch*"),
			c("SELECT 2"), c("SCAN 0")}},
		{"scan many", scanManySteps()},
		{"scan errors", []step{c("SCAN abc"), c("SCAN 1.5"), c("SCAN 0 COUNT 0"), c("SCAN 0 COUNT -1"),
			c("SCAN 0 COUNT abc"), c("SCAN 0 COUNT"), c("SCAN 0 MATCH"), c("SCAN 0 TYPE"), c("SCAN 0 BOGUS x"),
			c("SCAN 0 MATCH a b"), c("SCAN")}},
		{"randomkey", []step{c("RANDOMKEY"), c("SET only v"), c("RANDOMKEY"), c("RANDOMKEY x"), c("SELECT 5"),
			c("RANDOMKEY")}},
	}
}

// scanManySteps fills 300 keys and scans them with several COUNTs.
func scanManySteps() []step {
	var args []string
	for i := range 300 {
		args = append(args, fmt.Sprintf("key:%03d", i), strconv.Itoa(i))
	}
	return []step{a(append([]string{"MSET"}, args...)...), c("DBSIZE"), scan("SCAN 0"), scan("SCAN 0 COUNT 7"),
		scan("SCAN 0 COUNT 1000"), scan("SCAN 0 MATCH key:1*"), scan("SCAN 0 MATCH key:?5? COUNT 3"),
		sorted("KEYS key:2*")}
}

// expireSequences cover EXPIRE and friends, TTL, PERSIST.
func expireSequences() []sequence {
	return []sequence{
		{"ttl states", []step{c("TTL nope"), c("PTTL nope"), c("EXPIRETIME nope"), c("PEXPIRETIME nope"), c("SET k v"),
			c("TTL k"), c("PTTL k"), c("EXPIRETIME k"), c("PEXPIRETIME k"), c("TTL"), c("TTL a b"), c("PTTL"),
			c("EXPIRETIME"), c("PEXPIRETIME a b")}},
		{"expire", []step{c("EXPIRE nope 100"), c("SET k v"), c("EXPIRE k 100"), c("TTL k"), c("PEXPIRE k 100000"),
			c("TTL k"), between("PTTL k", 98000, 100000), c("EXPIRE k 0"), c("EXISTS k"), c("SET k v"),
			c("EXPIRE k -1"), c("GET k"), c("SET k v"), c("PEXPIRE k -5"), c("EXISTS k"), c("expire nope 1")}},
		{"expireat", []step{c("SET k v"), c("EXPIREAT k " + year2100), c("EXPIRETIME k"), c("PEXPIRETIME k"),
			c("PEXPIREAT k " + year2100ms), c("PEXPIRETIME k"), c("EXPIRETIME k"), c("EXPIREAT k 1"), c("EXISTS k"),
			c("SET k v"), c("PEXPIREAT k 1"), c("EXISTS k"), c("SET k v"), c("EXPIREAT k 0"), c("EXISTS k"),
			c("EXPIREAT nope " + year2100), c("PEXPIREAT nope " + year2100ms)}},
		{"expire nx xx gt lt", []step{c("SET k v"), c("EXPIRE k 100 XX"), c("TTL k"), c("EXPIRE k 100 GT"),
			c("TTL k"), c("EXPIRE k 100 LT"), c("TTL k"), c("EXPIRE k 200 NX"), c("TTL k"), c("EXPIRE k 200 XX"),
			c("TTL k"), c("EXPIRE k 100 GT"), c("EXPIRE k 300 GT"), c("TTL k"), c("EXPIRE k 400 LT"),
			c("EXPIRE k 50 LT"), c("TTL k"), c("EXPIRE k 60 XX GT"), c("EXPIRE k 10 XX LT"), c("TTL k"),
			c("PERSIST k"), c("EXPIRE k 100 NX"), c("TTL k"), c("expire k 1000 gt"), c("TTL k"),
			c("EXPIRE nope 10 NX"), c("EXPIRE nope 10 XX")}},
		{"pexpire expireat options", []step{c("SET k v"), c("PEXPIRE k 100000 NX"), c("PEXPIRE k 50000 NX"),
			c("PEXPIRE k 200000 GT"), c("TTL k"), c("PEXPIRE k 300000 LT"), c("EXPIREAT k " + year2100 + " NX"),
			c("EXPIREAT k " + year2100 + " GT"), c("EXPIRETIME k"), c("PEXPIREAT k " + year2100ms + " LT"),
			c("PEXPIREAT k " + year2100ms + " GT"), c("PEXPIRETIME k"), c("EXPIREAT k 1 GT"), c("EXISTS k"),
			c("EXPIREAT k 1 LT"), c("EXISTS k")}},
		{"expire past with options", []step{c("SET k v"), c("EXPIRE k -1 NX"), c("EXISTS k"), c("SET k v"),
			c("EXPIRE k 0 GT"), c("EXISTS k"), c("SET k v EX 100"), c("EXPIRE k 0 LT"), c("EXISTS k")}},
		{"expire errors", []step{c("SET k v"), c("EXPIRE k 10 NX XX"), c("EXPIRE k 10 GT LT"), c("EXPIRE k 10 NX GT"),
			c("EXPIRE k 10 NX LT"), c("EXPIRE k 10 XX NX"), c("EXPIRE k 10 LT GT"), c("EXPIRE k 10 XX XX"),
			c("EXPIRE k 10 BOGUS"), c("EXPIRE k 10 bogus"), c("EXPIRE k abc"), c("EXPIRE k 1.5"), c(`EXPIRE k ""`),
			c("EXPIRE k 9223372036854775807"), c("EXPIRE k -9223372036854775808"), c("PEXPIRE k 9223372036854775807"),
			c("EXPIREAT k 9223372036854775807"), c("PEXPIREAT k 9223372036854775807"), c("EXPIRE k 9223372036854775"),
			c("EXPIRE k 10 NX XX GT"), c("EXPIRE k"), c("EXPIRE"), c("PEXPIRE k"), c("EXPIREAT k"), c("PEXPIREAT k"),
			c("EXPIRE nope abc"), c("PEXPIRETIME k"), c("EXPIRETIME k")}},
		{"persist", []step{c("PERSIST nope"), c("SET k v"), c("PERSIST k"), c("EXPIRE k 100"), c("PERSIST k"),
			c("TTL k"), c("PERSIST k"), c("PERSIST"), c("PERSIST a b")}},
		{"ttl kept or cleared", []step{c("SET k 1 EX 100"), c("INCR k"), c("TTL k"), c("APPEND k 0"), c("TTL k"),
			c("SETRANGE k 0 9"), c("TTL k"), c("SETBIT k 0 1"), c("TTL k"), c("SET k v"), c("TTL k"),
			c("SET k 1 EX 100"), c("GETSET k 2"), c("TTL k"), c("SET k 1 EX 100"), c("INCRBYFLOAT k 1.5"), c("TTL k")}},
	}
}

// bitSequences cover SETBIT GETBIT BITCOUNT BITPOS LCS.
func bitSequences() []sequence {
	return []sequence{
		{"setbit getbit", []step{c("SETBIT k 7 1"), c("GET k"), c("GETBIT k 7"), c("GETBIT k 6"), c("SETBIT k 7 0"),
			c("GET k"), c("SETBIT k 100 1"), c("STRLEN k"), c("GET k"), c("GETBIT k 100"), c("GETBIT k 1000000"),
			c("GETBIT nope 0"), c("SETBIT k 0 1"), c("GETBIT k 0"), c("setbit k 1 1"), c("GET k")}},
		{"setbit errors", []step{c("SETBIT k -1 1"), c("SETBIT k 4294967296 1"), c("SETBIT k abc 1"),
			c("SETBIT k 0 2"), c("SETBIT k 0 -1"), c("SETBIT k 0 abc"), c(`SETBIT k 0 ""`), c("SETBIT k 1.5 1"),
			c("SETBIT k 0"), c("SETBIT k 0 1 2"), c("GETBIT k -1"), c("GETBIT k 4294967296"), c("GETBIT k abc"),
			c("GETBIT k"), c("GETBIT k 1 2"), c("EXISTS k")}},
		{"bitcount", []step{c("SET k foobar"), c("BITCOUNT k"), c("BITCOUNT k 0 0"), c("BITCOUNT k 1 1"),
			c("BITCOUNT k 0 -1"), c("BITCOUNT k -2 -1"), c("BITCOUNT k 5 30 BIT"), c("BITCOUNT k 0 -1 BIT"),
			c("BITCOUNT k 1 1 BYTE"), c("BITCOUNT k -5 -1 BIT"), c("BITCOUNT k 4 2"), c("BITCOUNT k -100 100"),
			c("BITCOUNT k 1 1 bit"), c("BITCOUNT nope"), c("BITCOUNT nope 0 -1"), c(`SET e ""`), c("BITCOUNT e"),
			c("BITCOUNT e 0 -1")}},
		{"bitcount errors", []step{c("SET k foobar"), c("BITCOUNT k 0"), c("BITCOUNT k 0 1 BOGUS"),
			c("BITCOUNT k a b"), c("BITCOUNT k 0 b"), c("BITCOUNT k 0 1 BIT x"), c("BITCOUNT"),
			c("BITCOUNT nope 0"), c("BITCOUNT k 0 9223372036854775808")}},
		{"bitpos", []step{a("SET", "k", "\xff\xf0\x00"), c("BITPOS k 0"), c("BITPOS k 1"), c("BITPOS k 1 1"),
			c("BITPOS k 1 2"), c("BITPOS k 0 0 0"), c("BITPOS k 1 2 -1"), c("BITPOS k 1 7 15 BIT"),
			c("BITPOS k 0 7 15 BIT"), c("BITPOS k 1 16 23 BIT"), c("BITPOS k 0 0 -1 BYTE"), c("BITPOS k 1 -1"),
			a("SET", "ones", "\xff\xff"), c("BITPOS ones 0"), c("BITPOS ones 0 0"), c("BITPOS ones 0 0 -1"),
			c("BITPOS ones 0 0 1"), c("BITPOS nope 1"), c("BITPOS nope 0"), c("BITPOS nope 0 1 2"),
			a("SET", "zeros", "\x00\x00"), c("BITPOS zeros 1"), c("BITPOS zeros 0"), c("BITPOS k 1 5 2"),
			c("bitpos k 1 0 -1 bit")}},
		{"bitpos errors", []step{c("SET k a"), c("BITPOS k 2"), c("BITPOS k -1"), c("BITPOS k abc"),
			c("BITPOS k 1 a"), c("BITPOS k 1 0 b"), c("BITPOS k 1 0 -1 BOGUS"), c("BITPOS k 1 0 -1 BIT x"),
			c("BITPOS k"), c("BITPOS")}},
		{"lcs", []step{c("MSET a ohmytext b mynewtext"), c("LCS a b"), c("LCS a b LEN"), c("LCS a b IDX"),
			c("LCS a b IDX MINMATCHLEN 4"), c("LCS a b IDX WITHMATCHLEN"), c("LCS a b IDX MINMATCHLEN 2 WITHMATCHLEN"),
			c("LCS a b idx withmatchlen minmatchlen 3"), c("LCS a nope"), c("LCS a nope LEN"), c("LCS nope nope2"),
			c("LCS nope a IDX"), c("LCS a a"), c("LCS a b MINMATCHLEN 4"), c("LCS a b WITHMATCHLEN"),
			c("LCS a b IDX MINMATCHLEN -1"), c("MSET c \"\" d abc"), c("LCS c d"), c("LCS c d IDX WITHMATCHLEN")}},
		{"lcs errors", []step{c("MSET a ohmytext b mynewtext"), c("LCS a b LEN IDX"), c("LCS a b IDX LEN"),
			c("LCS a b MINMATCHLEN"), c("LCS a b IDX MINMATCHLEN abc"), c("LCS a b BOGUS"), c("LCS a"),
			c("LCS")}},
	}
}

// errorSequences cover arity, unknown commands and case-insensitivity.
func errorSequences() []sequence {
	arity := []string{"GET", "GET a b", "SET a", "GETSET a", "GETDEL", "GETEX", "MGET", "DEL", "UNLINK", "EXISTS",
		"TTL", "PTTL", "EXPIRE a", "PEXPIRE a", "EXPIREAT a", "PEXPIREAT a", "EXPIRETIME", "PEXPIRETIME", "PERSIST",
		"INCR", "DECR", "INCRBY a", "DECRBY a", "INCRBYFLOAT a", "APPEND a", "STRLEN", "GETRANGE a 1",
		"SETRANGE a 1", "SETBIT a 1", "GETBIT a", "BITCOUNT", "BITPOS a", "LCS a", "RENAME a", "RENAMENX a",
		"COPY a", "MOVE a", "TYPE", "KEYS", "SCAN", "TOUCH", "SETNX a", "SETEX a 1", "PSETEX a 1", "MSET a",
		"MSETNX a", "RANDOMKEY x", "DBSIZE x", "PING a b", "ECHO", "SELECT", "TIME x", "FLUSHDB a b", "FLUSHALL a b",
		"CLIENT", "CONFIG", "AUTH"}
	var aritySteps []step
	for _, line := range arity {
		aritySteps = append(aritySteps, c(line), c(strings.ToLower(line)))
	}
	return []sequence{
		{"arity", aritySteps},
		{"unknown commands", []step{c("FOO"), c("FOO a b"), c("foo a b"), c("FoO \"\" x"), c(`""`), c(`"" a`),
			a("FOO", long200), a(long200, "a"), a("FOO", long200, "b"), a("FOO", "a", long200), a("FOO", "a b", "c\r\nd"),
			a("FOO\r\nBAR", "x"), a("FOO", binValue), c("GETT k"), c("SETT k v"), c("SET_ k v"), c("PING")}},
		{"case insensitive", []step{c("set k v"), c("Get k"), c("gEt k"), c("SeT k v eX 100 Nx"), c("tTl k"),
			c("MsEt a 1 b 2"), c("mGeT a b"), c("incrBY a 5"), c("exISTS a b"), c("dEL a"), c("GET K")}},
		{"keys are case sensitive", []step{c("SET k lower"), c("SET K upper"), c("GET k"), c("GET K"), c("DBSIZE")}},
	}
}

func allSequences() []sequence {
	var all []sequence
	for _, group := range [][]sequence{connectionSequences(), stringSequences(), keySequences(),
		expireSequences(), bitSequences(), errorSequences()} {
		all = append(all, group...)
	}
	return all
}

// TestDifferential sends every sequence to ringstore and to redis-server and
// compares the replies byte for byte (see compareMode for the exceptions).
// COMPAT_DIFF_SHOW=1 logs every redis-server reply, for reviewing the table.
func TestDifferential(t *testing.T) {
	rs := startRingstore(t, serverOptions{})
	redis := startRedis(t, serverOptions{})
	runSequences(t, rs, redis, allSequences())
}

// TestDifferentialAuth compares the two servers when both require a password.
func TestDifferentialAuth(t *testing.T) {
	const pw = "s3cret"
	rs := startRingstore(t, serverOptions{Password: pw})
	redis := startRedis(t, serverOptions{Password: pw})
	unauth := []sequence{
		{"before auth", []step{c("PING"), c("GET k"), c("SET k v"), c("SELECT 1"), c("ECHO x"), c("FOO"),
			c("AUTH wrong"), c("AUTH default wrong"), c("AUTH nobody " + pw), c("PING"), c("AUTH " + pw), c("PING"),
			c("SET k v"), c("GET k"), c("AUTH wrong"), c("GET k"), c("AUTH default " + pw), c("AUTH a b c"),
			c("AUTH")}},
		{"reset drops auth", []step{c("AUTH " + pw), c("SET k v"), c("RESET"), c("GET k"), c("AUTH " + pw),
			c("GET k")}},
		{"quit before auth", []step{quit("QUIT")}},
	}
	t.Run("flushall", func(t *testing.T) {
		for _, s := range []*server{rs, redis} {
			if rep := s.dial(t).do(t, "FLUSHALL"); rep.String() != "+OK" {
				t.Fatalf("%s: FLUSHALL: %s", s.name, rep)
			}
		}
	})
	for _, seq := range unauth {
		t.Run(seq.name, func(t *testing.T) {
			runSteps(t, seq, dialRaw(t, rs.Addr), dialRaw(t, redis.Addr))
		})
	}
}

// runSequences runs each sequence on fresh, FLUSHALL'd connections.
func runSequences(t *testing.T, rs, redis *server, seqs []sequence) {
	t.Helper()
	seen := map[string]bool{}
	for _, seq := range seqs {
		if seen[seq.name] {
			t.Fatalf("duplicate sequence name %q", seq.name)
		}
		seen[seq.name] = true
		t.Run(seq.name, func(t *testing.T) {
			a, b := rs.dial(t), redis.dial(t)
			for _, cn := range []*conn{a, b} {
				if rep := cn.do(t, "FLUSHALL"); rep.String() != "+OK" {
					t.Fatalf("FLUSHALL: %s", rep)
				}
			}
			runSteps(t, seq, a, b)
		})
	}
	for _, s := range []*server{rs, redis} {
		if err := s.Alive(); err != nil {
			t.Fatalf("after the sequences: %v", err)
		}
	}
}

// runSteps runs seq's steps on connection a (ringstore) and b (redis-server)
// and reports every difference.
func runSteps(t *testing.T, seq sequence, a, b *conn) {
	t.Helper()
	show := os.Getenv("COMPAT_DIFF_SHOW") == "1"
	for i, st := range seq.steps {
		where := fmt.Sprintf("step %d %s", i+1, quoteArgs(st.args))
		if st.mode == scanAll {
			got, errA := scanUnion(a, st.args)
			want, errB := scanUnion(b, st.args)
			if errA != nil || errB != nil {
				t.Fatalf("%s: ringstore: %v; redis-server: %v", where, errA, errB)
			}
			if show {
				t.Logf("%s -> %d elements %q", where, len(want), want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s (scanned to completion, sorted):\nringstore:    %q\nredis-server: %q", where, got, want)
			}
			continue
		}
		req := appendCommand(nil, st.args...)
		a.send(t, req)
		b.send(t, req)
		ra, errA := a.tryRead()
		rb, errB := b.tryRead()
		if errA != nil || errB != nil {
			t.Fatalf("%s: reading replies: ringstore: %v; redis-server: %v (got %q and %q)", where, errA, errB, ra.Raw, rb.Raw)
		}
		if show {
			t.Logf("%s -> %q", where, truncate(rb.Raw))
		}
		switch st.mode {
		case exact, closes:
			if !bytes.Equal(ra.Raw, rb.Raw) {
				t.Errorf("%s:\nringstore:    %q\nredis-server: %q", where, truncate(ra.Raw), truncate(rb.Raw))
			}
		case unordered:
			if ra.Kind != '*' || rb.Kind != '*' || !slices.Equal(ra.sortedElems(), rb.sortedElems()) {
				t.Errorf("%s (sorted):\nringstore:    %s\nredis-server: %s", where, ra, rb)
			}
		case intRange:
			for _, side := range []struct {
				name string
				r    reply
			}{{"ringstore", ra}, {"redis-server", rb}} {
				n, err := side.r.Int()
				if err != nil || n < st.lo || n > st.hi {
					t.Errorf("%s: %s replied %s, want an integer in [%d, %d]", where, side.name, side.r, st.lo, st.hi)
				}
			}
		}
		if st.mode == closes {
			a.expectClosed(t)
			b.expectClosed(t)
		}
	}
}

// scanUnion runs a SCAN-like command from cursor 0 until the cursor is 0
// again and returns the sorted, de-duplicated elements seen.
func scanUnion(cn *conn, args []string) ([]string, error) {
	args = slices.Clone(args)
	seen := map[string]bool{}
	for i := 0; ; i++ {
		if i > 100_000 {
			return nil, fmt.Errorf("%s did not finish after %d calls", quoteArgs(args), i)
		}
		if _, err := cn.Write(appendCommand(nil, args...)); err != nil {
			return nil, err
		}
		rep, err := cn.tryRead()
		if err != nil {
			return nil, err
		}
		if rep.Kind != '*' || len(rep.Elems) != 2 || rep.Elems[0].Kind != '$' || rep.Elems[1].Kind != '*' {
			return nil, fmt.Errorf("%s: reply %s is not [cursor, [elements]]", quoteArgs(args), rep)
		}
		for _, e := range rep.Elems[1].Elems {
			seen[e.String()] = true
		}
		if rep.Elems[0].Str == "0" {
			break
		}
		args[1] = rep.Elems[0].Str
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

func quoteArgs(args []string) string {
	parts := make([]string, len(args))
	for i, s := range args {
		if len(s) > 40 {
			s = fmt.Sprintf("%s...(%d bytes)", s[:20], len(s))
		}
		parts[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:300:300], fmt.Sprintf("...(%d bytes)", len(b))...)
	}
	return b
}
