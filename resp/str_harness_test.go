package resp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/version"
)

// The string and key command tests are scripts of steps: a command and the
// exact RESP bytes redis-server 7.0.15 answers to it. Each script runs on a
// fresh in-memory server whose clock the script controls.
//
// With RINGSTORE_TEST_REDIS=host:port the same scripts also run against
// that redis-server (which is flushed!), so the recorded replies are checked
// against the real thing; steps marked local depend on ringstore's fake
// clock or on its slot order and are compared on ringstore only.

// testEpoch is the fake clock's start: 2030-01-01T00:00:00Z.
const testEpoch = 1893456000000

// kindOther stands for a Redis type ringstore does not have yet, to check
// WRONGTYPE answers. On redis-server the scripts create a hash instead.
const kindOther version.Kind = 200

// A step's cmd may start with markers: '~' compares the reply on ringstore
// only (it depends on the fake clock or on key order), '%' sorts the bulk
// strings of each array before comparing (KEYS and SCAN order differ).
type step struct {
	cmd  string // arguments split at spaces; "..." is a Go-quoted argument
	want string // the raw reply
}

// markers strips a step's markers.
func (st step) markers() (cmd string, local, sorted bool) {
	cmd = st.cmd
	for len(cmd) > 0 && (cmd[0] == '~' || cmd[0] == '%') {
		local = local || cmd[0] == '~'
		sorted = sorted || cmd[0] == '%'
		cmd = cmd[1:]
	}
	return cmd, local, sorted
}

// Directives, written as the cmd of a step with no reply:
//
//	@advance N   ringstore: the clock moves N ms; redis: sleep N ms
//	@db N        select db N for the following steps
//	@other KEY   make KEY hold a value of another type (a hash on redis)
//
// Arguments may use {now+N} (Unix ms) and {nows+N} (Unix s), N may be
// negative or absent, taken from the fake clock or from the real one.

type script struct {
	name  string
	steps []step
}

// harness is a Server over an in-memory store with a controllable clock.
type harness struct {
	t     testing.TB
	srv   *Server
	sess  *Session
	store *coordtest.MemStore
	now   time.Time
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, now: time.UnixMilli(testEpoch)}
	// Slot = length: predictable SCAN cursors ("a" in slot 1, "bb" in 2).
	h.store = coordtest.NewMemStore(func(k []byte) uint16 { return uint16(len(k) % 16384) })
	cfg := coordinator.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.Now = func() time.Time { return h.now }
	c, err := coordinator.New(cfg, h.store)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(DefaultConfig(), c)
	if err != nil {
		t.Fatal(err)
	}
	srv.recoverPanics = false // a panic must fail the test, not become a reply
	t.Cleanup(func() { srv.Close() })
	h.srv = srv
	h.sess = &Session{Authed: true}
	return h
}

// do runs one command through the server's dispatcher and returns the raw
// reply.
func (h *harness) do(args ...[]byte) string {
	var w Writer
	h.srv.execute(context.Background(), h.sess, &w, args)
	return string(w.Bytes())
}

// doStr is do with string arguments.
func (h *harness) doStr(args ...string) string {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return h.do(b...)
}

// plantOther makes key hold a value of a kind that is not a string.
func (h *harness) plantOther(key []byte) {
	err := h.srv.coord.Update(context.Background(), h.sess.DB, key, func(coordinator.Value, bool) (coordinator.Change, error) {
		return coordinator.Change{Op: coordinator.Put, Value: coordinator.Value{Kind: kindOther, Data: []byte("x")}}, nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// splitArgs splits a step's command at spaces; a token starting with '"'
// runs to its closing quote and is unquoted as a Go string.
func splitArgs(t testing.TB, line string) [][]byte {
	var args [][]byte
	for line = strings.TrimLeft(line, " "); line != ""; line = strings.TrimLeft(line, " ") {
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				t.Fatalf("bad quoting in %q: %v", line, err)
			}
			s, _ := strconv.Unquote(q)
			args = append(args, []byte(s))
			line = line[len(q):]
			continue
		}
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			i = len(line)
		}
		args = append(args, []byte(line[:i]))
		line = line[i:]
	}
	return args
}

// expandTimes replaces {now+N} and {nows+N} in a with times from nowMs.
func expandTimes(a []byte, nowMs int64) []byte {
	s := string(a)
	for {
		i := strings.Index(s, "{now")
		if i < 0 {
			return []byte(s)
		}
		j := strings.IndexByte(s[i:], '}') + i
		expr := s[i+4 : j]
		secs := strings.HasPrefix(expr, "s")
		expr = strings.TrimPrefix(expr, "s")
		var off int64
		if expr != "" {
			off, _ = strconv.ParseInt(expr, 10, 64)
		}
		v := nowMs + off
		if secs {
			v = nowMs/1000 + off
		}
		s = s[:i] + strconv.FormatInt(v, 10) + s[j+1:]
	}
}

// runScripts runs each script on a fresh harness and, when configured, on
// redis-server too.
func runScripts(t *testing.T, scripts []script) {
	t.Helper()
	rc := dialTestRedis(t)
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			for i, st := range sc.steps {
				cmd, _, sorted := st.markers()
				args := splitArgs(t, cmd)
				if runDirective(t, h, nil, args) {
					continue
				}
				for j := range args {
					args[j] = expandTimes(args[j], h.now.UnixMilli())
				}
				got := h.do(args...)
				checkOneReply(t, st.cmd, got)
				if norm(t, got, sorted) != norm(t, st.want, sorted) {
					t.Errorf("step %d %s:\n got  %q\n want %q", i, st.cmd, got, st.want)
				}
			}
			if rc != nil {
				rc.runScript(t, sc)
			}
		})
	}
}

