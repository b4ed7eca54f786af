package compat_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestClusterBasic runs three ringstore processes as one ring (N=3, R=W=2)
// and checks, through go-redis with default options and through redis-cli,
// that what is written through one node is read through the others.
func TestClusterBasic(t *testing.T) {
	c := startCluster(t, 3, clusterOptions{Secret: "compat test secret"})
	t.Run("GoRedisStrings", func(t *testing.T) { testClusterStrings(t, c) })
	t.Run("GoRedisMultiKey", func(t *testing.T) { testClusterMultiKey(t, c) })
	t.Run("GoRedisExpire", func(t *testing.T) { testClusterExpire(t, c) })
	t.Run("RedisCLI", func(t *testing.T) { testClusterRedisCLI(t, c) })
	t.Run("Context", func(t *testing.T) { testClusterContext(t, c) })
	t.Run("ConcurrentIncr", func(t *testing.T) { testClusterConcurrentIncr(t, c) })
}

// clusterClients returns one default go-redis client per node, and fails t
// at its end if go-redis logged anything (a reply shape it did not expect).
func clusterClients(t *testing.T, c *cluster) []*redis.Client {
	logs := captureGoRedisLogs(t)
	t.Cleanup(func() {
		if s := logs.String(); s != "" {
			t.Errorf("go-redis logged:\n%s", s)
		}
	})
	var rdbs []*redis.Client
	for i := range c.Nodes {
		rdbs = append(rdbs, c.Client(i))
	}
	return rdbs
}

