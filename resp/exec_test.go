package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// The expected texts in these tests are what redis-server 7.0.15 answers
// (checked by sending the same commands to it); where ringstore differs on
// purpose the test says so.

// testNodeID is the coordinator's node ID in tests.
var testNodeID = strings.Repeat("ab", 20)

// logBuffer is a concurrency-safe log sink for tests that look at logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newExecServer returns a Server over an in-memory store whose slots are
// ring.Slot, with cfg changed by mod (may be nil). Logs go to the test's
// output.
func newExecServer(t testing.TB, mod func(*Config)) *Server {
	t.Helper()
	return newServerOn(t, coordtest.NewMemStore(ring.Slot), mod)
}

// newServerOn is newExecServer over store.
func newServerOn(t testing.TB, store coordinator.Store, mod func(*Config)) *Server {
	t.Helper()
	ccfg := coordinator.DefaultConfig()
	ccfg.NodeID = testNodeID
	coord, err := coordinator.New(ccfg, store)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg, coord)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// testSession returns a session as accept makes it.
func (srv *Server) testSession() *Session {
	return &Session{ID: srv.nextID.Add(1), Authed: srv.password() == "", Addr: "127.0.0.1:1", LocalAddr: "127.0.0.1:2", Created: time.Now().UnixMilli()}
}

// exec runs one command through execute and returns the raw reply, which
// must be exactly one well-formed RESP value.
func exec(t testing.TB, srv *Server, s *Session, args ...string) string {
	t.Helper()
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	var w Writer
	srv.execute(context.Background(), s, &w, b)
	out := w.Bytes()
	if err := oneReply(out); err != nil {
		t.Fatalf("%q: %v: %q", args, err, out)
	}
	return string(out)
}

// oneReply checks that b is exactly one well-formed RESP2 value.
func oneReply(b []byte) error {
	r := bufio.NewReader(bytes.NewReader(b))
	if err := skipReply(r, 0); err != nil {
		return err
	}
	if r.Buffered() != 0 {
		return errors.New("more than one reply")
	}
	return nil
}

// skipReply reads one RESP2 value from r.
func skipReply(r *bufio.Reader, depth int) error {
	if depth > 64 {
		return errors.New("nested too deep")
	}
	line, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("bad line %q", line)
	}
	body := line[1 : len(line)-2]
	if bytes.ContainsAny(body, "\r\n") {
		return fmt.Errorf("CR or LF inside %q", line)
	}
	switch line[0] {
	case '+', '-':
		return nil
	case ':':
		_, err := strconv.ParseInt(string(body), 10, 64)
		return err
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 {
			return fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return nil
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		if data[n] != '\r' || data[n+1] != '\n' {
			return errors.New("bulk not terminated by CRLF")
		}
		return nil
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 {
			return fmt.Errorf("bad array length %q", line)
		}
		for i := 0; i < n; i++ {
			if err := skipReply(r, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("bad type byte in %q", line)
}

func TestUnknownCommandText(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	a := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"foo"}, "-ERR unknown command 'foo', with args beginning with: \r\n"},
		{[]string{"FOO", "a", "b"}, "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"},
		{[]string{strings.Repeat("x", 200)}, "-ERR unknown command '" + strings.Repeat("x", 128) + "', with args beginning with: \r\n"},
		{[]string{"foo", a(200)}, "-ERR unknown command 'foo', with args beginning with: '" + a(128) + "' \r\n"},
		{[]string{"foo", a(100), strings.Repeat("b", 100), "c"}, "-ERR unknown command 'foo', with args beginning with: '" + a(100) + "' '" + strings.Repeat("b", 25) + "' \r\n"},
		{[]string{"foo", a(125), "b"}, "-ERR unknown command 'foo', with args beginning with: '" + a(125) + "' \r\n"},
		{[]string{"foo", a(124), "b"}, "-ERR unknown command 'foo', with args beginning with: '" + a(124) + "' 'b' \r\n"},
		{[]string{"foo", "a\x00b", "c"}, "-ERR unknown command 'foo', with args beginning with: 'a' 'c' \r\n"},
		{[]string{"f\x00oo", "a"}, "-ERR unknown command 'f', with args beginning with: 'a' \r\n"},
		{[]string{"foo", "a\r\nb"}, "-ERR unknown command 'foo', with args beginning with: 'a  b' \r\n"},
		{[]string{"", ""}, "-ERR unknown command '', with args beginning with: '' \r\n"},
		{[]string{"MULTI"}, "-ERR unknown command 'MULTI', with args beginning with: \r\n"},
		{[]string{"config", strings.Repeat("x", 200)}, "-ERR unknown subcommand '" + strings.Repeat("x", 128) + "'. Try CONFIG HELP.\r\n"},
		{[]string{"CoNfIg", "f\x00oo"}, "-ERR unknown subcommand 'f'. Try CONFIG HELP.\r\n"},
		{[]string{"config", "a\r\nb"}, "-ERR unknown subcommand 'a  b'. Try CONFIG HELP.\r\n"},
		{[]string{"client", "foo", "bar"}, "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"},
		{[]string{"COMMAND", "FOO"}, "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n"},
		{[]string{"cluster", "foo"}, "-ERR unknown subcommand 'foo'. Try CLUSTER HELP.\r\n"},
	}
	for _, c := range cases {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.args, got, c.want)
		}
	}
	// execute is total: even no arguments at all get one reply.
	var w Writer
	srv.execute(context.Background(), s, &w, nil)
	if got := string(w.Bytes()); got != "-ERR unknown command '', with args beginning with: \r\n" {
		t.Errorf("no args: %q", got)
	}
}

