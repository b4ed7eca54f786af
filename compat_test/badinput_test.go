package compat_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badInput is raw bytes sent on a fresh connection, and what Redis 7.0.15
// does with them.
type badInput struct {
	name string
	send []byte
	// want is the exact reply; "" when the server waits for more input (the
	// test then hangs up and only checks that the server survives).
	want string
	// closes requires the server to close the connection after want.
	closes bool
}

// badInputs were measured against redis-server 7.0.15; each also runs
// against a real redis-server in TestBadInput, so a change in Redis shows up
// there first.
func badInputs() []badInput {
	const (
		bulkErr   = "-ERR Protocol error: invalid bulk length\r\n"
		multiErr  = "-ERR Protocol error: invalid multibulk length\r\n"
		inlineErr = "-ERR Protocol error: too big inline request\r\n"
	)
	var pings []byte
	var pongs string
	for range 10000 {
		pings = appendCommand(pings, "PING")
		pongs += "+PONG\r\n"
	}
	return []badInput{
		{"bulk length 600000000", []byte("*1\r\n$600000000\r\n"), bulkErr, true},
		{"bulk length 512MB+1", []byte("*1\r\n$536870913\r\n"), bulkErr, true},
		{"bulk length 512MB then hang up", []byte("*1\r\n$536870912\r\n"), "", false},
		{"bulk length huge", []byte("*1\r\n$99999999999999999999\r\n"), bulkErr, true},
		{"negative bulk length", []byte("*1\r\n$-5\r\n"), bulkErr, true},
		{"null bulk in a request", []byte("*2\r\n$4\r\nECHO\r\n$-1\r\n"), bulkErr, true},
		{"non-numeric bulk length", []byte("*1\r\n$abc\r\n"), bulkErr, true},
		{"multibulk length over INT_MAX", []byte("*2147483648\r\n"), multiErr, true},
		{"multibulk length huge", []byte("*99999999999999999999\r\n"), multiErr, true},
		{"multibulk length over 1024^3 then hang up", []byte("*1073741825\r\n"), "", false},
		{"multibulk length INT_MAX with an argument then hang up", []byte("*2147483647\r\n$3\r\nSET\r\n"), "", false},
		{"non-numeric multibulk length", []byte("*abc\r\n"), multiErr, true},
		{"argument without $", []byte("*1\r\nfoo\r\n"), "-ERR Protocol error: expected '$', got 'f'\r\n", true},
		{"integer inside a request", []byte("*2\r\n$4\r\nPING\r\n:1\r\n"), "-ERR Protocol error: expected '$', got ':'\r\n", true},
		{"array inside a request", []byte("*1\r\n*1\r\n"), "-ERR Protocol error: expected '$', got '*'\r\n", true},
		{"protocol error after a good command", []byte("*1\r\n$4\r\nPING\r\n*x\r\n"), "+PONG\r\n" + multiErr, true},
		{"1 MB inline line", append(bytes.Repeat([]byte("a"), 1<<20), "\r\n"...), inlineErr, true},
		{"100 kB without a newline", bytes.Repeat([]byte("b"), 100<<10), inlineErr, true},
		{"unbalanced quotes inline", []byte("SET \"a b\r\n"), "-ERR Protocol error: unbalanced quotes in request\r\n", true},
		{"quote followed by text inline", []byte("SET k \"a\"b\r\n"), "-ERR Protocol error: unbalanced quotes in request\r\n", true},
		{"inline commands", []byte("PING\r\nping a\r\nPING\n\r\n   \r\nSET k \"hello world\"\r\nGET k\r\nSET k 'x y'\r\nGET k\r\n"),
			"+PONG\r\n$1\r\na\r\n+PONG\r\n+OK\r\n$11\r\nhello world\r\n+OK\r\n$3\r\nx y\r\n", false},
		{"empty and null multibulk are skipped", []byte("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n"), "+PONG\r\n", false},
		{"reply types sent as inline commands", []byte("+OK\r\n:1\r\n"),
			"-ERR unknown command '+OK', with args beginning with: \r\n-ERR unknown command ':1', with args beginning with: \r\n", false},
		{"empty command name", []byte("*1\r\n$0\r\n\r\n"), "-ERR unknown command '', with args beginning with: \r\n", false},
		{"partial command then hang up", []byte("*3\r\n$3\r\nSET\r\n$7\r\npartial\r\n$5\r\nab"), "", false},
		{"10000 pipelined PINGs", pings, pongs, false},
	}
}

