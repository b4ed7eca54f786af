package compat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// logCapture is a go-redis logger that keeps everything it is given.
type logCapture struct {
	mu  sync.Mutex // guards buf
	buf strings.Builder
}

func (l *logCapture) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.buf, format+"\n", v...)
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// stderrLogger is what go-redis logs to after a test that captured its logs.
type stderrLogger struct{ l *log.Logger }

func (s stderrLogger) Printf(_ context.Context, format string, v ...any) { s.l.Printf(format, v...) }

// captureGoRedisLogs routes go-redis's process-wide logger into a buffer for
// the rest of t.
func captureGoRedisLogs(t *testing.T) *logCapture {
	c := &logCapture{}
	redis.SetLogger(c)
	t.Cleanup(func() { redis.SetLogger(stderrLogger{log.New(os.Stderr, "redis: ", log.LstdFlags)}) })
	return c
}

// TestGoRedis drives ringstore with go-redis v9's default client, which
// sends HELLO 3 and CLIENT SETINFO on every new connection, and requires
// that it works without logging anything.
func TestGoRedis(t *testing.T) {
	s := startRingstore(t, serverOptions{})
	logs := captureGoRedisLogs(t)
	ctx := withTimeout(t, time.Minute)

	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer rdb.Close()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustEqual := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}

	must(rdb.Ping(ctx).Err())
	must(rdb.Set(ctx, "k", "v", 0).Err())
	v, err := rdb.Get(ctx, "k").Result()
	must(err)
	mustEqual("GET k", v, "v")
	if _, err := rdb.Get(ctx, "missing").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET missing: err = %v, want redis.Nil", err)
	}
	n, err := rdb.Incr(ctx, "counter").Result()
	must(err)
	mustEqual("INCR", n, 1)
	n, err = rdb.IncrBy(ctx, "counter", 41).Result()
	must(err)
	mustEqual("INCRBY", n, 42)
	f, err := rdb.IncrByFloat(ctx, "float", 2.5).Result()
	must(err)
	mustEqual("INCRBYFLOAT", f, 2.5)
	must(rdb.MSet(ctx, "a", "1", "b", "2").Err())
	vals, err := rdb.MGet(ctx, "a", "missing", "b").Result()
	must(err)
	mustEqual("MGET", vals, []any{"1", nil, "2"})
	ok, err := rdb.SetNX(ctx, "a", "x", 0).Result()
	must(err)
	mustEqual("SETNX existing", ok, false)
	prev, err := rdb.SetArgs(ctx, "a", "3", redis.SetArgs{Get: true, TTL: time.Minute}).Result()
	must(err)
	mustEqual("SET GET EX", prev, "1")
	ttl, err := rdb.TTL(ctx, "a").Result()
	must(err)
	if ttl <= 50*time.Second || ttl > time.Minute {
		t.Errorf("TTL a = %v, want about a minute", ttl)
	}
	must(rdb.Persist(ctx, "a").Err())
	ex, err := rdb.Exists(ctx, "a", "b", "missing").Result()
	must(err)
	mustEqual("EXISTS", ex, 2)
	del, err := rdb.Del(ctx, "a", "missing").Result()
	must(err)
	mustEqual("DEL", del, 1)
	l, err := rdb.Append(ctx, "b", "23").Result()
	must(err)
	mustEqual("APPEND", l, 3)
	r, err := rdb.GetRange(ctx, "b", -2, -1).Result()
	must(err)
	mustEqual("GETRANGE", r, "23")
	gd, err := rdb.GetDel(ctx, "b").Result()
	must(err)
	mustEqual("GETDEL", gd, "223")

	// A pipeline of 1000 SETs then 1000 GETs.
	pipe := rdb.Pipeline()
	for i := range 1000 {
		pipe.Set(ctx, fmt.Sprintf("p:%d", i), i, 0)
	}
	gets := make([]*redis.StringCmd, 1000)
	for i := range gets {
		gets[i] = pipe.Get(ctx, fmt.Sprintf("p:%d", i))
	}
	_, err = pipe.Exec(ctx)
	must(err)
	for i, g := range gets {
		if g.Val() != strconv.Itoa(i) {
			t.Fatalf("pipelined GET p:%d = %q", i, g.Val())
		}
	}

	// Concurrent INCRs over the connection pool are all counted.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			for range 100 {
				if err := rdb.Incr(ctx, "shared").Err(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total, err := rdb.Get(ctx, "shared").Int()
	must(err)
	mustEqual("concurrent INCR total", total, 2000)

	var scanned int
	iter := rdb.Scan(ctx, 0, "p:*", 100).Iterator()
	for iter.Next(ctx) {
		scanned++
	}
	must(iter.Err())
	mustEqual("SCAN p:* count", scanned, 1000)
	size, err := rdb.DBSize(ctx).Result()
	must(err)
	mustEqual("DBSIZE", size, 1000+4) // p:*, k, counter, float, shared

	// A client on db 3 (SELECT in the handshake) sees only its own keys.
	db3 := redis.NewClient(&redis.Options{Addr: s.Addr, DB: 3})
	defer db3.Close()
	must(db3.Set(ctx, "k", "three", 0).Err())
	v, err = db3.Get(ctx, "k").Result()
	must(err)
	mustEqual("db 3 GET k", v, "three")
	v, err = rdb.Get(ctx, "k").Result()
	must(err)
	mustEqual("db 0 GET k", v, "v")

	// A RESP2-only client (no HELLO) works too.
	resp2 := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2})
	defer resp2.Close()
	v, err = resp2.Get(ctx, "k").Result()
	must(err)
	mustEqual("RESP2 GET k", v, "v")

	if out := logs.String(); out != "" {
		t.Errorf("go-redis logged:\n%s", out)
	}
}