func TestArityErrors(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	for _, c := range []struct {
		args []string
		name string
	}{
		{[]string{"get"}, "get"},
		{[]string{"GET", "a", "b"}, "get"},
		{[]string{"set", "a"}, "set"},
		{[]string{"ping", "a", "b"}, "ping"},
		{[]string{"echo"}, "echo"},
		{[]string{"select"}, "select"},
		{[]string{"auth"}, "auth"},
		{[]string{"reset", "x"}, "reset"},
		{[]string{"readonly", "x"}, "readonly"},
		{[]string{"dbsize", "x"}, "dbsize"},
		{[]string{"time", "x"}, "time"},
		{[]string{"CONFIG"}, "config"},
		{[]string{"ConFig", "Get"}, "config|get"},
		{[]string{"config", "set", "maxclients"}, "config|set"},
		{[]string{"config", "resetstat", "x"}, "config|resetstat"},
		{[]string{"CLIENT"}, "client"},
		{[]string{"client", "setname"}, "client|setname"},
		{[]string{"client", "getname", "x"}, "client|getname"},
		{[]string{"client", "id", "x"}, "client|id"},
		{[]string{"client", "info", "x"}, "client|info"},
		{[]string{"client", "setinfo", "lib-name"}, "client|setinfo"},
		{[]string{"CLUSTER"}, "cluster"},
		{[]string{"CLUSTER", "KEYSLOT"}, "cluster|keyslot"},
		{[]string{"cluster", "keyslot", "a", "b"}, "cluster|keyslot"},
		{[]string{"command", "count", "x"}, "command|count"},
		{[]string{"command", "getkeys"}, "command|getkeys"},
	} {
		want := "-ERR wrong number of arguments for '" + c.name + "' command\r\n"
		if got := exec(t, srv, s, c.args...); got != want {
			t.Errorf("%q: got %q want %q", c.args, got, want)
		}
	}
}

func TestNoAuthGate(t *testing.T) {
	srv := newExecServer(t, func(c *Config) { c.RequirePass = "secret" })
	s := srv.testSession()
	if s.Authed {
		t.Fatal("session authenticated without AUTH")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"GET", "a"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"PING"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"CLIENT", "SETINFO", "lib-name", "x"}, "-NOAUTH Authentication required.\r\n"},
		{[]string{"COMMAND"}, "-NOAUTH Authentication required.\r\n"},
		// Redis looks the command up and checks its arity before AUTH.
		{[]string{"FOO", "a"}, "-ERR unknown command 'FOO', with args beginning with: 'a' \r\n"},
		{[]string{"GET"}, "-ERR wrong number of arguments for 'get' command\r\n"},
		{[]string{"HELLO"}, "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"},
		{[]string{"HELLO", "2", "AUTH", "default", "wrong"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"HELLO", "2", "AUTH", "bob", "secret"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "wrong"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "bob", "secret"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"AUTH", "a", "b", "c"}, "-ERR syntax error\r\n"},
		{[]string{"RESET"}, "+RESET\r\n"},
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q: got %q want %q", c.args, got, c.want)
		}
	}
	if exec(t, srv, s, "AUTH", "secret") != "+OK\r\n" || exec(t, srv, s, "GET", "a") != "$-1\r\n" {
		t.Fatal("AUTH secret did not authenticate")
	}
	// A failed AUTH keeps an authenticated connection authenticated.
	exec(t, srv, s, "AUTH", "wrong")
	if got := exec(t, srv, s, "PING"); got != "+PONG\r\n" {
		t.Fatalf("after a failed AUTH: %q", got)
	}
	// RESET logs out when a password is set.
	exec(t, srv, s, "RESET")
	if got := exec(t, srv, s, "PING"); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("after RESET: %q", got)
	}
	// HELLO AUTH logs in and answers the handshake.
	if got := exec(t, srv, s, "HELLO", "2", "AUTH", "default", "secret"); !strings.HasPrefix(got, "*14\r\n") {
		t.Fatalf("HELLO 2 AUTH: %q", got)
	}
	// HELLO 3 answers NOPROTO before looking at AUTH (ringstore speaks RESP2 only).
	s2 := srv.testSession()
	if got := exec(t, srv, s2, "HELLO", "3", "AUTH", "default", "secret"); got != "-NOPROTO unsupported protocol version\r\n" {
		t.Fatalf("HELLO 3: %q", got)
	}
	// QUIT works unauthenticated.
	if got := exec(t, srv, s2, "QUIT"); got != "+OK\r\n" || !s2.Quit {
		t.Fatalf("QUIT: %q quit=%v", got, s2.Quit)
	}
	// CONFIG SET requirepass takes effect for the next AUTH.
	if got := exec(t, srv, s, "CONFIG", "SET", "requirepass", "other"); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass: %q", got)
	}
	s3 := srv.testSession()
	if exec(t, srv, s3, "AUTH", "secret") != "-WRONGPASS invalid username-password pair or user is disabled.\r\n" || exec(t, srv, s3, "AUTH", "default", "other") != "+OK\r\n" {
		t.Fatal("new requirepass not in effect")
	}
	exec(t, srv, s, "CONFIG", "SET", "requirepass", "")
	if s4 := srv.testSession(); !s4.Authed {
		t.Fatal("requirepass cleared but new sessions need AUTH")
	}
}

