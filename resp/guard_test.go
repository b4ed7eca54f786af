package resp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptConn is a net.Conn whose Read hands out a stream in chunks of
// given sizes, then io.EOF, and whose Write records what was written.
type scriptConn struct {
	data   []byte
	chunks func() int // the next chunk's size
	out    bytes.Buffer
	closed bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(c.chunks(), len(p), len(c.data))
	n = max(n, 1)
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *scriptConn) Close() error                     { c.closed = true; return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// guardRun pushes stream through a guard in chunks, reading with buffers
// of bufSize, and returns the bytes delivered, what the guard wrote to the
// client and the final error.
func guardRun(t *testing.T, srv *Server, authed bool, stream []byte, chunks func() int, bufSize int) (delivered, written []byte, err error) {
	t.Helper()
	sc := &scriptConn{data: bytes.Clone(stream), chunks: chunks}
	g := &guardConn{Conn: sc, srv: srv, sess: &Session{Authed: authed}}
	buf := make([]byte, bufSize)
	for i := 0; ; i++ {
		if i > 10*len(stream)+100 {
			t.Fatal("guard makes no progress")
		}
		n, err := g.Read(buf)
		delivered = append(delivered, buf[:n]...)
		if err != nil {
			return delivered, sc.out.Bytes(), err
		}
		if n == 0 {
			t.Fatal("Read returned 0, nil")
		}
	}
}

// chunkings are the ways a test stream is cut up by the network.
func chunkings(seed uint64) map[string]func() int {
	r := rand.New(rand.NewPCG(seed, 1))
	return map[string]func() int{
		"1":      func() int { return 1 },
		"2":      func() int { return 2 },
		"3":      func() int { return 3 },
		"7":      func() int { return 7 },
		"random": func() int { return 1 + r.IntN(20) },
		"whole":  func() int { return 1 << 30 },
	}
}

// TestGuardPassesValidStreams: whatever the chunking and buffer size, valid
// commands come out whole, with Redis's leniencies turned into what redcon
// accepts.
func TestGuardPassesValidStreams(t *testing.T) {
	srv := newExecServer(t, nil)
	big := strings.Repeat("x", 20000)
	cases := []struct{ in, want string }{
		{"*1\r\n$4\r\nPING\r\n", ""},
		{"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\n", ""},
		// Inline commands are split as Redis splits them and passed on as
		// RESP; empty lines vanish.
		{"PING\r\nPING\nECHO \"a b\"\r\n\r\n\n", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$3\r\na b\r\n"},
		{"SET k \"\\x00\\r\\n\"\r\n*1\r\n$4\r\nPING\r\n  \t \r\nPI\"NG\"\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\x00\r\n\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"},
		{"ECHO " + big + "\r\n", "*2\r\n$4\r\nECHO\r\n$20000\r\n" + big + "\r\n"},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n" + big + "\r\n", ""},
		// Redis ignores empty commands; redcon would call them errors.
		{"*0\r\n*1\r\n$4\r\nPING\r\n*-1\r\n*-5\r\nPING\r\n*0\r\n", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"},
		// Redis skips the two bytes after a bulk, and the byte after a
		// length line's '\r', unchecked.
		{"*1\r\n$4\r\nPINGxx*1\rX$4\rXPING\r\n", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n"},
		{"*1\r\n$0\r\n\r\n", ""},
	}
	for _, c := range cases {
		want := c.want
		if want == "" {
			want = c.in
		}
		for name, ch := range chunkings(1) {
			for _, bufSize := range []int{32, 4096, 1 << 16} {
				got, written, err := guardRun(t, srv, true, []byte(c.in), ch, bufSize)
				if err != io.EOF || len(written) != 0 {
					t.Fatalf("%.40q chunks %s buf %d: err %v, wrote %q", c.in, name, bufSize, err, written)
				}
				if string(got) != want {
					t.Fatalf("%.40q chunks %s buf %d: delivered\n %.200q\nwant\n %.200q", c.in, name, bufSize, got, want)
				}
			}
		}
	}
}

// TestGuardRefuses: each broken limit is answered with Redis's text after
// the commands before it were delivered, and the connection is refused.
func TestGuardRefuses(t *testing.T) {
	srv := newExecServer(t, nil)
	const in = "*1\r\n$4\r\nPING\r\nPING\r\n"             // sent before the bad command
	const ok = "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n" // what is delivered of it
	long := strings.Repeat("a", 90000)
	cases := []struct {
		name   string
		authed bool
		bad    string
		reply  string // "" = closed without a reply
	}{
		{"bulk over proto-max-bulk-len", true, "*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"negative bulk", true, "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk not a number", true, "*1\r\n$+4\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"empty bulk length", true, "*1\r\n$\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"multibulk over INT_MAX", true, "*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"multibulk leading zero", true, "*03\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"multibulk garbage", true, "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"multibulk LF only", true, "*1\n$4\r\nPING\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"not a bulk", true, "*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
		{"CR instead of a bulk", true, "*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n"},
		{"unauthenticated multibulk", false, "*11\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"},
		{"unauthenticated bulk", false, "*1\r\n$16385\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n"},
		{"inline too big", true, long, "-ERR Protocol error: too big inline request\r\n"},
		{"multibulk line too big", true, "*" + long, "-ERR Protocol error: too big mbulk count string\r\n"},
		{"bulk line too big", true, "*1\r\n$" + long, "-ERR Protocol error: too big bulk count string\r\n"},
		{"bulk line too big before it is known bad", true, "*1\r\nx" + long, "-ERR Protocol error: too big bulk count string\r\n"},
		// Redis finds line ends with strchr, which stops at a NUL: such a
		// line never ends, until it is too big.
		{"NUL in a multibulk line", true, "*1\x00\r\n$4\r\nPING\r\n" + long, "-ERR Protocol error: too big mbulk count string\r\n"},
		{"NUL in an inline line", true, "ECHO a\x00b\r\nPING\r\n" + long, "-ERR Protocol error: too big inline request\r\n"},
		{"NUL as a bulk line", true, "*1\r\n\x00\r\n" + long, "-ERR Protocol error: too big bulk count string\r\n"},
		{"unbalanced quotes", true, "ECHO \"a\r\nPING\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"text after a closing quote", true, "ECHO 'a'b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	}
	for _, c := range cases {
		for name, ch := range chunkings(2) {
			if name == "1" && len(c.bad) > 1000 {
				continue // slow, and "2" covers the same splits
			}
			got, written, err := guardRun(t, srv, c.authed, []byte(in+c.bad), ch, 4096)
			if !errors.Is(err, errGuardClosed) {
				t.Fatalf("%s, chunks %s: err %v, delivered %.100q", c.name, name, err, got)
			}
			if !bytes.HasPrefix(got, []byte(ok)) || len(got) >= len(ok)+len(c.bad) {
				t.Fatalf("%s, chunks %s: delivered %.100q", c.name, name, got)
			}
			if string(written) != c.reply {
				t.Fatalf("%s, chunks %s: wrote %q, want %q", c.name, name, written, c.reply)
			}
		}
	}
}

// TestGuardChecksAuthAfterEarlierCommands: the unauthenticated limits
// apply to the session as the commands before the big one leave it, as in
// Redis, where AUTH runs before the next command is parsed.
func TestGuardChecksAuthAfterEarlierCommands(t *testing.T) {
	srv := newExecServer(t, nil)
	stream := []byte("*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n*11\r\n" + strings.Repeat("$1\r\na\r\n", 11))
	sc := &scriptConn{data: stream, chunks: func() int { return 1 << 20 }}
	s := &Session{}
	g := &guardConn{Conn: sc, srv: srv, sess: s}
	buf := make([]byte, 4096)
	n, err := g.Read(buf)
	if err != nil || string(buf[:n]) != "*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n" {
		t.Fatalf("first Read: %q %v", buf[:n], err)
	}
	s.Authed = true // what AUTH did
	var rest []byte
	for {
		n, err := g.Read(buf)
		rest = append(rest, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(rest) != string(stream[len("*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n"):]) || sc.out.Len() != 0 {
		t.Fatalf("after AUTH: delivered %q, wrote %q", rest, sc.out.Bytes())
	}
}

// TestGuardQueryBufferLimit: a command whose bytes plus per-argument
// overhead pass the limit closes the connection without a reply, before
// it is buffered.
func TestGuardQueryBufferLimit(t *testing.T) {
	srv := newExecServer(t, nil)
	srv.queryBufLimit = 1 << 20
	srv.maxBulk.Store(1 << 20)
	args := 1 << 20 / argOverhead
	stream := []byte("*1000000\r\n" + strings.Repeat("$0\r\n\r\n", args))
	got, written, err := guardRun(t, srv, true, stream, func() int { return 4096 }, 4096)
	if !errors.Is(err, errGuardClosed) || len(written) != 0 {
		t.Fatalf("err %v, wrote %q", err, written)
	}
	if len(got) > 1<<20 {
		t.Fatalf("delivered %d bytes past the limit", len(got))
	}
	// A command announcing more than the limit is refused at the header
	// that passes it.
	got, _, err = guardRun(t, srv, true, []byte("*2\r\n$1000000\r\n"+strings.Repeat("x", 1000000)+"\r\n$200000\r\n"), func() int { return 4096 }, 4096)
	if !errors.Is(err, errGuardClosed) || len(got) > 1000030 {
		t.Fatalf("big command: err %v, delivered %d bytes", err, len(got))
	}
}

// TestGuardFillsBufferForOneCommand: while only part of one command has
// arrived, Read keeps reading until the buffer is full, so redcon does not
// re-parse a growing command once per network read.
func TestGuardFillsBufferForOneCommand(t *testing.T) {
	srv := newExecServer(t, nil)
	stream := []byte("*2\r\n$4\r\nECHO\r\n$10000\r\n" + strings.Repeat("x", 10000) + "\r\n")
	sc := &scriptConn{data: stream, chunks: func() int { return 100 }}
	g := &guardConn{Conn: sc, srv: srv, sess: &Session{Authed: true}}
	buf := make([]byte, 4096)
	reads := 0
	for {
		n, err := g.Read(buf)
		if err != nil {
			break
		}
		reads++
		if n != len(buf) && sc.data != nil && len(sc.data) > 0 {
			t.Fatalf("Read returned %d bytes of an incomplete command with room left", n)
		}
	}
	if reads > 4 {
		t.Fatalf("%d Reads for a 10 kB command in 4 kB buffers", reads)
	}
}

// TestSplitInline: inline commands split as redis-server 7.0.15 splits them
// (each case was sent to it).
func TestSplitInline(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string // nil: unbalanced quotes
	}{
		{`PI"NG"`, []string{"PING"}},
		{`ECHO "a\x41b"`, []string{"ECHO", "aAb"}},
		{`ECHO "a\x4"`, []string{"ECHO", "ax4"}},
		{`ECHO "a\xZZ"`, []string{"ECHO", "axZZ"}},
		{`ECHO "\n\r\t\b\a\q\\"`, []string{"ECHO", "\n\r\t\b\aq\\"}},
		{`ECHO 'it\'s'`, []string{"ECHO", "it's"}},
		{`ECHO 'a\nb'`, []string{"ECHO", `a\nb`}},
		{`ECHO "a"b`, nil},
		{`ECHO 'a'b`, nil},
		{`ECHO "a`, nil},
		{`ECHO 'a`, nil},
		{`ECHO a"b c"d`, nil},
		{`ECHO a"b c" d`, []string{"ECHO", "ab c", "d"}},
		{"ECHO\ta", []string{"ECHO", "a"}},
		{"ECHO a\vb", []string{"ECHO", "a\vb"}},
		{"\vECHO a", []string{"ECHO", "a"}},
		{"\fECHO\fa", []string{"ECHO\fa"}},
		{"ECHO \"a\"\tb", []string{"ECHO", "a", "b"}},
		{"ECHO \"a\"\v", []string{"ECHO", "a"}},
		{"ECHO a\rb", []string{"ECHO", "a", "b"}},
		{`ECHO "" ''`, []string{"ECHO", "", ""}},
		{"   ", []string{}},
	} {
		got, ok := splitInline([]byte(c.line))
		if !ok {
			if c.want != nil {
				t.Errorf("%q: unbalanced", c.line)
			}
			continue
		}
		if c.want == nil {
			t.Errorf("%q: split into %q, want unbalanced quotes", c.line, got)
			continue
		}
		var gs []string
		for _, a := range got {
			gs = append(gs, string(a))
		}
		if strings.Join(gs, "|") != strings.Join(c.want, "|") || len(gs) != len(c.want) {
			t.Errorf("%q: got %q want %q", c.line, gs, c.want)
		}
	}
}

func FuzzGuard(f *testing.F) {
	f.Add([]byte("*1\r\n$4\r\nPING\r\nPING\r\n*0\r\n"), uint8(3), false)
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$-1\r\n"), uint8(1), true)
	f.Add([]byte("*1\x00\r\n\r\n$\r\n"), uint8(7), true)
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8, authed bool) {
		srv := newExecServer(t, nil)
		srv.queryBufLimit = 1 << 16
		sc := &scriptConn{data: stream, chunks: func() int { return int(chunk) + 1 }}
		g := &guardConn{Conn: sc, srv: srv, sess: &Session{Authed: authed}}
		buf := make([]byte, 64)
		total := 0
		for i := 0; ; i++ {
			if i > 2*len(stream)+10 {
				t.Fatal("no progress")
			}
			n, err := g.Read(buf)
			total += n
			if err != nil {
				break
			}
		}
		if total > 8*len(stream)+16 { // inline commands grow into RESP
			t.Fatalf("delivered %d bytes for %d", total, len(stream))
		}
		if out := sc.out.Bytes(); len(out) > 0 {
			if err := oneReply(out); err != nil || out[0] != '-' {
				t.Fatalf("guard wrote %q", out)
			}
		}
	})
}
