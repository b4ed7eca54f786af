package compat_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// deleted stands for "no value" (never written, or deleted) in the crash
// test's model; written values never look like it.
const deleted = "(nil)"

// crashOp is one write the crash test sent, kept for failure messages.
type crashOp struct {
	at    time.Duration // since the writers started
	node  int
	value string // deleted for a DEL
	err   error  // nil when acknowledged
}

func (o crashOp) String() string {
	verb := "SET " + o.value
	if o.value == deleted {
		verb = "DEL"
	}
	outcome := "acknowledged"
	if o.err != nil {
		outcome = "failed: " + o.err.Error()
	}
	return fmt.Sprintf("%7.3fs node %d %s %s", o.at.Seconds(), o.node, verb, outcome)
}

// crashKey is the model of one key: what a read may return.
type crashKey struct {
	name    string
	acked   string   // the last acknowledged value, or deleted
	pending []string // values of failed writes after it: they may or may not have happened
	ops     []crashOp
}

// allowed reports whether a read may return v.
func (k *crashKey) allowed(v string) bool {
	return v == k.acked || slices.Contains(k.pending, v)
}

// allowedString lists the values a read may return, for messages.
func (k *crashKey) allowedString() string {
	return strings.Join(append([]string{k.acked}, k.pending...), " | ")
}

// crashCounts are the writer loop's counters.
type crashCounts struct {
	acked, refused, unknown atomic.Int64 // writes: acknowledged, error reply, no reply (timeout, connection)
	reads, staleReads       atomic.Int64 // reads of a key's own writes during the faults
	badDelReplies           atomic.Int64 // DEL of a key last acknowledged as SET that answered 0

	mu     sync.Mutex          // guards errors
	errors map[string]*errStat // failed writes by error text (digits elided)
}

// errStat says when and through which nodes writes failed with one error.
type errStat struct {
	n           int
	first, last time.Duration
	nodes       map[int]int
}

// failed counts a failed write.
func (c *crashCounts) failed(op crashOp) {
	if errors.As(op.err, new(redis.Error)) {
		c.refused.Add(1)
	} else {
		c.unknown.Add(1)
	}
	text := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, op.err.Error())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errors == nil {
		c.errors = map[string]*errStat{}
	}
	st := c.errors[text]
	if st == nil {
		st = &errStat{first: op.at, nodes: map[int]int{}}
		c.errors[text] = st
	}
	st.n++
	st.last = op.at
	st.nodes[op.node]++
}

// errorSummary lists the failed writes by error text, most frequent first.
func (c *crashCounts) errorSummary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var texts []string
	for text := range c.errors {
		texts = append(texts, text)
	}
	slices.SortFunc(texts, func(a, b string) int { return c.errors[b].n - c.errors[a].n })
	var b strings.Builder
	for _, text := range texts {
		st := c.errors[text]
		fmt.Fprintf(&b, "    %6d  %-45s  %6.2fs..%6.2fs  through nodes %v\n", st.n, text, st.first.Seconds(), st.last.Seconds(), st.nodes)
	}
	return b.String()
}