func TestAuthWithoutPassword(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"AUTH", "x"}, "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{[]string{"AUTH", "default", "anything"}, "+OK\r\n"},
		{[]string{"AUTH", "bob", "x"}, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{[]string{"HELLO", "2", "AUTH", "default", "any"}, "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:" + strconv.FormatInt(s.ID, 10) + "\r\n$4\r\nmode\r\n$7\r\ncluster\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q: got %q want %q", c.args, got, c.want)
		}
	}
}

func TestConnectionCommands(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	hello := "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:" + strconv.FormatInt(s.ID, 10) + "\r\n$4\r\nmode\r\n$7\r\ncluster\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"ping", "hi"}, "$2\r\nhi\r\n"},
		{[]string{"ping", ""}, "$0\r\n\r\n"},
		{[]string{"ECHO", "a\r\nb"}, "$4\r\na\r\nb\r\n"},
		{[]string{"HELLO"}, hello},
		{[]string{"HELLO", "2"}, hello},
		{[]string{"hello", "3"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"HELLO", "1"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"HELLO", "4"}, "-NOPROTO unsupported protocol version\r\n"},
		{[]string{"HELLO", "x"}, "-ERR Protocol version is not an integer or out of range\r\n"},
		{[]string{"HELLO", "2", "foo"}, "-ERR Syntax error in HELLO option 'foo'\r\n"},
		{[]string{"HELLO", "2", "auth", "a"}, "-ERR Syntax error in HELLO option 'auth'\r\n"},
		{[]string{"HELLO", "2", "setname"}, "-ERR Syntax error in HELLO option 'setname'\r\n"},
		{[]string{"HELLO", "2", "setname", "a b"}, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"HELLO", "2", "SETNAME", "n1"}, hello},
		{[]string{"CLIENT", "GETNAME"}, "$2\r\nn1\r\n"},
		{[]string{"SELECT", "16"}, "-ERR DB index is out of range\r\n"},
		{[]string{"SELECT", "-1"}, "-ERR DB index is out of range\r\n"},
		{[]string{"SELECT", "99999999999999999999"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SELECT", " 1"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SELECT", "1.0"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SELECT", "01"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"SELECT", "4294967296"}, "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"},
		// Redis Cluster refuses any db but 0; ringstore has 16 (DESIGN.md "Databases").
		{[]string{"SELECT", "15"}, "+OK\r\n"},
		{[]string{"READONLY"}, "+OK\r\n"},
		{[]string{"READWRITE"}, "+OK\r\n"},
		{[]string{"ASKING"}, "+OK\r\n"},
		{[]string{"QUIT", "x"}, "+OK\r\n"},
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.args, got, c.want)
		}
	}
	if s.DB != 15 || !s.Quit || s.Name != "n1" {
		t.Fatalf("session after the commands: db %d quit %v name %q", s.DB, s.Quit, s.Name)
	}
	exec(t, srv, s, "READONLY")
	exec(t, srv, s, "CLIENT", "SETINFO", "LIB-NAME", "lib")
	if got := exec(t, srv, s, "RESET"); got != "+RESET\r\n" || s.DB != 0 || s.Name != "" || s.ReadOnly || s.Asking || s.LibName != "lib" {
		t.Fatalf("RESET: %q, session %+v", got, s)
	}
}