// runDirective applies a directive step to h (ringstore) or rc (redis) and
// reports whether args was one.
func runDirective(t testing.TB, h *harness, rc *redisConn, args [][]byte) bool {
	if len(args) == 0 || len(args[0]) == 0 || args[0][0] != '@' {
		return false
	}
	switch string(args[0]) {
	case "@advance":
		ms, _ := strconv.Atoi(string(args[1]))
		if h != nil {
			h.now = h.now.Add(time.Duration(ms) * time.Millisecond)
		} else {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
	case "@db":
		db, _ := strconv.Atoi(string(args[1]))
		if h != nil {
			h.sess.DB = db
		} else {
			rc.mustDo(t, []byte("SELECT"), args[1])
		}
	case "@other":
		if h != nil {
			h.plantOther(args[1])
		} else {
			rc.mustDo(t, []byte("DEL"), args[1])
			rc.mustDo(t, []byte("HSET"), args[1], []byte("f"), []byte("x"))
		}
	default:
		t.Fatalf("unknown directive %s", args[0])
	}
	return true
}

// checkOneReply fails unless reply is exactly one well-formed RESP value.
func checkOneReply(t testing.TB, cmd, reply string) {
	t.Helper()
	r := bufio.NewReader(strings.NewReader(reply))
	if _, err := readReply(r); err != nil {
		t.Fatalf("%s: malformed reply %q: %v", cmd, reply, err)
	}
	if r.Buffered() != 0 {
		t.Fatalf("%s: more than one reply: %q", cmd, reply)
	}
}

// norm returns reply as is, or with the bulk strings of each array sorted.
func norm(t testing.TB, reply string, sorted bool) string {
	if !sorted {
		return reply
	}
	v, err := parseReply(bufio.NewReader(strings.NewReader(reply)))
	if err != nil {
		return reply
	}
	return string(v.sortedBytes())
}

// readReply reads one RESP2 value and returns its raw bytes.
func readReply(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad line %q", line)
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return line, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		if body[n] != '\r' || body[n+1] != '\n' {
			return nil, errors.New("bulk not terminated")
		}
		return append(line, body...), nil
	case '*':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad array length %q", line)
		}
		out := line
		for i := 0; i < n; i++ {
			el, err := readReply(r)
			if err != nil {
				return nil, err
			}
			out = append(out, el...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply type %q", line)
}

// reply is a parsed RESP value, for order-insensitive comparison.
type reply struct {
	raw   []byte   // a scalar's raw bytes
	elems []*reply // an array's elements (raw holds its header)
}

func parseReply(r *bufio.Reader) (*reply, error) {
	peek, err := r.Peek(1)
	if err != nil {
		return nil, err
	}
	if peek[0] != '*' {
		raw, err := readReply(r)
		return &reply{raw: raw}, err
	}
	line, _ := r.ReadBytes('\n')
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	v := &reply{raw: line}
	for i := 0; i < n; i++ {
		el, err := parseReply(r)
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, el)
	}
	return v, nil
}

func (v *reply) sortedBytes() []byte {
	if v.elems == nil {
		return v.raw
	}
	parts := make([][]byte, len(v.elems))
	for i, el := range v.elems {
		parts[i] = el.sortedBytes()
	}
	allBulk := true
	for _, p := range parts {
		allBulk = allBulk && p[0] == '$'
	}
	if allBulk {
		slices.SortFunc(parts, bytes.Compare)
	}
	return append(slices.Clone(v.raw), bytes.Join(parts, nil)...)
}

// redisConn is a raw RESP connection to a real redis-server.
type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialTestRedis connects to RINGSTORE_TEST_REDIS, or returns nil.
func dialTestRedis(t testing.TB) *redisConn {
	addr := os.Getenv("RINGSTORE_TEST_REDIS")
	if addr == "" {
		return nil
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("RINGSTORE_TEST_REDIS=%s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &redisConn{c: c, r: bufio.NewReader(c)}
}

func (rc *redisConn) do(t testing.TB, args ...[]byte) string {
	var b []byte
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n", len(a))
		b = append(append(b, a...), '\r', '\n')
	}
	rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.c.Write(b); err != nil {
		t.Fatal(err)
	}
	out, err := readReply(rc.r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func (rc *redisConn) mustDo(t testing.TB, args ...[]byte) {
	if got := rc.do(t, args...); strings.HasPrefix(got, "-") {
		t.Fatalf("redis %q: %s", args, got)
	}
}

// runScript runs sc on redis-server from an empty db 0 and compares every
// step not marked local.
func (rc *redisConn) runScript(t *testing.T, sc script) {
	rc.mustDo(t, []byte("FLUSHALL"))
	rc.mustDo(t, []byte("SELECT"), []byte("0"))
	for i, st := range sc.steps {
		cmd, local, sorted := st.markers()
		args := splitArgs(t, cmd)
		if local && strings.HasPrefix(cmd, "@") {
			continue // a ringstore-only directive, like ~@advance
		}
		if runDirective(t, nil, rc, args) {
			continue
		}
		for j := range args {
			args[j] = expandTimes(args[j], time.Now().UnixMilli())
		}
		got := rc.do(t, args...)
		if os.Getenv("RINGSTORE_TEST_RECORD") != "" {
			t.Logf("RECORD {%q, %q},", st.cmd, got)
		}
		if !local && norm(t, got, sorted) != norm(t, st.want, sorted) {
			t.Errorf("redis-server differs at step %d %s:\n redis %q\n want  %q", i, st.cmd, got, st.want)
		}
	}
}