// testClusterStrings writes 200 keys round-robin through the nodes, reads
// each through every node, deletes some through another node, and runs INCR
// on one counter through every node in turn.
func testClusterStrings(t *testing.T, c *cluster) {
	ctx := withTimeout(t, time.Minute)
	rdbs := clusterClients(t, c)
	const keys = 200
	key := func(i int) string { return "str:" + strconv.Itoa(i) }
	val := func(i int) string { return fmt.Sprintf("value %d written through node %d", i, i%len(rdbs)) }

	for i := range keys {
		if err := rdbs[i%len(rdbs)].Set(ctx, key(i), val(i), 0).Err(); err != nil {
			t.Fatalf("node %d: SET %s: %v", i%len(rdbs), key(i), err)
		}
	}
	wrong := 0
	for j, rdb := range rdbs {
		for i := range keys {
			got, err := rdb.Get(ctx, key(i)).Result()
			if err != nil || got != val(i) {
				if wrong++; wrong <= 10 {
					t.Errorf("node %d: GET %s = %q, %v; want %q", j, key(i), got, err, val(i))
				}
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d reads wrong", wrong, keys*len(rdbs))
	}

	// Delete every fourth key through the node after the one that wrote it.
	for i := 0; i < keys; i += 4 {
		n, err := rdbs[(i+1)%len(rdbs)].Del(ctx, key(i)).Result()
		if err != nil || n != 1 {
			t.Errorf("node %d: DEL %s = %d, %v; want 1", (i+1)%len(rdbs), key(i), n, err)
		}
	}
	for j, rdb := range rdbs {
		for i := range keys {
			got, err := rdb.Get(ctx, key(i)).Result()
			switch {
			case i%4 == 0 && err != redis.Nil:
				t.Errorf("node %d: GET %s after DEL = %q, %v; want nil", j, key(i), got, err)
			case i%4 != 0 && (err != nil || got != val(i)):
				t.Errorf("node %d: GET %s = %q, %v; want %q", j, key(i), got, err, val(i))
			}
		}
		if n, err := rdb.Exists(ctx, key(0), key(1), key(2), key(4), key(5)).Result(); err != nil || n != 3 {
			t.Errorf("node %d: EXISTS of 3 live and 2 deleted keys = %d, %v; want 3", j, n, err)
		}
	}
	// DEL of several keys in different slots counts what existed.
	if n, err := rdbs[2].Del(ctx, key(1), key(2), key(4), "str:missing").Result(); err != nil || n != 2 {
		t.Errorf("node 2: DEL of 2 live, 1 deleted and 1 missing key = %d, %v; want 2", n, err)
	}

	// INCR through each node in turn: every reply counts on from the last.
	for i := range 30 {
		j := i % len(rdbs)
		n, err := rdbs[j].Incr(ctx, "str:counter").Result()
		if err != nil || n != int64(i+1) {
			t.Fatalf("node %d: INCR str:counter #%d = %d, %v; want %d", j, i+1, n, err, i+1)
		}
	}
	if n, err := rdbs[1].IncrBy(ctx, "str:counter", 70).Result(); err != nil || n != 100 {
		t.Errorf("node 1: INCRBY str:counter 70 = %d, %v; want 100", n, err)
	}
	if n, err := rdbs[2].Decr(ctx, "str:counter").Result(); err != nil || n != 99 {
		t.Errorf("node 2: DECR str:counter = %d, %v; want 99", n, err)
	}
	for j, rdb := range rdbs {
		if got, err := rdb.Get(ctx, "str:counter").Result(); err != nil || got != "99" {
			t.Errorf("node %d: GET str:counter = %q, %v; want 99", j, got, err)
		}
	}
	// APPEND, a read-modify-write, through alternating nodes.
	for i := range 6 {
		if _, err := rdbs[i%len(rdbs)].Append(ctx, "str:append", strconv.Itoa(i)).Result(); err != nil {
			t.Fatalf("node %d: APPEND: %v", i%len(rdbs), err)
		}
	}
	for j, rdb := range rdbs {
		if got, err := rdb.Get(ctx, "str:append").Result(); err != nil || got != "012345" {
			t.Errorf("node %d: GET str:append = %q, %v; want 012345", j, got, err)
		}
	}
	// DBSIZE, KEYS and SCAN may cover only part of the key space in a ring;
	// their semantics are still being settled, so they are only logged.
	for j, rdb := range rdbs {
		n, err := rdb.DBSize(ctx).Result()
		t.Logf("node %d: DBSIZE = %d, %v (not checked)", j, n, err)
	}
}

// testClusterMultiKey runs MSET of keys in many slots through each node in
// turn and MGET through every node, then DEL of them all through one node.
func testClusterMultiKey(t *testing.T, c *cluster) {
	ctx := withTimeout(t, time.Minute)
	rdbs := clusterClients(t, c)
	const keys = 50
	var names []string
	for i := range keys {
		names = append(names, "multi:"+strconv.Itoa(i))
	}
	val := func(i, round int) string { return fmt.Sprintf("m%d.%d", i, round) }
	for j := range rdbs {
		var pairs []any
		for i := range keys {
			pairs = append(pairs, names[i], val(i, j))
		}
		if err := rdbs[j].MSet(ctx, pairs...).Err(); err != nil {
			t.Fatalf("node %d: MSET of %d keys: %v", j, keys, err)
		}
		for k := range rdbs {
			got, err := rdbs[k].MGet(ctx, append(slices.Clone(names), "multi:missing")...).Result()
			if err != nil {
				t.Fatalf("node %d: MGET after MSET through node %d: %v", k, j, err)
			}
			if len(got) != keys+1 {
				t.Fatalf("node %d: MGET of %d keys gave %d values", k, keys+1, len(got))
			}
			for i := range keys {
				if got[i] != val(i, j) {
					t.Errorf("node %d: MGET[%d] (%s) = %v after MSET through node %d; want %s", k, i, names[i], got[i], j, val(i, j))
				}
			}
			if got[keys] != nil {
				t.Errorf("node %d: MGET of a missing key = %v, want nil", k, got[keys])
			}
		}
	}
	if n, err := rdbs[1].Del(ctx, names...).Result(); err != nil || n != keys {
		t.Fatalf("node 1: DEL of %d keys = %d, %v; want %d", keys, n, err, keys)
	}
	for k := range rdbs {
		if n, err := rdbs[k].Exists(ctx, names...).Result(); err != nil || n != 0 {
			t.Errorf("node %d: EXISTS of %d deleted keys = %d, %v; want 0", k, keys, n, err)
		}
	}
}

// testClusterExpire sets TTLs through one node and reads them through the
// others, and waits for a short expiry to be seen by every node.
func testClusterExpire(t *testing.T, c *cluster) {
	ctx := withTimeout(t, time.Minute)
	rdbs := clusterClients(t, c)
	if err := rdbs[0].Set(ctx, "exp:a", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := rdbs[1].Expire(ctx, "exp:a", 100*time.Second).Result(); err != nil || !ok {
		t.Fatalf("node 1: EXPIRE exp:a 100 = %v, %v", ok, err)
	}
	for j, rdb := range rdbs {
		if d, err := rdb.TTL(ctx, "exp:a").Result(); err != nil || d < 90*time.Second || d > 100*time.Second {
			t.Errorf("node %d: TTL exp:a = %v, %v; want about 100s", j, d, err)
		}
	}
	if ok, err := rdbs[2].Persist(ctx, "exp:a").Result(); err != nil || !ok {
		t.Errorf("node 2: PERSIST exp:a = %v, %v", ok, err)
	}
	for j, rdb := range rdbs {
		if d, err := rdb.TTL(ctx, "exp:a").Result(); err != nil || d != -1 {
			t.Errorf("node %d: TTL exp:a after PERSIST = %v, %v; want -1", j, d, err)
		}
	}
	if err := rdbs[2].Set(ctx, "exp:b", "v", 50*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	for j, rdb := range rdbs {
		if d, err := rdb.TTL(ctx, "exp:b").Result(); err != nil || d < 40*time.Second || d > 50*time.Second {
			t.Errorf("node %d: TTL exp:b = %v, %v; want about 50s", j, d, err)
		}
		if d, err := rdb.TTL(ctx, "exp:missing").Result(); err != nil || d != -2 {
			t.Errorf("node %d: TTL of a missing key = %v, %v; want -2", j, d, err)
		}
	}

	// A short expiry set through node 0 takes effect on every node.
	if err := rdbs[0].Set(ctx, "exp:short", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := rdbs[0].PExpire(ctx, "exp:short", 300*time.Millisecond).Result(); err != nil || !ok {
		t.Fatalf("node 0: PEXPIRE exp:short 300 = %v, %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for j, rdb := range rdbs {
		for {
			_, err := rdb.Get(ctx, "exp:short").Result()
			if err == redis.Nil {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Errorf("node %d: GET exp:short 5s after PEXPIRE 300: %v; want nil", j, err)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// testClusterRedisCLI writes a key through each node with redis-cli and reads
// it through every node, one-shot and piped.
func testClusterRedisCLI(t *testing.T, c *cluster) {
	cli := requireTool(t, "redis-cli")
	run := func(i int, stdin string, args ...string) string {
		t.Helper()
		argv := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(c.Nodes[i].Port)}, args...)
		var in []byte
		if stdin != "" {
			in = []byte(stdin)
		}
		return runTool(t, in, cli, argv...)
	}
	for i := range c.Nodes {
		key, val := "cli:"+strconv.Itoa(i), "through node "+strconv.Itoa(i)
		if got := run(i, "", "SET", key, val); got != "OK\n" {
			t.Errorf("node %d: redis-cli SET = %q", i, got)
		}
		for j := range c.Nodes {
			if got := run(j, "", "GET", key); got != val+"\n" {
				t.Errorf("node %d: redis-cli GET %s = %q, want %q", j, key, got, val+"\n")
			}
			// -c follows redirections; a ring node serves every key itself.
			if got := run(j, "", "-c", "GET", key); got != val+"\n" {
				t.Errorf("node %d: redis-cli -c GET %s = %q, want %q", j, key, got, val+"\n")
			}
		}
	}
	script := "SET cli:s one\nINCR cli:n\nINCR cli:n\nMSET cli:x 1 cli:y 2\n"
	if got, want := run(1, script), "OK\n1\n2\nOK\n"; got != want {
		t.Errorf("node 1: piped script = %q, want %q", got, want)
	}
	for j := range c.Nodes {
		if got, want := run(j, "", "MGET", "cli:s", "cli:n", "cli:x", "cli:y", "cli:0", "cli:nope"),
			"one\n2\n1\n2\nthrough node 0\n\n"; got != want {
			t.Errorf("node %d: redis-cli MGET = %q, want %q", j, got, want)
		}
		if got, want := run(j, "", "--no-raw", "GET", "cli:nope"), "(nil)\n"; got != want {
			t.Errorf("node %d: redis-cli GET of a missing key = %q, want %q", j, got, want)
		}
	}
	if got := run(2, "", "DEL", "cli:0", "cli:s"); got != "2\n" {
		t.Errorf("node 2: redis-cli DEL cli:0 cli:s = %q, want 2", got)
	}
	for j := range c.Nodes {
		if got := run(j, "", "EXISTS", "cli:0", "cli:s", "cli:1"); got != "1\n" {
			t.Errorf("node %d: redis-cli EXISTS after DEL = %q, want 1", j, got)
		}
	}
}

// getCtx runs GETCTX through rdb and returns the context ("" for nil) and
// the values, sorted.
func getCtx(ctx context.Context, t *testing.T, rdb *redis.Client, node int, key string) (string, []string) {
	t.Helper()
	rep, err := rdb.Do(ctx, "GETCTX", key).Slice()
	if err != nil {
		t.Fatalf("node %d: GETCTX %s: %v", node, key, err)
	}
	if len(rep) != 2 {
		t.Fatalf("node %d: GETCTX %s = %#v, want [context, [values]]", node, key, rep)
	}
	var tok string
	switch v := rep[0].(type) {
	case nil:
	case string:
		tok = v
		if tok == "" {
			t.Errorf("node %d: GETCTX %s: empty context (want nil or a token)", node, key)
		}
	default:
		t.Fatalf("node %d: GETCTX %s: context %#v is not a bulk string", node, key, rep[0])
	}
	list, ok := rep[1].([]any)
	if !ok {
		t.Fatalf("node %d: GETCTX %s: values %#v are not an array", node, key, rep[1])
	}
	vals := []string{}
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("node %d: GETCTX %s: value %#v is not a bulk string", node, key, v)
		}
		vals = append(vals, s)
	}
	slices.Sort(vals)
	return tok, vals
}

// testClusterContext runs GETCTX, SETCTX and DELCTX through different nodes:
// a context read through one node supersedes the value through another;
// two writes with the same context through different nodes become siblings
// that GETCTX shows on every node and that one SETCTX resolves.
func testClusterContext(t *testing.T, c *cluster) {
	ctx := withTimeout(t, time.Minute)
	rdbs := clusterClients(t, c)
	const key = "ctx:k"
	eq := func(a, b []string) bool { return slices.Equal(a, b) }

	if tok, vals := getCtx(ctx, t, rdbs[0], 0, key); tok != "" || len(vals) != 0 {
		t.Fatalf("node 0: GETCTX of a missing key = [%q, %q], want [nil, []]", tok, vals)
	}
	if err := rdbs[0].Set(ctx, key, "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tok1, vals := getCtx(ctx, t, rdbs[1], 1, key)
	if tok1 == "" || !eq(vals, []string{"a"}) {
		t.Fatalf("node 1: GETCTX after SET through node 0 = [%q, %q], want [token, [a]]", tok1, vals)
	}
	if got, err := rdbs[2].Do(ctx, "SETCTX", key, tok1, "b").Text(); err != nil || got != "OK" {
		t.Fatalf("node 2: SETCTX %s <ctx> b = %q, %v", key, got, err)
	}
	tok2, vals := getCtx(ctx, t, rdbs[0], 0, key)
	if tok2 == "" || tok2 == tok1 || !eq(vals, []string{"b"}) {
		t.Fatalf("node 0: GETCTX after SETCTX through node 2 = [%q, %q], want [new token, [b]] (old token %q)", tok2, vals, tok1)
	}
	for j, rdb := range rdbs {
		if got, err := rdb.Get(ctx, key).Result(); err != nil || got != "b" {
			t.Errorf("node %d: GET %s = %q, %v; want b", j, key, got, err)
		}
	}

	// Two writes that both saw only tok2 are concurrent: both survive.
	if got, err := rdbs[1].Do(ctx, "SETCTX", key, tok2, "c1").Text(); err != nil || got != "OK" {
		t.Fatalf("node 1: SETCTX %s <ctx> c1 = %q, %v", key, got, err)
	}
	if got, err := rdbs[2].Do(ctx, "SETCTX", key, tok2, "c2").Text(); err != nil || got != "OK" {
		t.Fatalf("node 2: SETCTX %s <ctx> c2 = %q, %v", key, got, err)
	}
	var tok3 string
	var plain []string
	for j, rdb := range rdbs {
		tok, vals := getCtx(ctx, t, rdb, j, key)
		if !eq(vals, []string{"c1", "c2"}) {
			t.Errorf("node %d: GETCTX after two SETCTX with the same context through nodes 1 and 2 = %q, want siblings [c1 c2]", j, vals)
		}
		if j == 0 {
			tok3 = tok
		}
		got, err := rdb.Get(ctx, key).Result()
		if err != nil || (got != "c1" && got != "c2") {
			t.Errorf("node %d: GET %s with siblings = %q, %v; want c1 or c2", j, key, got, err)
		}
		plain = append(plain, got)
	}
	if plain[0] != plain[1] || plain[1] != plain[2] {
		t.Errorf("GET with siblings through nodes 0, 1, 2 = %q: the last writer should be the same everywhere", plain)
	}

	// One SETCTX with the merged context resolves the siblings.
	if got, err := rdbs[0].Do(ctx, "SETCTX", key, tok3, "d").Text(); err != nil || got != "OK" {
		t.Fatalf("node 0: SETCTX %s <merged ctx> d = %q, %v", key, got, err)
	}
	var tok4 string
	for j, rdb := range rdbs {
		tok, vals := getCtx(ctx, t, rdb, j, key)
		if !eq(vals, []string{"d"}) {
			t.Errorf("node %d: GETCTX after resolving SETCTX = %q, want [d]", j, vals)
		}
		if j == 1 {
			tok4 = tok
		}
	}

	// DELCTX with the current context through another node deletes it.
	if n, err := rdbs[2].Do(ctx, "DELCTX", key, tok4).Int(); err != nil || n != 1 {
		t.Fatalf("node 2: DELCTX %s <ctx> = %d, %v; want 1", key, n, err)
	}
	for j, rdb := range rdbs {
		if got, err := rdb.Get(ctx, key).Result(); err != redis.Nil {
			t.Errorf("node %d: GET %s after DELCTX = %q, %v; want nil", j, key, got, err)
		}
		if _, vals := getCtx(ctx, t, rdb, j, key); len(vals) != 0 {
			t.Errorf("node %d: GETCTX %s after DELCTX = %q, want no values", j, key, vals)
		}
	}

	// SETCTX with expiry, and a malformed context.
	if got, err := rdbs[1].Do(ctx, "SETCTX", "ctx:ttl", "", "v", "EX", "100").Text(); err != nil || got != "OK" {
		t.Errorf("node 1: SETCTX ctx:ttl \"\" v EX 100 = %q, %v", got, err)
	}
	if d, err := rdbs[0].TTL(ctx, "ctx:ttl").Result(); err != nil || d < 90*time.Second || d > 100*time.Second {
		t.Errorf("node 0: TTL after SETCTX EX 100 through node 1 = %v, %v", d, err)
	}
	for _, cmd := range [][]any{{"SETCTX", key, "not a context!", "v"}, {"DELCTX", key, "%%%"}} {
		if err := rdbs[0].Do(ctx, cmd...).Err(); err == nil || err == redis.Nil {
			t.Errorf("node 0: %v = %v, want an error for a malformed context", cmd, err)
		}
	}
}

// testClusterConcurrentIncr increments one key from three goroutines, one
// per node: read-modify-write must run at the key's primary under a lock, so
// the replies are exactly 1..600 and the final value is 600 everywhere.
func testClusterConcurrentIncr(t *testing.T, c *cluster) {
	ctx := withTimeout(t, time.Minute)
	rdbs := clusterClients(t, c)
	const per = 200
	const key = "incr:shared"
	replies := make([][]int64, len(rdbs))
	errs := make([]error, len(rdbs))
	var wg sync.WaitGroup
	for g, rdb := range rdbs {
		wg.Go(func() {
			for range per {
				n, err := rdb.Incr(ctx, key).Result()
				if err != nil {
					errs[g] = fmt.Errorf("node %d: INCR: %v", g, err)
					return
				}
				replies[g] = append(replies[g], n)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var all []int64
	for g, r := range replies {
		if !slices.IsSorted(r) {
			t.Errorf("node %d: INCR replies went backwards: %v", g, abbreviate(fmt.Sprint(r)))
		}
		all = append(all, r...)
	}
	slices.Sort(all)
	var dups, gaps []string
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			dups = append(dups, strconv.FormatInt(all[i], 10))
		}
	}
	seen := map[int64]bool{}
	for _, v := range all {
		seen[v] = true
	}
	for v := int64(1); v <= int64(len(rdbs)*per); v++ {
		if !seen[v] {
			gaps = append(gaps, strconv.FormatInt(v, 10))
		}
	}
	if len(dups) > 0 || len(gaps) > 0 {
		t.Errorf("%d concurrent INCRs through 3 nodes: %d replies given twice (%s), %d values never given (%s)",
			len(rdbs)*per, len(dups), abbreviate(strings.Join(dups, " ")), len(gaps), abbreviate(strings.Join(gaps, " ")))
	}
	for j, rdb := range rdbs {
		if got, err := rdb.Get(ctx, key).Result(); err != nil || got != strconv.Itoa(len(rdbs)*per) {
			t.Errorf("node %d: GET %s after %d concurrent INCRs = %q, %v; want %d", j, key, len(rdbs)*per, got, err, len(rdbs)*per)
		}
	}
}