func TestClientCommands(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	srv.conns[s.ID] = &connState{} // CLIENT LIST lists registered connections
	srv.conns[s.ID].sess.ID = s.ID
	cs := srv.conns[s.ID]
	s = &cs.sess
	s.Addr, s.LocalAddr, s.Created, s.Authed = "127.0.0.1:5000", "127.0.0.1:6379", time.Now().UnixMilli(), true
	s.fd = 7
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"CLIENT", "ID"}, ":" + strconv.FormatInt(s.ID, 10) + "\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "a b"}, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "SETNAME", "a\x7f"}, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "SETNAME", "conn-1"}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$6\r\nconn-1\r\n"},
		{[]string{"CLIENT", "SETNAME", ""}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "conn-1"}, "+OK\r\n"},
		// SETINFO is Redis 7.2's; its texts come from the 7.2 source.
		{[]string{"CLIENT", "SETINFO", "lib-name", "go-redis(,go1.26.8)"}, "+OK\r\n"},
		{[]string{"client", "setinfo", "LIB-VER", "9.23.0"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "foo", "x"}, "-ERR Unrecognized option 'foo'\r\n"},
		{[]string{"CLIENT", "SETINFO", "Lib-Name", "a b"}, "-ERR Lib-Name cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "LIST", "x"}, "-ERR syntax error\r\n"},
		{[]string{"CLIENT", "LIST", "TYPE", "foo"}, "-ERR Unknown client type 'foo'\r\n"},
		{[]string{"CLIENT", "LIST", "TYPE", "master"}, "$0\r\n\r\n"},
		{[]string{"CLIENT", "LIST", "TYPE", "pubsub"}, "$0\r\n\r\n"},
		{[]string{"CLIENT", "LIST", "ID", "x"}, "-ERR Invalid client ID\r\n"},
		{[]string{"CLIENT", "LIST", "ID", "99999"}, "$0\r\n\r\n"},
		{[]string{"CLIENT", "KILL", "x"}, "-ERR unknown subcommand 'KILL'. Try CLIENT HELP.\r\n"}, // not implemented
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.args, got, c.want)
		}
	}
	exec(t, srv, s, "READONLY")
	line := regexp.MustCompile(`^id=(\d+) addr=127\.0\.0\.1:5000 laddr=127\.0\.0\.1:6379 fd=7 name=conn-1 age=0 idle=\d+ flags=r db=3 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client\|(list|info) user=default redir=-1 resp=2 lib-name=go-redis\(,go1\.26\.8\) lib-ver=9\.23\.0\n$`)
	exec(t, srv, s, "SELECT", "3")
	for _, args := range [][]string{{"CLIENT", "LIST"}, {"CLIENT", "INFO"}, {"client", "list", "type", "NORMAL"}, {"CLIENT", "LIST", "ID", strconv.FormatInt(s.ID, 10), "12345"}} {
		got := exec(t, srv, s, args...)
		body := got[strings.Index(got, "\r\n")+2 : len(got)-2]
		if m := line.FindStringSubmatch(body); m == nil || m[1] != strconv.FormatInt(s.ID, 10) {
			t.Errorf("%q: %q", args, body)
		}
	}
	help := exec(t, srv, s, "CLIENT", "HELP")
	if !strings.HasPrefix(help, "*") || !strings.Contains(help, "+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n") || !strings.HasSuffix(help, "+HELP\r\n+    Prints this help.\r\n") {
		t.Errorf("CLIENT HELP: %q", help)
	}
}

