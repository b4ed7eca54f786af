package resp

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/version"
)

// batchCountingStore is the engine, counting the SupersedeMany calls of
// more than one key (a lone SET makes one of one key) and the keys they
// carried.
type batchCountingStore struct {
	*engine.Store
	batches, keys atomic.Int64
}

func (s *batchCountingStore) SupersedeMany(db int, keys [][]byte, vers []version.Version, stamp func() version.HLC, recs [][]byte) error {
	if len(keys) > 1 {
		s.batches.Add(1)
		s.keys.Add(int64(len(keys)))
	}
	return s.Store.SupersedeMany(db, keys, vers, stamp, recs)
}

// startEngineServer serves a one-node server over a real engine store.
func startEngineServer(t *testing.T, mod func(*Config)) (*Server, *batchCountingStore, string) {
	t.Helper()
	st, err := engine.Open(engine.DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs := &batchCountingStore{Store: st}
	srv := newServerOn(t, bs, mod)
	addr := serveOn(t, srv)
	return srv, bs, addr
}

func respCmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// TestBlindSetRunIsOneBatch: on a node alone in its ring, a pipelined run
// of plain SETs is one engine batch whose replies and effects are those of
// the commands run one by one: a repeated key ends with its last value, a
// SET with options or any other command ends the run and runs in its
// place, and the commands are counted as commands.
func TestBlindSetRunIsOneBatch(t *testing.T) {
	_, bs, addr := startEngineServer(t, nil)
	rc := dialRaw(t, addr)

	var req strings.Builder
	var want []string
	add := func(reply string, args ...string) {
		req.WriteString(respCmd(args...))
		want = append(want, reply)
	}
	for i := range 16 {
		add("+OK\r\n", "set", fmt.Sprint("k", i%10), fmt.Sprint("v", i)) // k0..k5 twice
	}
	add("$3\r\nv10\r\n", "GET", "k0")
	add("+OK\r\n", "SET", "k0", "ex", "EX", "100") // options: runs alone
	add("+OK\r\n", "SeT", "k1", "run2-a")
	add("+OK\r\n", "SET", "k1", "run2-b")
	add("-ERR wrong number of arguments for 'set' command\r\n", "SET", "k2")
	add("$2\r\nex\r\n", "GET", "k0")
	add(":100\r\n", "TTL", "k0")
	add("$6\r\nrun2-b\r\n", "GET", "k1")
	for i := 2; i < 10; i++ {
		v := fmt.Sprint("v", i)
		if i < 6 {
			v = fmt.Sprint("v", i+10)
		}
		add(fmt.Sprintf("$%d\r\n%s\r\n", len(v), v), "GET", fmt.Sprint("k", i))
	}
	rc.send(req.String())
	checkReplies(t, rc, want)

	// Two batches of 16 and 2 keys when the server reads the pipeline at
	// once; a read split inside a run makes more, smaller ones.
	if b, k := bs.batches.Load(), bs.keys.Load(); b < 2 || b >= k || k > 18 {
		t.Fatalf("engine batches %d of %d keys, want 2 of 18 (16 + 2)", b, k)
	}
	// Each SET of a run counts as a command, as executed one by one.
	rc.send(respCmd("INFO", "stats"))
	info := rc.reply()
	if !strings.Contains(info, fmt.Sprintf("total_commands_processed:%d\r\n", len(want))) {
		t.Fatalf("INFO stats after %d commands:\n%s", len(want), info)
	}
	if !strings.Contains(info, "total_error_replies:1\r\n") {
		t.Fatalf("INFO stats after one error:\n%s", info)
	}
}

// TestBlindSetRunNeedsAuth: an unauthenticated connection's pipelined SETs
// each get NOAUTH and write nothing.
func TestBlindSetRunNeedsAuth(t *testing.T) {
	_, bs, addr := startEngineServer(t, func(c *Config) { c.RequirePass = "secret" })
	rc := dialRaw(t, addr)
	rc.send(respCmd("SET", "a", "1") + respCmd("SET", "b", "2") + respCmd("SET", "c", "3"))
	checkReplies(t, rc, []string{
		"-NOAUTH Authentication required.\r\n",
		"-NOAUTH Authentication required.\r\n",
		"-NOAUTH Authentication required.\r\n",
	})
	rc.send(respCmd("AUTH", "secret") + respCmd("SET", "a", "1") + respCmd("SET", "b", "2") + respCmd("MGET", "a", "b", "c"))
	checkReplies(t, rc, []string{"+OK\r\n", "+OK\r\n", "+OK\r\n", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"})
	if b := bs.batches.Load(); b != 1 {
		t.Fatalf("engine batches %d, want 1 (the authenticated run)", b)
	}
}

// TestMSetAloneIsAtomic: MSET on a node alone is one engine batch, and a
// repeated key ends with its last value.
func TestMSetAloneIsAtomic(t *testing.T) {
	_, bs, addr := startEngineServer(t, nil)
	rc := dialRaw(t, addr)
	rc.send(respCmd("MSET", "a", "1", "b", "2", "a", "3") + respCmd("MGET", "a", "b"))
	checkReplies(t, rc, []string{"+OK\r\n", "*2\r\n$1\r\n3\r\n$1\r\n2\r\n"})
	if b := bs.batches.Load(); b != 1 {
		t.Fatalf("MSET made %d engine batches, want 1", b)
	}
}