// TestClusterCrash runs a writer loop against a 3-node ring with --fsync
// always while one node at a time is killed with SIGKILL and restarted, or
// paused with SIGSTOP and resumed. Afterwards every key must read back,
// through every node, its last acknowledged value (or a value whose write
// failed after it), and keys whose DEL was acknowledged must stay deleted.
//
// Each writer goroutine owns its keys. A key gets a few SETs and, for some
// keys, a DEL at the end; after a failed write the key is retired, because a
// timed-out request may still be executed later (a paused node reads it from
// its socket when resumed) and could then land after a newer write, which is
// not a lost write. RINGSTORE_CRASH_SEED replays a fault schedule.
func TestClusterCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RINGSTORE_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("RINGSTORE_CRASH_SEED: %v", err)
		}
	}
	t.Logf("fault schedule seed %d (RINGSTORE_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	c := startCluster(t, 3, clusterOptions{Fsync: "always"})
	opts := &redis.Options{MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, PoolSize: 8}
	var rdbs []*redis.Client
	for i := range c.Nodes {
		rdbs = append(rdbs, c.ClientWith(i, opts))
	}

	const writers = 6
	var counts crashCounts
	start := time.Now()
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	models := make([][]*crashKey, writers)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			models[g] = crashWriter(ctx, c, rdbs, g, rand.New(rand.NewPCG(seed, uint64(g)+1)), start, &counts)
		})
	}

	// The fault schedule: a warm-up, then four events, each on one node,
	// alternating crash-and-restart with pause-and-resume.
	time.Sleep(3 * time.Second)
	for e := range 4 {
		i := rng.IntN(len(c.Nodes))
		if e%2 == 0 {
			t.Logf("%5.1fs: SIGKILL node %d", time.Since(start).Seconds(), i)
			c.Kill(i)
			time.Sleep(4 * time.Second)
			t.Logf("%5.1fs: restart node %d", time.Since(start).Seconds(), i)
			c.Restart(i)
			t.Logf("%5.1fs: node %d answers PING", time.Since(start).Seconds(), i)
		} else {
			t.Logf("%5.1fs: SIGSTOP node %d", time.Since(start).Seconds(), i)
			c.Stop(i)
			time.Sleep(2 * time.Second)
			t.Logf("%5.1fs: SIGCONT node %d", time.Since(start).Seconds(), i)
			c.Cont(i)
		}
		time.Sleep(5 * time.Second)
	}
	stopWriters()
	wg.Wait()
	t.Logf("%5.1fs: writers stopped", time.Since(start).Seconds())

	settle, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	if err := c.WaitConverged(settle); err != nil {
		t.Fatalf("cluster did not settle after the faults: %v", err)
	}
	t.Logf("%5.1fs: cluster settled", time.Since(start).Seconds())

	var keys []*crashKey
	for _, m := range models {
		keys = append(keys, m...)
	}
	lost, readErrs := checkCrashKeys(t, rdbs, keys)
	t.Logf("%5.1fs: checked %d keys through %d nodes", time.Since(start).Seconds(), len(keys), len(rdbs))
	t.Logf("writes acknowledged %d, refused (error reply) %d, unknown outcome (timeout, connection) %d; "+
		"keys %d; reads during faults %d, stale %d; values lost %d (must be 0); read errors after settling %d",
		counts.acked.Load(), counts.refused.Load(), counts.unknown.Load(), len(keys),
		counts.reads.Load(), counts.staleReads.Load(), lost, readErrs)
	if s := counts.errorSummary(); s != "" {
		t.Logf("failed writes by error:\n%s", s)
	}
	if lost > 0 {
		t.Errorf("%d values lost", lost)
	}
	if readErrs > 0 {
		t.Errorf("%d reads failed after the cluster settled", readErrs)
	}
	if n := counts.staleReads.Load(); n > 0 {
		t.Errorf("%d reads during the faults returned a value other than the last acknowledged one (R+W > N)", n)
	}
	if n := counts.badDelReplies.Load(); n > 0 {
		t.Errorf("%d DELs of keys whose last acknowledged write was a SET answered 0", n)
	}
	if counts.acked.Load() == 0 {
		t.Errorf("no write was acknowledged")
	}
}