func TestServerCommands(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"DBSIZE"}, ":0\r\n"},
		{[]string{"SET", "a", "1"}, "+OK\r\n"},
		{[]string{"SET", "b", "1"}, "+OK\r\n"},
		{[]string{"DBSIZE"}, ":2\r\n"},
		{[]string{"FLUSHALL", "x"}, "-ERR syntax error\r\n"},
		{[]string{"FLUSHALL", "ASYNC", "x"}, "-ERR syntax error\r\n"},
		{[]string{"FLUSHDB", "foo"}, "-ERR syntax error\r\n"},
		{[]string{"SELECT", "1"}, "+OK\r\n"},
		{[]string{"SET", "c", "1"}, "+OK\r\n"},
		{[]string{"FLUSHDB", "sync"}, "+OK\r\n"},
		{[]string{"DBSIZE"}, ":0\r\n"},
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"DBSIZE"}, ":2\r\n"},
		{[]string{"FLUSHALL", "async"}, "+OK\r\n"},
		{[]string{"DBSIZE"}, ":0\r\n"},
		{[]string{"CLUSTER", "KEYSLOT", "foo"}, ":12182\r\n"},
		{[]string{"CLUSTER", "KEYSLOT", "{bar}x"}, ":5061\r\n"},
		{[]string{"cluster", "keyslot", ""}, ":0\r\n"},
		{[]string{"CLUSTER", "KEYSLOT", "foo{}{bar}"}, ":8363\r\n"},
		{[]string{"CLUSTER", "KEYSLOT", "foo{{bar}}zap"}, ":4015\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "16384"}, "-ERR Invalid slot\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "-1"}, "-ERR Invalid slot\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "1", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "1", "-1"}, "-ERR Invalid slot or number of keys\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "99999", "1"}, "-ERR Invalid slot or number of keys\r\n"},
		{[]string{"SET", "foo", "1"}, "+OK\r\n"},
		{[]string{"SET", "{foo}2", "1"}, "+OK\r\n"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "12182"}, ":2\r\n"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "12182", "1"}, "*1\r\n$3\r\nfoo\r\n"},
		{[]string{"CLUSTER", "MYID"}, "$40\r\n" + testNodeID + "\r\n"},
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.args, got, c.want)
		}
	}
	got := exec(t, srv, s, "TIME")
	m := regexp.MustCompile(`^\*2\r\n\$\d+\r\n(\d+)\r\n\$\d+\r\n(\d+)\r\n$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("TIME: %q", got)
	}
	sec, _ := strconv.ParseInt(m[1], 10, 64)
	usec, _ := strconv.ParseInt(m[2], 10, 64)
	if d := time.Since(time.Unix(sec, usec*1000)); d < -time.Second || d > time.Second || usec >= 1e6 {
		t.Fatalf("TIME %d.%06d is off by %v", sec, usec, d)
	}
}

func TestConfigCommands(t *testing.T) {
	var applied []string
	p := NewParams()
	err := p.Register(
		Param{Name: "save", Value: ""},
		Param{Name: "appendonly", Value: "no", Set: BoolParam()},
		Param{Name: "maxmemory", Value: "0", Set: MemoryParam(0, 1<<62)},
		Param{Name: "loglevel", Value: "notice", Set: func(v string) (string, error) {
			v, err := EnumParam("debug", "verbose", "notice", "warning")(v)
			if err == nil {
				applied = append(applied, v)
			}
			return v, err
		}},
		Param{Name: "maxclients", Value: "10000", Set: IntParam(1, 1<<31-1)},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := newExecServer(t, func(c *Config) { c.Params = p })
	s := srv.testSession()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"CONFIG", "GET", "foo"}, "*0\r\n"},
		{[]string{"CONFIG", "GET", "save"}, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{[]string{"CONFIG", "GET", "MAXMEMORY"}, "*2\r\n$9\r\nMAXMEMORY\r\n$1\r\n0\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
		{[]string{"CONFIG", "GET", "MAXMEM*"}, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
		{[]string{"CONFIG", "GET", "max*", "maxmemory"}, "*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"},
		{[]string{"CONFIG", "GET", "save", "appendonly"}, "*4\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"},
		{[]string{"CONFIG", "GET", "[a"}, "*0\r\n"},
		{[]string{"CONFIG", "SET", "foo", "bar"}, "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "1", "foo", "2"}, "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"},
		{[]string{"CONFIG", "SET", "save", "1", "foo", "2"}, "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "1", "maxmemory"}, "-ERR syntax error\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "x"}, "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "10", "MAXMEMORY", "20"}, "-ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter\r\n"},
		{[]string{"CONFIG", "SET", "databases", "3"}, "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"},
		{[]string{"CONFIG", "SET", "appendonly", "maybe"}, "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'\r\n"},
		{[]string{"CONFIG", "SET", "maxclients", "x"}, "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer\r\n"},
		{[]string{"CONFIG", "SET", "timeout", "-1"}, "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive\r\n"},
		{[]string{"CONFIG", "SET", "loglevel", "foo"}, "-ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning\r\n"},
		{[]string{"CONFIG", "SET", "proto-max-bulk-len", "1"}, "-ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory", "1gb"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "maxmemory"}, "*2\r\n$9\r\nmaxmemory\r\n$10\r\n1073741824\r\n"},
		// All or nothing: the second fails, so the first is restored.
		{[]string{"CONFIG", "SET", "loglevel", "debug", "appendonly", "maybe"}, "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'\r\n"},
		{[]string{"CONFIG", "GET", "loglevel"}, "*2\r\n$8\r\nloglevel\r\n$6\r\nnotice\r\n"},
		{[]string{"CONFIG", "SET", "LOGLEVEL", "WARNING", "appendonly", "YES"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "loglevel", "appendonly"}, "*4\r\n$8\r\nloglevel\r\n$7\r\nwarning\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n"},
		{[]string{"CONFIG", "SET", "maxclients", "2", "timeout", "7", "proto-max-bulk-len", "2mb"}, "+OK\r\n"},
		{[]string{"CONFIG", "RESETSTAT"}, "+OK\r\n"},
		{[]string{"CONFIG", "REWRITE"}, "-" + errNoRewrite + "\r\n"},
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.args, got, c.want)
		}
	}
	if strings.Join(applied, ",") != "debug,notice,warning" {
		t.Errorf("loglevel setter saw %q", applied)
	}
	if srv.maxClients.Load() != 2 || srv.idleTimeout() != 7*time.Second || srv.protoMaxBulkLen() != 2<<20 {
		t.Errorf("server limits not applied: maxclients %d timeout %v proto-max-bulk-len %d", srv.maxClients.Load(), srv.idleTimeout(), srv.protoMaxBulkLen())
	}
	if !strings.Contains(exec(t, srv, s, "INFO", "persistence"), "aof_enabled:1\r\n") {
		t.Error("INFO does not show appendonly yes")
	}
}

func TestParamsRegistry(t *testing.T) {
	p := NewParams()
	if err := p.Register(Param{Name: "a", Value: "1"}, Param{Name: "A", Value: "2"}); err == nil {
		t.Fatal("duplicate accepted")
	}
	if p.Has("a") {
		t.Fatal("a failed Register added something")
	}
	if err := p.Register(Param{Name: "a", Value: "1", Set: IntParam(0, 9)}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	p.Watch("a", func(v string) { seen = append(seen, v) })
	if err := p.Set("A", "5"); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get("a"); v != "5" || len(seen) != 1 || seen[0] != "5" {
		t.Fatalf("value %q, watcher saw %q", v, seen)
	}
	if err := p.Set("a", "10"); err == nil || err.Error() != "CONFIG SET failed (possibly related to argument 'a') - argument must be between 0 and 9 inclusive" {
		t.Fatalf("out of range: %v", err)
	}
	for _, c := range []struct {
		in   string
		want int64
	}{{"0", 0}, {"100", 100}, {"1k", 1000}, {"1kb", 1024}, {"2M", 2000000}, {"2mb", 2 << 20}, {"1g", 1e9}, {"1GB", 1 << 30}, {"5b", 5}} {
		if n, err := ParseMemory(c.in); err != nil || n != c.want {
			t.Errorf("ParseMemory(%q) = %d, %v", c.in, n, err)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1.5gb", "1tb", "gb", "99999999999999999999"} {
		if _, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) accepted", bad)
		}
	}
	// A registry from cmd must agree with the server Config.
	p2 := NewParams()
	p2.Register(Param{Name: "maxclients", Value: "5", Set: IntParam(1, 10)})
	store := coordtest.NewMemStore(ring.Slot)
	ccfg := coordinator.DefaultConfig()
	ccfg.NodeID = testNodeID
	coord, _ := coordinator.New(ccfg, store)
	cfg := DefaultConfig()
	cfg.Params = p2
	if _, err := NewServer(cfg, coord); err == nil {
		t.Fatal("maxclients 5 in Params but 10000 in Config accepted")
	}
	cfg.MaxClients = 5
	srv, err := NewServer(cfg, coord)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := p2.Set("maxclients", "7"); err != nil || srv.maxClients.Load() != 7 {
		t.Fatalf("watched maxclients: %v %d", err, srv.maxClients.Load())
	}
}

func TestCommandIntrospection(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	if got, want := exec(t, srv, s, "COMMAND", "COUNT"), ":"+strconv.Itoa(len(srv.cmds))+"\r\n"; got != want {
		t.Errorf("COMMAND COUNT = %q, want %q", got, want)
	}
	// Entries of connection and server commands, byte for byte as redis-server
	// 7.0.15 sends them, except that ringstore sends no tips.
	for _, c := range []struct{ name, want string }{
		{"ping", "*10\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n"},
		{"select", "*10\r\n$6\r\nselect\r\n:2\r\n*3\r\n+loading\r\n+stale\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n"},
		{"auth", "*10\r\n$4\r\nauth\r\n:-2\r\n*6\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+no_auth\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n"},
		{"dbsize", "*10\r\n$6\r\ndbsize\r\n:1\r\n*2\r\n+readonly\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@keyspace\r\n+@read\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n"},
		{"config|get", "*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n"},
		{"CLUSTER|KEYSLOT", "*10\r\n$15\r\ncluster|keyslot\r\n:3\r\n*1\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n"},
		{"get", "*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n"},
	} {
		got := exec(t, srv, s, "COMMAND", "INFO", c.name)
		if want := "*1\r\n" + c.want; got != want {
			t.Errorf("COMMAND INFO %s:\n got  %q\n want %q", c.name, got, want)
		}
	}
	if got := exec(t, srv, s, "COMMAND", "INFO", "foo", "config|foo"); got != "*2\r\n$-1\r\n$-1\r\n" {
		t.Errorf("COMMAND INFO of unknown names: %q", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"COMMAND", "GETKEYS", "foo", "a"}, "-ERR Invalid command specified\r\n"},
		{[]string{"COMMAND", "GETKEYS", "ping", "a"}, "-ERR The command has no key arguments\r\n"},
		{[]string{"COMMAND", "GETKEYS", "set", "a"}, "-ERR Invalid number of arguments specified for command\r\n"},
		{[]string{"COMMAND", "GETKEYS", "get", "a"}, "*1\r\n$1\r\na\r\n"},
		{[]string{"COMMAND", "GETKEYS", "mset", "a", "b", "c", "d"}, "*2\r\n$1\r\na\r\n$1\r\nc\r\n"},
		{[]string{"COMMAND", "GETKEYS", "mget", "a", "b", "c"}, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
		{[]string{"COMMAND", "GETKEYS", "config", "get", "x"}, "-ERR The command has no key arguments\r\n"},
		{[]string{"COMMAND", "GETKEYS", "config", "foo", "x"}, "-ERR Invalid command specified\r\n"},
		{[]string{"COMMAND", "DOCS"}, "*0\r\n"},
		{[]string{"COMMAND", "DOCS", "get"}, "*0\r\n"},
		{[]string{"COMMAND", "LIST", "x"}, "-ERR syntax error\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "foo", "bar"}, "-ERR syntax error\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "module", "foo"}, "*0\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "pattern", "CLIENT|S*"}, "*2\r\n$14\r\nclient|setinfo\r\n$14\r\nclient|setname\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "pattern", "x", "FILTERBY", "pattern", "y"}, "-ERR syntax error\r\n"},
		{[]string{"COMMAND", "LIST", "FILTERBY", "aclcat", "nosuchcategory"}, "*0\r\n"},
	} {
		if got := exec(t, srv, s, c.args...); got != c.want {
			t.Errorf("%q:\n got  %q\n want %q", c.args, got, c.want)
		}
	}
	// COMMAND lists every entry with its subcommands: check the structure.
	all := exec(t, srv, s, "COMMAND")
	if !strings.HasPrefix(all, "*"+strconv.Itoa(len(srv.cmds))+"\r\n") {
		t.Errorf("COMMAND has the wrong count: %.40q", all)
	}
	if !strings.Contains(all, "$14\r\nclient|setinfo\r\n:4\r\n") {
		t.Error("COMMAND lacks client|setinfo as a subcommand entry")
	}
}

func TestInfo(t *testing.T) {
	srv := newExecServer(t, func(c *Config) {
		c.Info = func(section string) string {
			if section == "ringstore" || section == "all" {
				return "# Ringstore\r\nring_members:1\r\n"
			}
			return ""
		}
	})
	srv.keyspace.interval = 0 // count afresh after every write
	s := srv.testSession()
	bulk := func(args ...string) string {
		got := exec(t, srv, s, args...)
		if !strings.HasPrefix(got, "$") {
			t.Fatalf("%q: %q", args, got)
		}
		return got[strings.Index(got, "\r\n")+2 : len(got)-2]
	}
	def := bulk("INFO")
	for _, want := range []string{"# Server\r\nredis_version:7.2.0\r\n", "redis_mode:cluster\r\n", "# Clients\r\nconnected_clients:", "\r\n\r\n# Persistence\r\nloading:0\r\n", "master_repl_offset:0\r\n", "\r\n\r\n# Cluster\r\ncluster_enabled:1\r\n", "\r\n\r\n# Keyspace\r\n", "# Stats\r\n", "# Memory\r\nused_memory:", "# CPU\r\nused_cpu_sys:"} {
		if !strings.Contains(def, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
	if strings.Contains(def, "Ringstore") {
		t.Error("INFO (default) has the extra section")
	}
	if got := bulk("INFO", "CPU", "cluster"); !strings.HasPrefix(got, "# CPU\r\n") || !strings.HasSuffix(got, "\r\n\r\n# Cluster\r\ncluster_enabled:1\r\n") {
		t.Errorf("INFO CPU cluster: %q", got)
	}
	if got := bulk("INFO", "foo"); got != "" {
		t.Errorf("INFO foo: %q", got)
	}
	if got := bulk("INFO", "keyspace"); got != "# Keyspace\r\n" {
		t.Errorf("empty keyspace: %q", got)
	}
	exec(t, srv, s, "SET", "a", "1")
	exec(t, srv, s, "SET", "b", "1", "EX", "100")
	exec(t, srv, s, "SELECT", "3")
	exec(t, srv, s, "SET", "a", "1")
	// The count runs in the background and INFO waits for it only briefly.
	want := "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n"
	for deadline := time.Now().Add(20 * time.Second); ; {
		got := bulk("INFO", "keyspace")
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyspace: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := bulk("INFO", "ringstore"); got != "# Ringstore\r\nring_members:1\r\n" {
		t.Errorf("INFO ringstore: %q", got)
	}
	if got := bulk("INFO", "all"); !strings.HasSuffix(got, "\r\n\r\n# Ringstore\r\nring_members:1\r\n") || !strings.Contains(got, "# Keyspace") {
		t.Errorf("INFO all: %q", got)
	}
	stats := bulk("INFO", "stats")
	if !regexp.MustCompile(`total_commands_processed:\d+\r\n`).MatchString(stats) || !strings.Contains(stats, "total_error_replies:") {
		t.Errorf("INFO stats: %q", stats)
	}
}

// TestInfoKeyspaceAfterWrites: a keyspace count that was cheap is redone
// for every INFO, so INFO's numbers follow the writes and the expiries (as
// Redis's do), however recent the last count; one that was not cheap is
// reused for the interval. Both cases pin the knobs (an hour each way), so neither
// depends on how fast this machine counts.
func TestInfoKeyspaceAfterWrites(t *testing.T) {
	for _, c := range []struct {
		name  string
		cheap time.Duration
	}{{"cheap count", time.Hour}, {"costly count", 0}} {
		t.Run(c.name, func(t *testing.T) {
			srv := newExecServer(t, nil)
			srv.keyspace.interval = time.Hour
			srv.keyspace.cheap = c.cheap
			s := srv.testSession()
			keyspace := func() string {
				got := exec(t, srv, s, "INFO", "keyspace")
				return got[strings.Index(got, "\r\n")+2 : len(got)-2]
			}
			// The count runs in the background and INFO waits for it only
			// briefly: poll for the first one.
			waitKeyspace := func(want string) {
				t.Helper()
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					got := keyspace()
					if got == want {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("keyspace: %q, want %q", got, want)
					}
				}
			}
			exec(t, srv, s, "SET", "a", "1")
			one := "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
			waitKeyspace(one)
			exec(t, srv, s, "SET", "b", "1", "EX", "100")
			if c.cheap == 0 {
				// Counted less than an hour ago: the count stands.
				for range 3 {
					if got := keyspace(); got != one {
						t.Fatalf("keyspace within the interval: %q, want the earlier %q", got, one)
					}
				}
				return
			}
			waitKeyspace("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n")
			exec(t, srv, s, "FLUSHALL")
			waitKeyspace("# Keyspace\r\n")
			// Without a write since: a key that expires leaves the count.
			exec(t, srv, s, "SET", "e", "1", "PX", "1500")
			waitKeyspace("# Keyspace\r\ndb0:keys=1,expires=1,avg_ttl=0\r\n")
			waitKeyspace("# Keyspace\r\n")
		})
	}
}

func TestWriteErrorMapping(t *testing.T) {
	srv := newExecServer(t, nil)
	for _, c := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "-" + errTimeout + "\r\n"},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), "-" + errTimeout + "\r\n"},
		{context.Canceled, "-" + errShutdown + "\r\n"},
		{fmt.Errorf("x: %w", version.ErrBadContext), "-ERR invalid context\r\n"},
		{errors.New("coordinator: db 99 out of range"), "-ERR DB index is out of range\r\n"},
		{errors.New("disk on fire\r\nreally"), "-ERR disk on fire  really\r\n"},
		{&coordinator.QuorumError{Op: "write", Need: 2, Got: 1, Last: context.DeadlineExceeded}, "-NOREPLICAS Not enough good replicas to write: 1 of 2 acknowledged (the write may still have been stored)\r\n"},
		{fmt.Errorf("get: %w", &coordinator.QuorumError{Op: "read", Need: 2, Got: 0}), "-TRYAGAIN Not enough replicas answered the read: 0 of 2\r\n"},
		{fmt.Errorf("forward: %w", coordinator.ErrUnreachable), "-TRYAGAIN the node that coordinates this key is unreachable\r\n"},
	} {
		var w Writer
		srv.writeError(&w, c.err)
		if got := string(w.Bytes()); got != c.want {
			t.Errorf("%v: got %q want %q", c.err, got, c.want)
		}
	}
	if !strings.HasPrefix(errTimeout, "TRYAGAIN ") || !strings.HasPrefix(errShutdown, "TRYAGAIN ") {
		t.Error("timeouts must be retryable")
	}
	// A coordinator that misses its deadline answers TRYAGAIN.
	s := srv.testSession()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var w Writer
	srv.execute(ctx, s, &w, [][]byte{[]byte("GET"), []byte("a")})
	if got := string(w.Bytes()); got != "-"+errShutdown+"\r\n" {
		t.Errorf("GET with a done context: %q", got)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	var logs logBuffer
	srv := newExecServer(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	srv.cmds.add(&command{name: "boom", arity: 1, handler: func(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
		w.Array(3) // a partial reply that must not reach the client
		panic("kaboom")
	}})
	s := srv.testSession()
	if got := exec(t, srv, s, "BOOM"); got != "-ERR internal error\r\n" {
		t.Fatalf("panic reply: %q", got)
	}
	if l := logs.String(); !strings.Contains(l, "kaboom") || !strings.Contains(l, "exec_test.go") {
		t.Fatalf("panic not logged with a stack: %s", l)
	}
	if got := exec(t, srv, s, "PING"); got != "+PONG\r\n" {
		t.Fatalf("after a panic: %q", got)
	}
}

func TestHTTPRequestClosesSilently(t *testing.T) {
	srv := newExecServer(t, nil)
	for _, name := range []string{"POST", "host:", "Host:"} {
		s := srv.testSession()
		var w Writer
		srv.execute(context.Background(), s, &w, [][]byte{[]byte(name), []byte("/")})
		if w.Len() != 0 || !s.Quit {
			t.Errorf("%s: reply %q quit %v", name, w.Bytes(), s.Quit)
		}
	}
}

func TestLookupIsCaseInsensitiveAndAllocationFree(t *testing.T) {
	srv := newExecServer(t, nil)
	for _, name := range []string{"get", "GET", "gEt", "client", "CLIENT"} {
		if srv.cmds.lookup([]byte(name)) == nil {
			t.Errorf("lookup(%q) failed", name)
		}
	}
	if srv.cmds.lookup([]byte(strings.Repeat("g", 100))) != nil {
		t.Error("a long name found something")
	}
	upper, lower := []byte("GET"), []byte("get")
	if n := testing.AllocsPerRun(100, func() { srv.cmds.lookup(upper); srv.cmds.lookup(lower) }); n != 0 {
		t.Errorf("lookup allocates %v times", n)
	}
}

func TestExecuteAllocations(t *testing.T) {
	srv := newExecServer(t, nil)
	s := srv.testSession()
	ctx := srv.deadlines.context(srv.nanotime())
	get := [][]byte{[]byte("GET"), []byte("key:000001")}
	ping := [][]byte{[]byte("PING")}
	exec(t, srv, s, "SET", "key:000001", strings.Repeat("v", 100))
	var w Writer
	for _, c := range []struct {
		name string
		args [][]byte
		max  float64
	}{
		// PING is the dispatch path alone.
		{"PING", ping, 0},
		// GET adds what the coordinator and MemStore allocate (the copy of
		// the stored siblings), which execute does not add to.
		{"GET", get, 8},
	} {
		n := testing.AllocsPerRun(200, func() {
			w.Reset()
			srv.execute(ctx, s, &w, c.args)
		})
		t.Logf("%s: %v allocs/op", c.name, n)
		if n > c.max {
			t.Errorf("%s allocates %v times, want <= %v", c.name, n, c.max)
		}
	}
}

// TestExecuteConcurrentOnOneSession: the keyed commands of a pipeline may run
// concurrently on one session; execute's bookkeeping must be race-free
// (run with -race), and CLIENT LIST may read the session meanwhile.
func TestExecuteConcurrentOnOneSession(t *testing.T) {
	srv := newExecServer(t, nil)
	cs := &connState{}
	s := &cs.sess
	s.ID, s.Authed = 1, true
	srv.conns[s.ID] = cs
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				var w Writer
				key := []byte(fmt.Sprint("k", g, i%7))
				args := [][]byte{[]byte("SET"), key, []byte("v")}
				if i%2 == 1 {
					args = [][]byte{[]byte("GET"), key}
				}
				srv.execute(context.Background(), s, &w, args)
			}
		})
	}
	other := srv.testSession()
	for i := 0; i < 20; i++ {
		exec(t, srv, other, "CLIENT", "LIST")
	}
	wg.Wait()
	if s.commands.Load() != 800 || (s.LastCmd() != "get" && s.LastCmd() != "set") {
		t.Fatalf("commands %d, last %q", s.commands.Load(), s.LastCmd())
	}
}
