// Package compat_test drives real ringstore processes through real Redis
// clients (go-redis, redis-cli, redis-benchmark, ioredis) and compares
// ringstore's replies byte for byte with a real redis-server.
//
// The tests are black-box: they build ./cmd/ringstore once per test binary,
// start it on free loopback ports with temporary data directories, and talk to
// it over TCP. External tools that are missing make a test skip, unless
// RINGSTORE_REQUIRE_EXTERNAL=1 (set by .ci/run), which makes it fail instead.
//
// RINGSTORE_COMPAT_STANDIN=redis-server replaces the ringstore process with a
// redis-server (appendonly, with the same fsync policy and password), which
// checks the tests themselves against Redis before the server exists.
package compat_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long a started process may take to answer PING.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds how long a process may take to exit after SIGTERM.
	stopTimeout = 15 * time.Second
	// ioTimeout bounds every single read or write on a test connection.
	ioTimeout = 10 * time.Second
)

// binaries is the one piece of shared state in this package: the ringstore
// binary is built at most once per test binary run, into a directory that
// TestMain removes.
var binaries struct {
	once sync.Once
	dir  string // set by TestMain
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ringstore-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat_test:", err)
		os.Exit(1)
	}
	binaries.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireExternal reports whether missing external tools are failures
// (RINGSTORE_REQUIRE_EXTERNAL=1, as in CI) rather than reasons to skip.
func requireExternal() bool { return os.Getenv("RINGSTORE_REQUIRE_EXTERNAL") == "1" }

// standin returns the program that replaces ringstore in a dry run of these
// tests (RINGSTORE_COMPAT_STANDIN=redis-server), or "".
func standin() string { return os.Getenv("RINGSTORE_COMPAT_STANDIN") }

// missing skips t with msg, or fails it when external tools are required.
func missing(t testing.TB, msg string) {
	t.Helper()
	if requireExternal() {
		t.Fatalf("%s (RINGSTORE_REQUIRE_EXTERNAL=1)", msg)
	}
	t.Skipf("skipping: %s (set RINGSTORE_REQUIRE_EXTERNAL=1 to make this a failure)", msg)
}

// requireTool returns the path of an external program, skipping t if it is
// not installed (failing it under RINGSTORE_REQUIRE_EXTERNAL=1).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, fmt.Sprintf("%s not found in PATH (apt-get install redis-server redis-tools, or see .ci/run)", name))
	}
	return p
}

// moduleRoot returns the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod)
}

// ringstoreBinary builds ./cmd/ringstore once per test binary run and returns
// the path of the binary. Under RINGSTORE_COMPAT_STANDIN it returns the
// stand-in program instead.
func ringstoreBinary(t testing.TB) string {
	t.Helper()
	if s := standin(); s != "" {
		return requireTool(t, s)
	}
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", "ringstore")); err != nil {
		missing(t, "cmd/ringstore does not exist yet")
	}
	binaries.once.Do(func() {
		// Reading every source file makes `go test` key its cached result on
		// the server's sources, which this package does not import: without
		// it a stale PASS would be replayed after the server changed.
		if err := readSources(root); err != nil {
			binaries.err = err
			return
		}
		path := filepath.Join(binaries.dir, "ringstore")
		cmd := exec.Command("go", "build", "-o", path, "./cmd/ringstore")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build ./cmd/ringstore: %v\n%s", err, out)
			return
		}
		binaries.path = path
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.path
}

// readSources reads the module's Go sources, go.mod and go.sum.
func readSources(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			_, err := os.ReadFile(p)
			return err
		}
		return nil
	})
}

// freePort returns a loopback TCP port that was free a moment ago. Callers
// retry if another process takes it before they bind it.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output; the process writes it while the
// test may read it.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverOptions configures a ringstore (or redis-server) process.
type serverOptions struct {
	Fsync    string // --fsync always|everysec|no; "" leaves the default
	Password string // --requirepass; "" for none
	DataDir  string // --data-dir; "" makes a fresh temporary directory
}

// server is one running ringstore or redis-server process.
type server struct {
	t        testing.TB
	name     string // "ringstore" or "redis-server", for messages
	Addr     string // host:port
	Port     int
	DataDir  string
	password string
	cmd      *exec.Cmd
	out      *syncBuffer
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // valid once exited is closed
}