// TestGoRedisPassword checks go-redis's handshake with a password (HELLO 3
// AUTH, then the AUTH fallback) and its error on a wrong one.
func TestGoRedisPassword(t *testing.T) {
	const pw = "pa55"
	s := startRingstore(t, serverOptions{Password: pw})
	logs := captureGoRedisLogs(t)
	ctx := withTimeout(t, 30*time.Second)

	good := redis.NewClient(&redis.Options{Addr: s.Addr, Password: pw})
	defer good.Close()
	if err := good.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with the right password: %v", err)
	}
	bad := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "wrong", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("GET with a wrong password: err = %v, want WRONGPASS", err)
	}
	none := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer none.Close()
	if err := none.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("GET without a password: err = %v, want NOAUTH", err)
	}
	if out := logs.String(); out != "" {
		t.Logf("go-redis logged (failed handshakes are expected to log):\n%s", out)
	}
}

// runTool runs an external program with stdin and returns its stdout,
// failing t if it exits non-zero.
func runTool(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	ctx := withTimeout(t, 2*time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("%s %s: stderr:\n%s", name, strings.Join(args, " "), stderr.String())
	}
	return stdout.String()
}

// TestRedisCLI runs redis-cli one-shot commands and a piped script against
// ringstore and redis-server, compares their output, and checks a few
// outputs against literal expectations.
func TestRedisCLI(t *testing.T) {
	cli := requireTool(t, "redis-cli")
	rs := startRingstore(t, serverOptions{})
	redisSrv := startRedis(t, serverOptions{})

	oneShots := [][]string{
		{"PING"}, {"SET", "k", "v"}, {"GET", "k"}, {"GET", "missing"}, {"INCR", "n"}, {"INCRBY", "n", "9"},
		{"MSET", "a", "1", "b", "2"}, {"MGET", "a", "missing", "b"}, {"EXISTS", "a", "b", "c"},
		{"SET", "t", "v", "EX", "100"}, {"TTL", "t"}, {"TYPE", "k"}, {"APPEND", "k", " tail"}, {"GET", "k"},
		{"SET", "sp", "hello world"}, {"GET", "sp"}, {"INCRBYFLOAT", "f", "10.5"}, {"GET", "nope", "extra"},
		{"NOSUCHCOMMAND", "x"}, {"-n", "3", "SET", "k", "db3"}, {"-n", "3", "GET", "k"}, {"GET", "k"},
		{"-n", "3", "DBSIZE"}, {"DBSIZE"}, {"--no-raw", "GET", "k"}, {"--no-raw", "GET", "missing"},
		{"--no-raw", "INCR", "n"}, {"--no-raw", "MGET", "a", "missing"}, {"--no-raw", "GET", "a", "b"},
		{"DEL", "a", "b", "missing"}, {"SETRANGE", "pad", "3", "x"}, {"--no-raw", "GET", "pad"},
	}
	script := "SET s1 one\nINCR s2\nINCR s2\nGET s1\nMGET s1 s2 nope\nSELECT 2\nGET s1\nSET s1 two\nGET s1\nBOGUS\nSELECT 0\nGET s1\n"

	run := func(s *server) []string {
		runTool(t, nil, cli, "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "FLUSHALL")
		var outs []string
		for _, args := range oneShots {
			outs = append(outs, runTool(t, nil, cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)...))
		}
		outs = append(outs, runTool(t, []byte(script), cli, "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)))
		return outs
	}
	got, want := run(rs), run(redisSrv)
	for i := range got {
		what := "piped script"
		if i < len(oneShots) {
			what = "redis-cli " + strings.Join(oneShots[i], " ")
		}
		if got[i] != want[i] {
			t.Errorf("%s:\nringstore:    %q\nredis-server: %q", what, got[i], want[i])
		}
	}
	for i, want := range map[int]string{0: "PONG\n", 1: "OK\n", 2: "v\n", 3: "\n", 4: "1\n", 5: "10\n",
		7: "1\n\n2\n", 20: "db3\n", 26: "(integer) 11\n", 25: "(nil)\n"} {
		if got[i] != want {
			t.Errorf("redis-cli %s = %q, want %q", strings.Join(oneShots[i], " "), got[i], want)
		}
	}
	if want := "OK\n1\n2\none\none\n2\n\nOK\n\nOK\ntwo\n"; !strings.HasPrefix(got[len(got)-1], want) {
		t.Errorf("piped script output = %q, want it to start with %q", got[len(got)-1], want)
	}
}

// TestRedisCLIPipe mass-inserts 20000 keys with redis-cli --pipe and counts
// them with DBSIZE and redis-cli --scan.
func TestRedisCLIPipe(t *testing.T) {
	cli := requireTool(t, "redis-cli")
	s := startRingstore(t, serverOptions{})
	const n = 20000
	var in []byte
	for i := range n {
		in = appendCommand(in, "SET", "key:"+strconv.Itoa(i), "value:"+strconv.Itoa(i))
	}
	out := runTool(t, in, cli, "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "--pipe")
	if want := fmt.Sprintf("errors: 0, replies: %d", n); !strings.Contains(out, want) {
		t.Fatalf("redis-cli --pipe output lacks %q:\n%s", want, out)
	}
	c := s.dial(t)
	if got := c.do(t, "DBSIZE").String(); got != fmt.Sprintf(":%d", n) {
		t.Errorf("DBSIZE after --pipe = %s, want :%d", got, n)
	}
	if got := c.do(t, "GET", "key:12345").String(); got != `$"value:12345"` {
		t.Errorf("GET key:12345 = %s", got)
	}
	// key:1, key:10..19, key:100..199, key:1000..1999, key:10000..19999
	scanned := runTool(t, nil, cli, "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "--scan", "--pattern", "key:1*")
	if got := strings.Count(scanned, "\n"); got != 11111 {
		t.Errorf("redis-cli --scan --pattern key:1* listed %d keys, want 11111", got)
	}
}

// TestRedisCLIAuth checks redis-cli -a against a password-protected server.
func TestRedisCLIAuth(t *testing.T) {
	cli := requireTool(t, "redis-cli")
	const pw = "cli-secret"
	s := startRingstore(t, serverOptions{Password: pw})
	base := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}
	if out := runTool(t, nil, cli, append(base, "GET", "k")...); !strings.Contains(out, "NOAUTH") {
		t.Errorf("GET without -a = %q, want NOAUTH", out)
	}
	authed := append(base, "-a", pw, "--no-auth-warning")
	if out := runTool(t, nil, cli, append(authed, "SET", "k", "v")...); out != "OK\n" {
		t.Errorf("SET with -a = %q", out)
	}
	if out := runTool(t, nil, cli, append(authed, "GET", "k")...); out != "v\n" {
		t.Errorf("GET with -a = %q", out)
	}
}

// TestRedisBenchmark runs redis-benchmark (with and without pipelining) and
// requires a clean run: exit 0, every test reported, no error or warning.
func TestRedisBenchmark(t *testing.T) {
	bench := requireTool(t, "redis-benchmark")
	s := startRingstore(t, serverOptions{})
	for _, extra := range [][]string{nil, {"-P", "16"}} {
		args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-t", "set,get,incr,mset",
			"-n", "20000", "-q"}, extra...)
		out := runTool(t, nil, bench, args...)
		var results []string
		for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
			if strings.Contains(line, "requests per second") {
				results = append(results, line)
			}
			if l := strings.ToLower(line); strings.Contains(l, "err") || strings.Contains(l, "warning") ||
				strings.Contains(l, "could not") {
				t.Errorf("redis-benchmark %s: %q", strings.Join(extra, " "), line)
			}
		}
		for _, test := range []string{"SET:", "GET:", "INCR:", "MSET (10 keys):"} {
			found := false
			for _, r := range results {
				found = found || strings.HasPrefix(strings.TrimSpace(r), test)
			}
			if !found {
				t.Errorf("redis-benchmark %s: no %q result in output:\n%s", strings.Join(extra, " "), test, out)
			}
		}
		t.Logf("redis-benchmark %s:\n%s", strings.Join(extra, " "), strings.Join(results, "\n"))
		if err := s.Alive(); err != nil {
			t.Fatalf("after redis-benchmark: %v", err)
		}
	}
}

// TestIORedis runs testdata/ioredis.js (ioredis 6, installed by .ci/run into
// compat_test/node_modules) against ringstore.
func TestIORedis(t *testing.T) {
	node := requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("node_modules", "ioredis")); err != nil {
		missing(t, "ioredis is not installed (npm install --prefix compat_test)")
	}
	s := startRingstore(t, serverOptions{})
	out := runTool(t, nil, node, filepath.Join("testdata", "ioredis.js"), strconv.Itoa(s.Port))
	if !strings.Contains(out, "ioredis ok") {
		t.Errorf("ioredis.js output:\n%s", out)
	}
}