// crashWriter writes keys of its own until ctx ends and returns its model
// of every key it touched. It sends each write to the next node that is up,
// and after every fifth acknowledged write reads the key back through
// another node that is up.
func crashWriter(ctx context.Context, c *cluster, rdbs []*redis.Client, g int, rng *rand.Rand, start time.Time, counts *crashCounts) []*crashKey {
	var keys []*crashKey
	acks := 0
	next := g
	pick := func(not int) int {
		for range 2 * len(rdbs) {
			next = (next + 1) % len(rdbs)
			if next != not && c.Up(next) {
				return next
			}
		}
		return next
	}
	for n := 0; ctx.Err() == nil; n++ {
		k := &crashKey{name: fmt.Sprintf("crash:%d:%d", g, n), acked: deleted}
		keys = append(keys, k)
		sets := 1 + rng.IntN(6)
		del := rng.IntN(3) == 0
		for s := 0; s < sets || del; s++ {
			if ctx.Err() != nil {
				return keys
			}
			value := fmt.Sprintf("g%d:k%d:v%d", g, n, s)
			if s == sets {
				value, del = deleted, false
			}
			node := pick(-1)
			op := crashOp{at: time.Since(start), node: node, value: value}
			// The request outlives ctx so that the last writes finish
			// instead of being cut off with an unknown outcome.
			rctx := context.WithoutCancel(ctx)
			var delN int64
			if value == deleted {
				delN, op.err = rdbs[node].Del(rctx, k.name).Result()
			} else {
				op.err = rdbs[node].Set(rctx, k.name, value, 0).Err()
			}
			k.ops = append(k.ops, op)
			if op.err != nil {
				counts.failed(op)
				k.pending = append(k.pending, value)
				break // retire the key: see TestClusterCrash
			}
			counts.acked.Add(1)
			if value == deleted && k.acked != deleted && delN != 1 {
				counts.badDelReplies.Add(1)
				c.t.Logf("%s: DEL answered %d after an acknowledged SET; history:\n%s", k.name, delN, k.history())
			}
			k.acked = value
			if acks++; acks%5 == 0 {
				r := pick(node)
				got, err := rdbs[r].Get(rctx, k.name).Result()
				if err == redis.Nil {
					got, err = deleted, nil
				}
				if err == nil {
					counts.reads.Add(1)
					if !k.allowed(got) {
						counts.staleReads.Add(1)
						c.t.Logf("%.3fs: node %d: GET %s = %q right after the write, want %s; history:\n%s",
							time.Since(start).Seconds(), r, k.name, got, k.allowedString(), k.history())
					}
				}
			}
		}
	}
	return keys
}

// history renders the key's writes, one a line.
func (k *crashKey) history() string {
	var b strings.Builder
	for _, op := range k.ops {
		fmt.Fprintf(&b, "    %s\n", op)
	}
	return b.String()
}

// checkCrashKeys reads every key through every node (pipelined GETs) and
// returns how many (key, node) reads gave a value outside the key's allowed
// set, and how many reads failed. It logs the first few of each.
func checkCrashKeys(t *testing.T, rdbs []*redis.Client, keys []*crashKey) (lost, readErrs int) {
	ctx := withTimeout(t, time.Minute)
	const batch = 500
	for node, rdb := range rdbs {
		for lo := 0; lo < len(keys); lo += batch {
			part := keys[lo:min(lo+batch, len(keys))]
			pipe := rdb.Pipeline()
			cmds := make([]*redis.StringCmd, len(part))
			for i, k := range part {
				cmds[i] = pipe.Get(ctx, k.name)
			}
			pipe.Exec(ctx) // errors are per command
			for i, k := range part {
				got, err := cmds[i].Result()
				if err == redis.Nil {
					got, err = deleted, nil
				}
				switch {
				case err != nil:
					if readErrs++; readErrs <= 5 {
						t.Errorf("node %d: GET %s: %v", node, k.name, err)
					}
				case !k.allowed(got):
					if lost++; lost <= 20 {
						t.Errorf("node %d: GET %s = %q, want %s; history:\n%s%s", node, k.name, got, k.allowedString(), k.history(),
							versions(ctx, rdbs, k.name))
					}
				}
			}
		}
	}
	return lost, readErrs
}

// versions shows what GETCTX returns for key through every node, for
// failure messages: the siblings a lost value may hide among.
func versions(ctx context.Context, rdbs []*redis.Client, key string) string {
	var b strings.Builder
	for i, rdb := range rdbs {
		rep, err := rdb.Do(ctx, "GETCTX", key).Result()
		fmt.Fprintf(&b, "    node %d: GETCTX = %v, %v\n", i, rep, err)
	}
	return b.String()
}