// authBadInputs run against servers with a password: Redis limits what an
// unauthenticated client may announce.
func authBadInputs() []badInput {
	return []badInput{
		{"unauthenticated multibulk length 11", []byte("*11\r\n"), "-ERR Protocol error: unauthenticated multibulk length\r\n", true},
		{"unauthenticated bulk length 16385", []byte("*1\r\n$16385\r\n"), "-ERR Protocol error: unauthenticated bulk length\r\n", true},
		{"unauthenticated multibulk length 10 then hang up", []byte("*10\r\n"), "", false},
		{"unauthenticated bulk length 16384 then hang up", []byte("*1\r\n$16384\r\n"), "", false},
		{"unauthenticated command", []byte("*1\r\n$4\r\nPING\r\n"), "-NOAUTH Authentication required.\r\n", false},
	}
}

// TestBadInput sends each bad input to a ringstore and to a redis-server and
// checks the reply, the close, and that a second client still gets PONG.
func TestBadInput(t *testing.T) {
	for _, auth := range []bool{false, true} {
		opts, cases, group := serverOptions{}, badInputs(), "open"
		if auth {
			opts, cases, group = serverOptions{Password: "bad-input"}, authBadInputs(), "password"
		}
		t.Run(group, func(t *testing.T) {
			servers := []*server{startRingstore(t, opts), startRedis(t, opts)}
			for _, s := range servers {
				for _, bc := range cases {
					t.Run(s.name+"/"+bc.name, func(t *testing.T) { checkBadInput(t, s, bc) })
				}
			}
		})
	}
}

func checkBadInput(t *testing.T, s *server, bc badInput) {
	c := dialRaw(t, s.Addr)
	// Write concurrently: the server may answer and close before it has
	// read everything, and then the write fails, which is fine.
	wrote := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, err := c.Write(bc.send)
		wrote <- err
	}()
	if bc.want != "" {
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		got := make([]byte, len(bc.want))
		n, err := io.ReadFull(c.r, got)
		if string(got[:n]) != bc.want {
			t.Errorf("reply %q (%v), want %q", abbreviate(string(got[:n])), err, abbreviate(bc.want))
		}
	} else if err := <-wrote; err != nil {
		t.Errorf("write: %v", err)
	}
	if bc.closes {
		c.expectClosed(t)
	}
	c.Close()
	if err := s.Alive(); err != nil {
		t.Fatalf("after %s: %v", bc.name, err)
	}
	if bc.name == "partial command then hang up" {
		if got := s.dial(t).do(t, "EXISTS", "partial").String(); got != ":0" {
			t.Errorf("EXISTS partial = %s: a half-sent SET was applied", got)
		}
	}
}

// TestSlowClients sends commands split across writes, down to one byte at a
// time, and expects normal replies.
func TestSlowClients(t *testing.T) {
	for _, s := range []*server{startRingstore(t, serverOptions{}), startRedis(t, serverOptions{})} {
		t.Run(s.name, func(t *testing.T) {
			c := dialRaw(t, s.Addr)
			c.send(t, []byte("*2\r\n$4\r\nECHO\r\n$5\r\nhel"))
			time.Sleep(50 * time.Millisecond) // the server must wait for the rest, not answer early
			c.send(t, []byte("lo\r\n"))
			if got := c.read(t).String(); got != `$"hello"` {
				t.Errorf("split ECHO = %s", got)
			}
			for _, b := range appendCommand(nil, "SET", "slow", "v") {
				c.send(t, []byte{b})
			}
			if got := c.read(t).String(); got != "+OK" {
				t.Errorf("byte-at-a-time SET = %s", got)
			}
			for _, b := range []byte("GET slow\r\n") {
				c.send(t, []byte{b})
			}
			if got := c.read(t).String(); got != `$"v"` {
				t.Errorf("byte-at-a-time inline GET = %s", got)
			}
		})
	}
}