// startRingstore starts a ringstore process (or its stand-in) and waits until
// it answers PING. The process is stopped with SIGTERM when t ends, and its
// output goes to the test log if t failed.
func startRingstore(t testing.TB, opts serverOptions) *server {
	t.Helper()
	bin := ringstoreBinary(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	return startProcess(t, "ringstore", opts, func(port int) []string {
		if standin() != "" {
			return append([]string{bin}, redisArgs(port, opts, true)...)
		}
		args := []string{bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--data-dir", opts.DataDir}
		if opts.Fsync != "" {
			args = append(args, "--fsync", opts.Fsync)
		}
		if opts.Password != "" {
			args = append(args, "--requirepass", opts.Password)
		}
		return args
	})
}

// startRedis starts a real redis-server without persistence (or with AOF if
// opts.Fsync is set) and waits until it answers PING.
func startRedis(t testing.TB, opts serverOptions) *server {
	t.Helper()
	bin := requireTool(t, "redis-server")
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	return startProcess(t, "redis-server", opts, func(port int) []string {
		return append([]string{bin}, redisArgs(port, opts, opts.Fsync != "")...)
	})
}

// redisArgs returns redis-server arguments matching opts.
func redisArgs(port int, opts serverOptions, aof bool) []string {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", opts.DataDir,
		"--save", "", "--daemonize", "no", "--logfile", ""}
	if aof {
		fsync := opts.Fsync
		if fsync == "" {
			fsync = "everysec"
		}
		args = append(args, "--appendonly", "yes", "--appendfsync", fsync)
	} else {
		args = append(args, "--appendonly", "no")
	}
	if opts.Password != "" {
		args = append(args, "--requirepass", opts.Password)
	}
	return args
}

// startProcess runs argv(port) on a free port, retrying with another port if
// the process dies before it answers (someone else took the port).
func startProcess(t testing.TB, name string, opts serverOptions, argv func(port int) []string) *server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		s := &server{
			t: t, name: name, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port,
			DataDir: opts.DataDir, password: opts.Password, out: &syncBuffer{}, exited: make(chan struct{}),
		}
		args := argv(port)
		s.cmd = exec.Command(args[0], args[1:]...)
		s.cmd.Stdout = s.out
		s.cmd.Stderr = s.out
		s.cmd.SysProcAttr = childProcAttr()
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		go func() {
			s.waitErr = s.cmd.Wait()
			close(s.exited)
		}()
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
			if t.Failed() {
				t.Logf("%s on port %d (%s) output:\n%s", s.name, s.Port, strings.Join(args, " "), s.out.String())
			}
		})
		if lastErr = s.waitReady(); lastErr == nil {
			return s
		}
		select {
		case <-s.exited:
			t.Logf("%s exited before answering on port %d (retrying on another port): %v\n%s", name, port, lastErr, s.out.String())
			continue
		default:
		}
		break
	}
	t.Fatalf("%s did not start: %v", name, lastErr)
	return nil
}

// waitReady polls PING (after AUTH if needed) until it gets PONG.
func (s *server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("process exited: %v", s.waitErr)
		default:
		}
		if err = s.ping(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %v: %v", readyTimeout, err)
}

// ping opens a connection, authenticates if needed, and expects +PONG.
func (s *server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var req []byte
	if s.password != "" {
		req = appendCommand(req, "AUTH", s.password)
	}
	req = appendCommand(req, "PING")
	if _, err := c.Write(req); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	if s.password != "" {
		if rep, err := readReply(r); err != nil {
			return err
		} else if rep.String() != "+OK" {
			return fmt.Errorf("AUTH: %s", rep)
		}
	}
	rep, err := readReply(r)
	if err != nil {
		return err
	}
	if rep.String() != "+PONG" {
		return fmt.Errorf("PING: %s", rep)
	}
	return nil
}

// Alive reports whether the process is still running and answers PING.
func (s *server) Alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("%s exited: %v", s.name, s.waitErr)
	default:
	}
	return s.ping()
}

// Stop sends SIGTERM and waits for a clean exit (status 0). It is a no-op if
// the process has already been stopped or killed by the test.
func (s *server) Stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
		if s.waitErr != nil {
			return fmt.Errorf("unclean exit after SIGTERM: %v", s.waitErr)
		}
		return nil
	case <-time.After(stopTimeout):
		s.Kill()
		return fmt.Errorf("still running %v after SIGTERM; killed", stopTimeout)
	}
}

// Kill sends SIGKILL (a crash) and waits for the process to be gone.
func (s *server) Kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.exited
}

// dial opens a raw RESP connection, authenticated if the server has a
// password. It is closed when t ends.
func (s *server) dial(t testing.TB) *conn {
	t.Helper()
	c := dialRaw(t, s.Addr)
	if s.password != "" {
		if rep := c.do(t, "AUTH", s.password); rep.String() != "+OK" {
			t.Fatalf("%s: AUTH: %s", s.name, rep)
		}
	}
	return c
}

// conn is a raw RESP connection.
type conn struct {
	net.Conn
	r *bufio.Reader
}

// dialRaw opens a plain TCP connection to addr, closed when t ends.
func dialRaw(t testing.TB, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// send writes raw bytes.
func (c *conn) send(t testing.TB, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// read reads one reply.
func (c *conn) read(t testing.TB) reply {
	t.Helper()
	rep, err := c.tryRead()
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return rep
}

// tryRead reads one reply, returning the error instead of failing.
func (c *conn) tryRead() (reply, error) {
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	return readReply(c.r)
}

// do sends one command as a RESP array and reads its reply.
func (c *conn) do(t testing.TB, args ...string) reply {
	t.Helper()
	c.send(t, appendCommand(nil, args...))
	return c.read(t)
}

// expectClosed waits for the server to close the connection: EOF or a reset
// with no further reply bytes.
func (c *conn) expectClosed(t testing.TB) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := c.r.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.r.Peek(c.r.Buffered())
		t.Errorf("connection still open: read %q", append([]byte{b}, rest...))
	case isTimeout(err):
		t.Errorf("connection still open after %v", ioTimeout)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// withTimeout returns a context that ends after d or when t ends.
func withTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
