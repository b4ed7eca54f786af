package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startServer serves a test server on a loopback port and returns its
// address. Cleanup closes it and checks that Serve returned nil.
func startServer(t *testing.T, mod func(*Config)) (*Server, string) {
	t.Helper()
	srv := newExecServer(t, mod)
	return srv, serveOn(t, srv)
}

// serveOn serves srv on a loopback port and returns its address. Cleanup
// closes it and checks that Serve returned nil.
func serveOn(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ln.Addr().String()
}

// rawClient is a plain TCP client speaking raw bytes.
type rawClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// reply reads one whole RESP reply.
func (rc *rawClient) reply() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf bytes.Buffer
	if err := copyReply(&buf, rc.r); err != nil {
		rc.t.Fatalf("read reply: %v (got %q)", err, buf.Bytes())
	}
	return buf.String()
}

func copyReply(dst *bytes.Buffer, r *bufio.Reader) error {
	line, err := r.ReadBytes('\n')
	dst.Write(line)
	if err != nil {
		return err
	}
	n := 0
	fmt.Sscan(string(line[1:len(line)-2]), &n)
	switch line[0] {
	case '$':
		if n >= 0 {
			_, err := io.CopyN(dst, r, int64(n)+2)
			return err
		}
	case '*':
		for i := 0; i < n; i++ {
			if err := copyReply(dst, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// closed reports whether the server closed the connection (EOF after
// reading what is left).
func (rc *rawClient) closed() bool {
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(rc.r)
	return err == nil
}

func TestServeProtocolErrorsOverTCP(t *testing.T) {
	_, addr := startServer(t, nil)
	bystander := dialRaw(t, addr)
	bystander.send("CLIENT SETNAME bystander\r\n")
	bystander.reply()
	for _, c := range []struct {
		name, in, want string
	}{
		{"oversized bulk", "*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"oversized multibulk", "*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"inline 1 MB", strings.Repeat("x", 1<<20) + "\r\n", "-ERR Protocol error: too big inline request\r\n"},
		{"garbage", "*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
		{"commands before the bad one run", "PING\r\n*1\r\n$4\r\nECHO\r\n*1\r\n$-5\r\n", "+PONG\r\n-ERR wrong number of arguments for 'echo' command\r\n-ERR Protocol error: invalid bulk length\r\n"},
		{"unbalanced quotes (redcon's check)", "ECHO \"a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(c.in)
			var got string
			for len(got) < len(c.want) {
				got += rc.reply()
			}
			if got != c.want || !rc.closed() {
				t.Fatalf("got %q (want %q), or the connection stayed open", got, c.want)
			}
			bystander.send("PING\r\n")
			if r := bystander.reply(); r != "+PONG\r\n" {
				t.Fatalf("other client: %q", r)
			}
		})
	}
	t.Run("partial command then close", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhe")
		rc.c.Close()
		bystander.send("EXISTS a\r\n")
		if r := bystander.reply(); r != ":0\r\n" {
			t.Fatalf("half a SET ran: %q", r)
		}
	})
	t.Run("empty commands are ignored", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.send("*0\r\n*-1\r\nPING\r\n")
		if r := rc.reply(); r != "+PONG\r\n" {
			t.Fatalf("got %q", r)
		}
	})
}

func TestServeUnauthenticatedLimits(t *testing.T) {
	_, addr := startServer(t, func(c *Config) { c.RequirePass = "pw" })
	rc := dialRaw(t, addr)
	rc.send("*11\r\n")
	if r := rc.reply(); r != "-ERR Protocol error: unauthenticated multibulk length\r\n" || !rc.closed() {
		t.Fatalf("got %q", r)
	}
	// AUTH in the same packet as the big command lifts the limit first.
	rc = dialRaw(t, addr)
	rc.send("AUTH pw\r\n*2\r\n$4\r\nECHO\r\n$20000\r\n" + strings.Repeat("e", 20000) + "\r\n")
	if r := rc.reply(); r != "+OK\r\n" {
		t.Fatalf("AUTH: %q", r)
	}
	if r := rc.reply(); len(r) != 20000+len("$20000\r\n\r\n") {
		t.Fatalf("ECHO after AUTH: %.40q", r)
	}
}

func TestServePipelineAndQuit(t *testing.T) {
	_, addr := startServer(t, nil)
	rc := dialRaw(t, addr)
	var in, want strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&in, "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\nv%d\r\n", len(fmt.Sprint(i))+1, i, len(fmt.Sprint(i))+1, i)
		fmt.Fprintf(&in, "GET k%d\r\n", i)
		fmt.Fprintf(&want, "+OK\r\n$%d\r\nv%d\r\n", len(fmt.Sprint(i))+1, i)
	}
	rc.send(in.String())
	var got strings.Builder
	for i := 0; i < 4000; i++ {
		got.WriteString(rc.reply())
	}
	if got.String() != want.String() {
		t.Fatal("pipelined replies out of order or wrong")
	}
	// Nothing after QUIT runs.
	rc.send("SET a 1\r\nQUIT\r\nSET b 2\r\n")
	if r := rc.reply() + rc.reply(); r != "+OK\r\n+OK\r\n" || !rc.closed() {
		t.Fatalf("QUIT: %q", r)
	}
	rc = dialRaw(t, addr)
	rc.send("EXISTS a b\r\n")
	if r := rc.reply(); r != ":1\r\n" {
		t.Fatalf("a command after QUIT ran: %q", r)
	}
}