// TestHugeArgumentCounts sends commands with 100000 keys to both servers and
// compares the replies.
func TestHugeArgumentCounts(t *testing.T) {
	rs, redis := startRingstore(t, serverOptions{}), startRedis(t, serverOptions{})
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "huge:" + strconv.Itoa(i)
	}
	mset := []string{"MSET"}
	for _, k := range keys {
		mset = append(mset, k, k)
	}
	for _, cmd := range [][]string{
		append([]string{"MGET"}, keys...),
		mset,
		append([]string{"EXISTS"}, keys...),
		append([]string{"MGET"}, keys...),
		append([]string{"DEL"}, keys...),
		append([]string{"DEL"}, keys...),
	} {
		got, want := rs.dial(t).do(t, cmd...), redis.dial(t).do(t, cmd...)
		if !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("%s with %d arguments:\nringstore:    %q\nredis-server: %q", cmd[0], len(cmd)-1,
				truncate(got.Raw), truncate(want.Raw))
		}
	}
}

// TestGarbageInput throws random, mostly RESP-shaped garbage at ringstore on
// many connections and requires it to keep answering PING. The seed is
// logged; RINGSTORE_GARBAGE_SEED replays one.
func TestGarbageInput(t *testing.T) {
	s := startRingstore(t, serverOptions{})
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("RINGSTORE_GARBAGE_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (rerun with RINGSTORE_GARBAGE_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range 300 {
		blob := garbage(rng)
		c := dialRaw(t, s.Addr)
		c.SetWriteDeadline(time.Now().Add(ioTimeout))
		c.Write(blob) // the server may close early; that is allowed
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		io.Copy(io.Discard, c.r) // take whatever it answers, briefly
		c.Close()
		if i%50 == 49 {
			if err := s.Alive(); err != nil {
				t.Fatalf("after blob %d (%q): %v", i, abbreviate(string(blob)), err)
			}
		}
	}
	if err := s.Alive(); err != nil {
		t.Fatal(err)
	}
}

// garbage returns up to a few kB of random input: RESP fragments, numbers
// (some beyond every limit), command names, raw bytes, and mutated commands.
func garbage(rng *rand.Rand) []byte {
	pieces := []string{"*", "$", ":", "+", "-", "\r\n", "\r", "\n", "\x00", " ", "\"", "'", "\\", "{", "}",
		"PING", "SET", "GET", "MSET", "MGET", "DEL", "ECHO", "SELECT", "HELLO", "AUTH", "CLIENT", "SETRANGE",
		"SETBIT", "INCRBYFLOAT", "BITCOUNT", "LCS", "SCAN", "KEYS", "*", "QUIT", "EX", "PX", "NX", "GET"}
	var b []byte
	switch rng.IntN(3) {
	case 0: // RESP-shaped fragments
		for range rng.IntN(60) + 1 {
			switch rng.IntN(4) {
			case 0:
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			case 1:
				b = strconv.AppendInt(b, randomNumber(rng), 10)
			case 2:
				b = append(b, fmt.Sprintf("*%d\r\n$%d\r\n", rng.IntN(5), rng.IntN(12))...)
			default:
				b = append(b, strings.Repeat("x", rng.IntN(40))...)
			}
		}
	case 1: // raw bytes
		b = make([]byte, rng.IntN(4096)+1)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	default: // a valid command, mutated
		args := []string{pieces[15+rng.IntN(len(pieces)-15)]}
		for range rng.IntN(5) {
			args = append(args, strconv.FormatInt(randomNumber(rng), 10))
		}
		b = appendCommand(nil, args...)
		for range rng.IntN(4) + 1 {
			switch i := rng.IntN(len(b)); rng.IntN(3) {
			case 0:
				b[i] = byte(rng.Uint32())
			case 1:
				b = b[:i]
			default:
				b = append(b[:i], append([]byte(pieces[rng.IntN(15)]), b[i:]...)...)
			}
			if len(b) == 0 {
				b = []byte("*")
			}
		}
	}
	return b
}

// randomNumber is small most of the time, sometimes negative, and
// sometimes beyond the protocol's limits (but never a 512 MB bulk the
// server would have to wait for).
func randomNumber(rng *rand.Rand) int64 {
	switch rng.IntN(6) {
	case 0:
		return -rng.Int64N(100)
	case 1:
		return 600_000_000 + rng.Int64N(1<<40)
	case 2:
		return rng.Int64()
	default:
		return rng.Int64N(1000)
	}
}