func TestServeGoRedisDefaults(t *testing.T) {
	var logs logBuffer // Info and up: nothing is expected
	_, addr := startServer(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	ctx := context.Background()
	// Default options: HELLO 3 (NOPROTO: RESP2 it is), CLIENT SETINFO x2,
	// maintenance notifications left off.
	for i := 0; i < 2; i++ {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		if err := rdb.Set(ctx, "k", i, 0).Err(); err != nil {
			t.Fatalf("client %d: SET: %v", i, err)
		}
		if v, err := rdb.Get(ctx, "k").Int(); err != nil || v != i {
			t.Fatalf("client %d: GET: %d %v", i, v, err)
		}
		if name, err := rdb.ClientInfo(ctx).Result(); err != nil || !strings.HasPrefix(name.LibName, "go-redis") {
			t.Fatalf("client %d: CLIENT INFO: %+v %v", i, name, err)
		}
		rdb.Close()
	}
	if l := logs.String(); l != "" {
		t.Fatalf("server logged: %s", l)
	}
}

func TestServeGoRedis(t *testing.T) {
	srv, addr := startServer(t, func(c *Config) { c.RequirePass = "pw" })
	ctx := context.Background()
	// Default options: RESP3 HELLO (NOPROTO, then RESP2 and AUTH), CLIENT SETINFO.
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: "pw"})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET: %q %v", v, err)
	}
	if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("GET missing: %v", err)
	}
	pipe := rdb.Pipeline()
	for i := 0; i < 100; i++ {
		pipe.Set(ctx, fmt.Sprint("p", i), i, 0)
		pipe.Get(ctx, fmt.Sprint("p", i))
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil || len(cmds) != 200 || cmds[199].(*redis.StringCmd).Val() != "99" {
		t.Fatalf("pipeline: %v", err)
	}
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 101 {
		t.Fatalf("DBSIZE: %d %v", n, err)
	}
	// COMMAND parses (10-element entries) with the right flags and keys.
	info, err := rdb.Command(ctx).Result()
	if err != nil {
		t.Fatalf("COMMAND: %v", err)
	}
	if g := info["get"]; g == nil || !g.ReadOnly || g.FirstKeyPos != 1 || g.Arity != 2 {
		t.Fatalf("COMMAND get: %+v", g)
	}
	if s := info["set"]; s == nil || s.ReadOnly || s.FirstKeyPos != 1 {
		t.Fatalf("COMMAND set: %+v", s)
	}
	if m := info["mset"]; m == nil || m.LastKeyPos != -1 || m.StepCount != 2 {
		t.Fatalf("COMMAND mset: %+v", m)
	}
	if len(info) != len(srv.cmds) {
		t.Fatalf("COMMAND: %d entries, table has %d", len(info), len(srv.cmds))
	}
	// The handshake's CLIENT SETINFO arrived.
	list, err := rdb.ClientList(ctx).Result()
	if err != nil || !strings.Contains(list, "lib-name=go-redis") || !strings.Contains(list, "lib-ver=") {
		t.Fatalf("CLIENT LIST: %q %v", list, err)
	}
	// A second client works too, and a wrong password fails cleanly.
	rdb2 := redis.NewClient(&redis.Options{Addr: addr, Password: "pw", DB: 2})
	defer rdb2.Close()
	if err := rdb2.Set(ctx, "k", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, "k").Result(); v != "v" {
		t.Fatalf("db 0 sees db 2's write: %q", v)
	}
	bad := redis.NewClient(&redis.Options{Addr: addr, Password: "nope", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v", err)
	}
	// Concurrent clients.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				key := fmt.Sprint("c", g, "-", i)
				if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
					errs <- err
					return
				}
				if v, err := rdb.Get(ctx, key).Int(); err != nil || v != i {
					errs <- fmt.Errorf("%s = %d, %v", key, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestServeMaxClientsAndIdleTimeout(t *testing.T) {
	srv, addr := startServer(t, func(c *Config) { c.MaxClients = 2 })
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.send("PING\r\n")
	b.send("PING\r\n")
	a.reply()
	b.reply()
	c := dialRaw(t, addr)
	if r := c.reply(); r != "-ERR max number of clients reached\r\n" || !c.closed() {
		t.Fatalf("third client: %q", r)
	}
	a.c.Close()
	waitFor(t, "a closed connection to be forgotten", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 1
	})
	d := dialRaw(t, addr)
	d.send("CONFIG SET timeout 1\r\n")
	if r := d.reply(); r != "+OK\r\n" {
		t.Fatalf("CONFIG SET timeout: %q", r)
	}
	start := time.Now()
	if !d.closed() {
		t.Fatal("idle client not closed")
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("idle client closed after %v", el)
	}
	// b was idle since before the timeout was set: it is closed too.
	if !b.closed() {
		t.Fatal("a client idle before CONFIG SET timeout was not closed")
	}
	waitFor(t, "closed connections to be forgotten", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 0
	})
	// Back to no timeout: a connection whose last read set a deadline
	// keeps working past it.
	e := dialRaw(t, addr)
	e.send("PING\r\n")
	e.reply()
	e.send("CONFIG SET timeout 0\r\n")
	if r := e.reply(); r != "+OK\r\n" {
		t.Fatalf("CONFIG SET timeout 0: %q", r)
	}
	time.Sleep(1500 * time.Millisecond)
	e.send("PING\r\n")
	if r := e.reply(); r != "+PONG\r\n" {
		t.Fatalf("after timeout 0: %q", r)
	}
	if r := srv.stats.rejected.Load(); r != 1 {
		t.Fatalf("rejected_connections = %d", r)
	}
}

func TestServeCommandTimeout(t *testing.T) {
	srv, addr := startServer(t, func(c *Config) { c.CommandTimeout = 50 * time.Millisecond })
	srv.cmds.add(&command{name: "block", arity: 1, handler: func(ctx context.Context, _ *Session, w *Writer, _ [][]byte) {
		<-ctx.Done()
		srv.writeError(w, ctx.Err())
	}})
	rc := dialRaw(t, addr)
	start := time.Now()
	rc.send("BLOCK\r\n")
	if r := rc.reply(); r != "-"+errTimeout+"\r\n" {
		t.Fatalf("got %q", r)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 5*time.Second {
		t.Fatalf("deadline after %v", el)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestServeCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := newExecServer(t, nil)
	srv.cmds.add(&command{name: "block", arity: 1, handler: func(ctx context.Context, _ *Session, w *Writer, _ [][]byte) {
		<-ctx.Done() // Close cancels running commands
		srv.writeError(w, ctx.Err())
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var clients []*rawClient
	for i := 0; i < 5; i++ {
		rc := dialRaw(t, ln.Addr().String())
		rc.send("PING\r\n")
		rc.reply()
		clients = append(clients, rc)
	}
	clients[0].send("BLOCK\r\n")
	clients[1].send("*2\r\n$3\r\nGET\r\n$1\r\n") // half a command
	time.Sleep(50 * time.Millisecond)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for i, rc := range clients {
		rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(rc.r)
		if err != nil {
			t.Fatalf("client %d not closed: %v", i, err)
		}
		if i == 0 && len(rest) > 0 && !bytes.HasPrefix(rest, []byte("-TRYAGAIN")) {
			t.Fatalf("blocked command answered %q", rest)
		}
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(ln2); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func TestServeCloseBeforeServe(t *testing.T) {
	srv := newExecServer(t, nil)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(ln); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener left open")
	}
	if !errors.Is(srv.Serve(ln), nil) {
		t.Fatal("Serve after Close")
	}
}

func TestServeClientListIdleAndAge(t *testing.T) {
	_, addr := startServer(t, nil)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.send("CLIENT SETNAME idler\r\n")
	a.reply()
	time.Sleep(1100 * time.Millisecond)
	b.send("CLIENT LIST\r\n")
	list := b.reply()
	var idler string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name=idler ") {
			idler = line
		}
	}
	if !regexp.MustCompile(` age=[1-9]\d* idle=[1-9]\d* `).MatchString(idler) || !strings.Contains(idler, " cmd=client|setname ") {
		t.Fatalf("idle client's line: %q", idler)
	}
}
