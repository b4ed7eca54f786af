package compat_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSmartGoRedisCluster drives three ringstore processes through go-redis
// v9's ClusterClient (issue 5): the string and key commands, pipelines with
// keys in many slots, ForEachMaster + SCAN seeing each key once, every
// node's CLUSTER SLOTS / SHARDS / NODES, and a node crash under load.
func TestSmartGoRedisCluster(t *testing.T) {
	r := startSmartRing(t, 3, smartOptions{})
	logs := captureGoRedisLogs(t)
	cc := r.ClusterClient(nil)

	t.Run("commands", func(t *testing.T) { testSmartCommands(t, cc) })
	t.Run("pipeline", func(t *testing.T) { testSmartPipeline(t, cc) })
	t.Run("scan", func(t *testing.T) { testSmartScan(t, cc) })
	t.Run("topology", func(t *testing.T) { testSmartTopology(t, r, cc, 3) })
	t.Run("readonly", func(t *testing.T) { testSmartReadOnly(t, r, cc) })
	if s := logs.String(); s != "" {
		t.Errorf("go-redis logged before the crash:\n%s", s)
	}
	t.Run("kill", func(t *testing.T) { testSmartKill(t, r) })
}

// testSmartReadOnly: a ClusterClient with ReadOnly sends READONLY and reads
// from a slot's replicas, which coordinate a quorum read like any node: a
// value written through the master is read back through a replica at once,
// also after it is overwritten.
func testSmartReadOnly(t *testing.T, r *smartRing, cc *redis.ClusterClient) {
	ctx := context.Background()
	ro := r.ClusterClient(&redis.ClusterOptions{ReadOnly: true})
	onReplica := 0
	for i := range 60 {
		key := fmt.Sprint("smart:ro:", i)
		for _, v := range []string{"first", "second"} {
			if err := cc.Set(ctx, key, v, 0).Err(); err != nil {
				t.Fatal(err)
			}
			got, err := ro.Get(ctx, key).Result()
			expect(t, "GET "+key+" through a ReadOnly client", got, err, v)
			replica, err := ro.SlaveForKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			master, err := cc.MasterForKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if replica.Options().Addr == master.Options().Addr {
				continue
			}
			onReplica++
			got, err = replica.Get(ctx, key).Result()
			expect(t, "GET "+key+" on replica "+replica.Options().Addr, got, err, v)
		}
	}
	if onReplica == 0 {
		t.Error("the ReadOnly client never chose a replica that is not the master")
	}
}

// expect reports a mismatch of what, comparing printed forms.
func expect(t *testing.T, what string, got any, err error, want any) {
	t.Helper()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Errorf("%s: %v", what, err)
		return
	}
	if errors.Is(err, redis.Nil) {
		got = "(nil)"
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// expectErr reports unless err is a server error starting with prefix.
func expectErr(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	var rerr redis.Error
	if !errors.As(err, &rerr) || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s: error %v, want %q...", what, err, prefix)
	}
}

// testSmartCommands runs every string and key command ringstore has through
// a ClusterClient, with keys in different slots (so on different nodes);
// commands naming keys in several slots are sent to the first key's node,
// which fans them out (Redis Cluster would answer CROSSSLOT).
func testSmartCommands(t *testing.T, cc *redis.ClusterClient) {
	ctx := withTimeout(t, time.Minute)
	k := func(s string) string { return "cmd:" + s }
	ttlNear := func(what string, d time.Duration, err error, want time.Duration) {
		t.Helper()
		if err != nil || d > want || d < want-3*time.Second {
			t.Errorf("%s = %v, %v; want about %v", what, d, err, want)
		}
	}

	// SET and its options, GET, SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX.
	v, err := cc.Set(ctx, k("a"), "1", 0).Result()
	expect(t, "SET", v, err, "OK")
	v, err = cc.Get(ctx, k("a")).Result()
	expect(t, "GET", v, err, "1")
	v, err = cc.SetArgs(ctx, k("a"), "2", redis.SetArgs{Mode: "XX", Get: true}).Result()
	expect(t, "SET XX GET", v, err, "1")
	v, err = cc.SetArgs(ctx, k("nx"), "v", redis.SetArgs{Mode: "NX", TTL: 100 * time.Second}).Result()
	expect(t, "SET NX EX", v, err, "OK")
	v, err = cc.SetArgs(ctx, k("nx"), "w", redis.SetArgs{Mode: "NX"}).Result()
	expect(t, "SET NX on an existing key", v, err, "(nil)")
	b, err := cc.SetNX(ctx, k("nx"), "w", 0).Result()
	expect(t, "SETNX existing", b, err, false)
	b, err = cc.SetNX(ctx, k("nx2"), "w", 0).Result()
	expect(t, "SETNX new", b, err, true)
	expect(t, "SETEX", cc.SetEx(ctx, k("ex"), "v", 100*time.Second).Val(), nil, "OK")
	d, err := cc.TTL(ctx, k("ex")).Result()
	ttlNear("TTL after SETEX 100", d, err, 100*time.Second)
	expect(t, "PSETEX", cc.Do(ctx, "psetex", k("px"), 100000, "v").Val(), nil, "OK")
	d, err = cc.PTTL(ctx, k("px")).Result()
	ttlNear("PTTL after PSETEX 100000", d, err, 100*time.Second)
	v, err = cc.SetArgs(ctx, k("ex"), "v2", redis.SetArgs{KeepTTL: true}).Result()
	expect(t, "SET KEEPTTL", v, err, "OK")
	d, err = cc.TTL(ctx, k("ex")).Result()
	ttlNear("TTL after SET KEEPTTL", d, err, 100*time.Second)
	exat := time.Now().Add(200 * time.Second).Truncate(time.Second)
	v, err = cc.SetArgs(ctx, k("exat"), "v", redis.SetArgs{ExpireAt: exat}).Result()
	expect(t, "SET EXAT", v, err, "OK")
	d, err = cc.ExpireTime(ctx, k("exat")).Result()
	expect(t, "EXPIRETIME after SET EXAT", d, err, time.Duration(exat.Unix())*time.Second)
	pxat := exat.Add(250 * time.Millisecond)
	expect(t, "SET PXAT", cc.Do(ctx, "set", k("exat"), "v", "pxat", pxat.UnixMilli()).Val(), nil, "OK")
	d, err = cc.PExpireTime(ctx, k("exat")).Result()
	expect(t, "PEXPIRETIME after SET PXAT", d, err, time.Duration(pxat.UnixMilli())*time.Millisecond)
	v, err = cc.Do(ctx, "getex", k("exat")).Text()
	expect(t, "GETEX without options", v, err, "v")
	v, err = cc.GetEx(ctx, k("exat"), 0).Result() // go-redis sends PERSIST for 0
	expect(t, "GETEX PERSIST", v, err, "v")
	d, err = cc.TTL(ctx, k("exat")).Result()
	expect(t, "TTL after GETEX PERSIST", d, err, time.Duration(-1))
	v, err = cc.GetSet(ctx, k("a"), "3").Result()
	expect(t, "GETSET", v, err, "2")
	v, err = cc.GetDel(ctx, k("a")).Result()
	expect(t, "GETDEL", v, err, "3")
	v, err = cc.Get(ctx, k("a")).Result()
	expect(t, "GET after GETDEL", v, err, "(nil)")
	v, err = cc.GetEx(ctx, k("nx2"), 50*time.Second).Result()
	expect(t, "GETEX EX 50", v, err, "w")
	d, err = cc.TTL(ctx, k("nx2")).Result()
	ttlNear("TTL after GETEX EX 50", d, err, 50*time.Second)

	// APPEND, STRLEN, GETRANGE, SETRANGE.
	n, err := cc.Append(ctx, k("s"), "Hello").Result()
	expect(t, "APPEND", n, err, 5)
	n, err = cc.Append(ctx, k("s"), " World").Result()
	expect(t, "APPEND", n, err, 11)
	n, err = cc.StrLen(ctx, k("s")).Result()
	expect(t, "STRLEN", n, err, 11)
	v, err = cc.GetRange(ctx, k("s"), 0, 4).Result()
	expect(t, "GETRANGE 0 4", v, err, "Hello")
	n, err = cc.SetRange(ctx, k("s"), 6, "Redis").Result()
	expect(t, "SETRANGE", n, err, 11)
	v, err = cc.Get(ctx, k("s")).Result()
	expect(t, "GET after SETRANGE", v, err, "Hello Redis")

	// The INCR family.
	n, err = cc.Incr(ctx, k("n")).Result()
	expect(t, "INCR", n, err, 1)
	n, err = cc.IncrBy(ctx, k("n"), 9).Result()
	expect(t, "INCRBY 9", n, err, 10)
	n, err = cc.Decr(ctx, k("n")).Result()
	expect(t, "DECR", n, err, 9)
	n, err = cc.DecrBy(ctx, k("n"), 4).Result()
	expect(t, "DECRBY 4", n, err, 5)
	f, err := cc.IncrByFloat(ctx, k("f"), 5.5).Result()
	expect(t, "INCRBYFLOAT 5.5", f, err, 5.5)
	expectErr(t, "INCR of a float", cc.Incr(ctx, k("f")).Err(), "ERR value is not an integer or out of range")

	// Keys: EXISTS, TYPE, TOUCH, the EXPIRE family, TTL, PERSIST.
	n, err = cc.Exists(ctx, k("s"), k("n"), k("none")).Result()
	expect(t, "EXISTS of 2 keys and a missing one", n, err, 2)
	v, err = cc.Type(ctx, k("s")).Result()
	expect(t, "TYPE", v, err, "string")
	v, err = cc.Type(ctx, k("none")).Result()
	expect(t, "TYPE of a missing key", v, err, "none")
	n, err = cc.Touch(ctx, k("s"), k("n"), k("none")).Result()
	expect(t, "TOUCH", n, err, 2)
	b, err = cc.Expire(ctx, k("s"), 100*time.Second).Result()
	expect(t, "EXPIRE 100", b, err, true)
	b, err = cc.ExpireNX(ctx, k("s"), 300*time.Second).Result()
	expect(t, "EXPIRE NX", b, err, false)
	b, err = cc.ExpireXX(ctx, k("s"), 200*time.Second).Result()
	expect(t, "EXPIRE XX 200", b, err, true)
	b, err = cc.ExpireGT(ctx, k("s"), 150*time.Second).Result()
	expect(t, "EXPIRE GT 150", b, err, false)
	b, err = cc.ExpireLT(ctx, k("s"), 150*time.Second).Result()
	expect(t, "EXPIRE LT 150", b, err, true)
	d, err = cc.TTL(ctx, k("s")).Result()
	ttlNear("TTL after EXPIRE LT 150", d, err, 150*time.Second)
	b, err = cc.PExpire(ctx, k("s"), 120*time.Second).Result()
	expect(t, "PEXPIRE 120000", b, err, true)
	d, err = cc.PTTL(ctx, k("s")).Result()
	ttlNear("PTTL after PEXPIRE", d, err, 120*time.Second)
	at := time.Now().Add(300 * time.Second).Truncate(time.Second)
	b, err = cc.ExpireAt(ctx, k("s"), at).Result()
	expect(t, "EXPIREAT", b, err, true)
	d, err = cc.ExpireTime(ctx, k("s")).Result()
	expect(t, "EXPIRETIME", d, err, time.Duration(at.Unix())*time.Second)
	pat := at.Add(500 * time.Millisecond)
	b, err = cc.PExpireAt(ctx, k("s"), pat).Result()
	expect(t, "PEXPIREAT", b, err, true)
	d, err = cc.PExpireTime(ctx, k("s")).Result()
	expect(t, "PEXPIRETIME", d, err, time.Duration(pat.UnixMilli())*time.Millisecond)
	b, err = cc.Persist(ctx, k("s")).Result()
	expect(t, "PERSIST", b, err, true)
	d, err = cc.TTL(ctx, k("s")).Result()
	expect(t, "TTL after PERSIST", d, err, time.Duration(-1))
	d, err = cc.TTL(ctx, k("none")).Result()
	expect(t, "TTL of a missing key", d, err, time.Duration(-2))

	// RENAME, RENAMENX, COPY, MOVE across slots; DEL, UNLINK.
	expect(t, "RENAME", cc.Rename(ctx, k("s"), k("s2")).Val(), nil, "OK")
	v, err = cc.Get(ctx, k("s2")).Result()
	expect(t, "GET after RENAME", v, err, "Hello Redis")
	n, err = cc.Exists(ctx, k("s")).Result()
	expect(t, "EXISTS of the old name", n, err, 0)
	b, err = cc.RenameNX(ctx, k("s2"), k("n")).Result()
	expect(t, "RENAMENX onto an existing key", b, err, false)
	b, err = cc.RenameNX(ctx, k("s2"), k("s3")).Result()
	expect(t, "RENAMENX", b, err, true)
	n, err = cc.Copy(ctx, k("s3"), k("s4"), 0, false).Result()
	expect(t, "COPY", n, err, 1)
	v, err = cc.Get(ctx, k("s4")).Result()
	expect(t, "GET of the copy", v, err, "Hello Redis")
	expect(t, "SET", cc.Set(ctx, k("mv"), "x", 0).Val(), nil, "OK")
	b, err = cc.Move(ctx, k("mv"), 1).Result()
	expect(t, "MOVE to db 1", b, err, true)
	n, err = cc.Exists(ctx, k("mv")).Result()
	expect(t, "EXISTS after MOVE", n, err, 0)
	n, err = cc.Del(ctx, k("s3"), k("s4"), k("none")).Result()
	expect(t, "DEL of 2 keys and a missing one", n, err, 2)

	// Bits and LCS.
	n, err = cc.SetBit(ctx, k("b"), 7, 1).Result()
	expect(t, "SETBIT", n, err, 0)
	n, err = cc.GetBit(ctx, k("b"), 7).Result()
	expect(t, "GETBIT", n, err, 1)
	n, err = cc.BitCount(ctx, k("b"), nil).Result()
	expect(t, "BITCOUNT", n, err, 1)
	n, err = cc.BitPos(ctx, k("b"), 1).Result()
	expect(t, "BITPOS 1", n, err, 7)
	n, err = cc.Unlink(ctx, k("b")).Result()
	expect(t, "UNLINK", n, err, 1)
	cc.Set(ctx, k("l1"), "ohmytext", 0)
	cc.Set(ctx, k("l2"), "mynewtext", 0)
	lcs, err := cc.LCS(ctx, &redis.LCSQuery{Key1: k("l1"), Key2: k("l2")}).Result()
	if err != nil || lcs.MatchString != "mytext" {
		t.Errorf("LCS = %+v, %v; want mytext", lcs, err)
	}

	// MSET, MGET, MSETNX over keys in many slots.
	var pairs []any
	var keys []string
	for i := range 50 {
		keys = append(keys, k("m"+strconv.Itoa(i)))
		pairs = append(pairs, keys[i], "v"+strconv.Itoa(i))
	}
	expect(t, "MSET of 50 keys", cc.MSet(ctx, pairs...).Val(), nil, "OK")
	vals, err := cc.MGet(ctx, append(keys, k("none"))...).Result()
	if err != nil || len(vals) != 51 || vals[50] != nil {
		t.Errorf("MGET of 50 keys and a missing one = %v, %v", vals, err)
	} else {
		for i := range 50 {
			if vals[i] != "v"+strconv.Itoa(i) {
				t.Errorf("MGET: %s = %v, want v%d", keys[i], vals[i], i)
			}
		}
	}
	b, err = cc.MSetNX(ctx, k("fresh1"), "x", keys[3], "y").Result()
	expect(t, "MSETNX with an existing key", b, err, false)
	n, err = cc.Exists(ctx, k("fresh1")).Result()
	expect(t, "EXISTS after a refused MSETNX", n, err, 0)
	b, err = cc.MSetNX(ctx, k("fresh1"), "x", k("fresh2"), "y").Result()
	expect(t, "MSETNX of new keys", b, err, true)
	n, err = cc.Del(ctx, keys...).Result()
	expect(t, "DEL of the 50 keys", n, err, 50)
}

// testSmartPipeline sends pipelines whose keys span every node: SET, GET,
// INCR, EXPIRE/TTL, MSET and MGET (multi-key commands inside a pipeline go
// whole to their first key's node).
func testSmartPipeline(t *testing.T, cc *redis.ClusterClient) {
	ctx := withTimeout(t, time.Minute)
	const n = 300
	key := func(i int) string { return "pipe:" + strconv.Itoa(i) }
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, key(i), "v"+strconv.Itoa(i), 0)
			p.Incr(ctx, key(i)+":n")
			p.Expire(ctx, key(i), time.Hour)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline of SET/INCR/EXPIRE: %v", err)
	}
	var gets []*redis.StringCmd
	var incrs []*redis.IntCmd
	var ttls []*redis.DurationCmd
	var mget *redis.SliceCmd
	_, err = cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			gets = append(gets, p.Get(ctx, key(i)))
			incrs = append(incrs, p.Incr(ctx, key(i)+":n"))
			ttls = append(ttls, p.TTL(ctx, key(i)))
		}
		p.MSet(ctx, "pipe:m:a", "1", "pipe:m:b", "2", "pipe:m:c", "3")
		mget = p.MGet(ctx, "pipe:m:a", "pipe:m:b", "pipe:m:c", key(7))
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline of GET/INCR/TTL/MSET/MGET: %v", err)
	}
	bad := 0
	for i := range n {
		if g := gets[i].Val(); g != "v"+strconv.Itoa(i) && bad < 5 {
			t.Errorf("pipelined GET %s = %q, %v", key(i), g, gets[i].Err())
			bad++
		}
		if c := incrs[i].Val(); c != 2 && bad < 5 {
			t.Errorf("pipelined INCR %s:n = %d, %v; want 2", key(i), c, incrs[i].Err())
			bad++
		}
		if d := ttls[i].Val(); (d < 59*time.Minute || d > time.Hour) && bad < 5 {
			t.Errorf("pipelined TTL %s = %v, %v; want about 1h", key(i), d, ttls[i].Err())
			bad++
		}
	}
	if got := fmt.Sprint(mget.Val()); got != "[1 2 3 v7]" {
		t.Errorf("pipelined MGET = %s, %v; want [1 2 3 v7]", got, mget.Err())
	}
}

// testSmartScan writes 1000 keys and checks that SCAN, KEYS and DBSIZE on
// every master (go-redis ForEachMaster) list each key exactly once.
func testSmartScan(t *testing.T, cc *redis.ClusterClient) {
	ctx := withTimeout(t, 2*time.Minute)
	const n = 1000
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, "scan:"+strconv.Itoa(i), i, 0)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("writing %d keys: %v", n, err)
	}
	var mu sync.Mutex // guards the counts below
	seen := map[string]int{}
	all := map[string]int{}
	var masters, keysTotal, dbsize int64
	err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		var mine []string
		iter := m.Scan(ctx, 0, "scan:*", 100).Iterator()
		for iter.Next(ctx) {
			mine = append(mine, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("%s: SCAN: %v", m.Options().Addr, err)
		}
		var everything []string
		iter = m.Scan(ctx, 0, "", 0).Iterator()
		for iter.Next(ctx) {
			everything = append(everything, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("%s: SCAN: %v", m.Options().Addr, err)
		}
		keys, err := m.Keys(ctx, "scan:*").Result()
		if err != nil {
			return fmt.Errorf("%s: KEYS: %v", m.Options().Addr, err)
		}
		size, err := m.DBSize(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: DBSIZE: %v", m.Options().Addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		masters++
		for _, k := range mine {
			seen[k]++
		}
		for _, k := range everything {
			all[k]++
		}
		keysTotal += int64(len(keys))
		dbsize += size
		t.Logf("master %s: SCAN MATCH scan:* %d keys, KEYS scan:* %d, SCAN %d keys, DBSIZE %d", m.Options().Addr, len(mine), len(keys), len(everything), size)
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachMaster: %v", err)
	}
	if masters != 3 {
		t.Errorf("ForEachMaster visited %d masters, want 3", masters)
	}
	missing, twice := 0, 0
	for i := range n {
		switch seen["scan:"+strconv.Itoa(i)] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(seen) != n {
		t.Errorf("SCAN over the masters: %d of %d keys missing, %d seen more than once, %d distinct keys seen", missing, n, twice, len(seen))
	}
	// RANDOMKEY on a master names one of the keys it lists.
	err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		k, err := m.RandomKey(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		if err != nil || all[k] != 1 {
			t.Errorf("%s: RANDOMKEY = %q, %v; want a key SCAN listed", m.Options().Addr, k, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("ForEachMaster RANDOMKEY: %v", err)
	}
	if keysTotal != n {
		t.Errorf("KEYS scan:* over the masters: %d keys, want %d", keysTotal, n)
	}
	for k, c := range all {
		if c != 1 {
			t.Errorf("SCAN without MATCH: %s seen %d times", k, c)
		}
	}
	if dbsize != int64(len(all)) {
		t.Errorf("DBSIZE over the masters sums to %d; SCAN saw %d keys", dbsize, len(all))
	}
}

// testSmartTopology reads every node's topology, checks each on its own
// (see topology.complete) and against the others, and that the nodes and
// the ClusterClient agree on it; n is the number of replicas per slot.
func testSmartTopology(t *testing.T, r *smartRing, cc *redis.ClusterClient, n int) {
	ctx := withTimeout(t, time.Minute)
	var first *topology
	for _, i := range r.Live() {
		nd := r.Node(i)
		topo, err := readTopology(ctx, r.Client(i))
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if err := topo.complete(); err != nil {
			t.Fatalf("node %d: %v\nCLUSTER SLOTS:\n%sCLUSTER NODES:\n%s", i, err, topo.slots, topo.nodesText)
		}
		if topo.self != nd.ID || topo.addr[nd.ID] != nd.Addr {
			t.Errorf("node %d: MYID %s at %s in its SLOTS; want %s at %s", i, topo.self, topo.addr[topo.self], nd.ID, nd.Addr)
		}
		primaries := map[string]int{}
		for s, ids := range topo.bySlot {
			if len(ids) != n {
				t.Fatalf("node %d: slot %d served by %d nodes, want %d (N)", i, s, len(ids), n)
			}
			primaries[ids[0]]++
		}
		if len(primaries) != len(r.Live()) {
			t.Errorf("node %d: %d masters in CLUSTER SLOTS, want %d", i, len(primaries), len(r.Live()))
		}
		for id, c := range primaries {
			if ideal := numSlots / len(r.Live()); c > ideal*105/100+1 {
				t.Errorf("node %d: %s is master of %d slots, ideal %d", i, id, c, ideal)
			}
		}
		if first == nil {
			first = topo
			t.Logf("node %d: CLUSTER SLOTS\n%sCLUSTER NODES\n%s", i, topo.slots, topo.nodesText)
			continue
		}
		if topo.slots != first.slots {
			t.Errorf("node %d: CLUSTER SLOTS differs from node 0's:\n%s\nvs\n%s", i, topo.slots, first.slots)
		}
		if topo.nodesConfig() != first.nodesConfig() {
			t.Errorf("node %d: CLUSTER NODES differs from node 0's:\n%s\nvs\n%s", i, topo.nodesText, first.nodesText)
		}
	}
	if first == nil {
		t.Fatal("no live node")
	}
	// The client's own copy of the map.
	ccSlots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("ClusterClient CLUSTER SLOTS: %v", err)
	}
	if fmt.Sprint(ccSlots) != fmt.Sprint(first.slotRanges) {
		t.Errorf("ClusterClient's CLUSTER SLOTS %v differs from node 0's %v", ccSlots, first.slotRanges)
	}
	// CLUSTER KEYSLOT agrees with the CRC16 the clients compute, and
	// COUNTKEYSINSLOT / GETKEYSINSLOT on a slot's master find a key written
	// there.
	for i := 0; i < 1000; i += 97 {
		key := "topo:" + strconv.Itoa(i)
		if err := cc.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		slot, err := cc.ClusterKeySlot(ctx, key).Result()
		if err != nil || int(slot) != keySlot(key) {
			t.Errorf("CLUSTER KEYSLOT %s = %d, %v; CRC16 gives %d", key, slot, err, keySlot(key))
			continue
		}
		master := first.addr[first.bySlot[slot][0]]
		rdb := redis.NewClient(&redis.Options{Addr: master})
		count, err := rdb.ClusterCountKeysInSlot(ctx, int(slot)).Result()
		keys, err2 := rdb.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		rdb.Close()
		if err != nil || err2 != nil || count < 1 || int64(len(keys)) != count || !slices.Contains(keys, key) {
			t.Errorf("master %s of slot %d: COUNTKEYSINSLOT %d, %v; GETKEYSINSLOT %v, %v; want %s among them", master, slot, count, err, keys, err2, key)
		}
	}
}

// testSmartKill runs SET/GET through a default ClusterClient while one node
// is killed with SIGKILL. The loop asks the client to reload its map after
// a failed call (ReloadState; go-redis alone reloads only every 60 s and on
// MOVED). It checks that calls succeed again and that no acknowledged write
// is lost, and logs the window of failed calls.
func testSmartKill(t *testing.T, r *smartRing) {
	const (
		workers       = 4
		keysPerWorker = 64
		victim        = 2
		quiet         = 3 * time.Second  // no failure for this long counts as recovered
		recoverBound  = 45 * time.Second // fail if not recovered this long after the kill
		slowCall      = 100 * time.Millisecond
	)
	ctx := withTimeout(t, 2*time.Minute)
	cc := r.ClusterClient(nil)
	if err := cc.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	type failure struct {
		at  time.Duration // since the kill (-1 before it)
		err string
		d   time.Duration // how long the call took
	}
	var (
		killedAt  atomic.Int64 // unix ns, 0 before the kill
		ok, calls atomic.Int64
		mu        sync.Mutex // guards failures, slow, lost
		failures  []failure
		slow      []failure // calls after the kill that took longer than slowCall
		lost      []string
	)
	since := func() time.Duration {
		k := killedAt.Load()
		if k == 0 {
			return -1 // before the kill
		}
		return time.Duration(time.Now().UnixNano() - k)
	}
	// timed runs one call and notes it if it was slow.
	timed := func(what string, call func() error) error {
		start, at := time.Now(), since()
		err := call()
		if d := time.Since(start); d > slowCall && at >= -1 {
			mu.Lock()
			slow = append(slow, failure{at, what, d})
			mu.Unlock()
		}
		return err
	}
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, failure{at: since(), err: err.Error()})
		mu.Unlock()
		cc.ReloadState(ctx)
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	halt := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer halt()
	for w := range workers {
		wg.Go(func() {
			acked := make([]int, keysPerWorker)
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				i := seq % keysPerWorker
				key := fmt.Sprintf("kill:%d:%d", w, i)
				calls.Add(1)
				if err := timed("SET", func() error { return cc.Set(ctx, key, seq, 0).Err() }); err != nil {
					fail(fmt.Errorf("SET: %w", err))
					continue
				}
				ok.Add(1)
				acked[i] = seq
				calls.Add(1)
				var got int
				err := timed("GET", func() (err error) {
					got, err = cc.Get(ctx, key).Int()
					return err
				})
				if err != nil {
					fail(fmt.Errorf("GET: %w", err))
					continue
				}
				ok.Add(1)
				if got < acked[i] {
					mu.Lock()
					lost = append(lost, fmt.Sprintf("%s = %d after SET %d was acknowledged", key, got, acked[i]))
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(time.Second)
	before := ok.Load()
	killedAt.Store(time.Now().UnixNano())
	r.Kill(victim)
	killTime := time.Now()
	t.Logf("SIGKILL node %d after 1 s of load (%d successful calls before it)", victim, before)

	// The ring's view: how long until node 0 reports the victim failed.
	detected := time.Duration(-1)
	rdb0 := r.Client(0)
	for time.Since(killTime) < recoverBound {
		mu.Lock()
		var lastFail time.Duration = -1
		if len(failures) > 0 {
			lastFail = failures[len(failures)-1].at
		}
		mu.Unlock()
		if detected < 0 {
			text, _ := rdb0.ClusterNodes(ctx).Result()
			lines, _ := parseClusterNodes(text)
			for _, l := range lines {
				if l.id == r.Node(victim).ID && l.failed {
					detected = time.Since(killTime)
				}
			}
		}
		if s := time.Since(killTime); detected >= 0 && s > quiet && s-max(lastFail, 0) > quiet {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	window := time.Since(killTime)
	halt()

	mu.Lock()
	defer mu.Unlock()
	var first, last time.Duration = -1, -1
	kinds := map[string]int{}
	for _, f := range failures {
		if first < 0 {
			first = f.at
		}
		last = f.at
		kinds[digitsElided(f.err)]++
	}
	t.Logf("node 0 showed node %d as fail %v after the kill", victim, detected)
	t.Logf("failed calls: %d of %d (%d succeeded); first %v, last %v after the kill; %.1f s observed",
		len(failures), calls.Load(), ok.Load(), first.Round(time.Millisecond), last.Round(time.Millisecond), window.Seconds())
	for k, c := range kinds {
		t.Logf("  %5d x %s", c, k)
	}
	if len(slow) > 0 {
		var longest time.Duration
		for _, f := range slow {
			longest = max(longest, f.d)
		}
		t.Logf("calls slower than %v: %d, started %v..%v after the kill, the longest %v (go-redis retries on the dead node with backoff before it fails)",
			slowCall, len(slow), slow[0].at.Round(time.Millisecond), slow[len(slow)-1].at.Round(time.Millisecond), longest)
	}
	if first < 0 && len(failures) > 0 {
		t.Errorf("calls failed before the kill: %v", failures[0].err)
	}
	if detected < 0 {
		t.Errorf("node 0 did not mark node %d as failed within %v", victim, recoverBound)
	}
	if window >= recoverBound {
		t.Errorf("calls still failing %v after the kill (last failure %v)", recoverBound, last)
	}
	if ok.Load() <= before {
		t.Errorf("no successful call after the kill")
	}
	for _, l := range lost {
		t.Errorf("lost write: %s", l)
	}

	// The survivors agree on a map without the victim, and scanning their
	// masters still lists each of the 1000 scan keys once.
	r.waitSettled(t, true)
	cc.ReloadState(ctx)
	time.Sleep(500 * time.Millisecond) // ReloadState is asynchronous
	var (
		seenMu sync.Mutex // guards seen
		seen   = map[string]int{}
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, "scan:*", 100).Iterator()
		var mine []string
		for iter.Next(ctx) {
			mine = append(mine, iter.Val())
		}
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, k := range mine {
			seen[k]++
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatalf("ForEachMaster after the kill: %v", err)
	}
	once := 0
	for _, c := range seen {
		if c == 1 {
			once++
		}
	}
	if once != 1000 || len(seen) != 1000 {
		t.Errorf("SCAN MATCH scan:* over the 2 surviving masters: %d keys seen once, %d distinct; want 1000", once, len(seen))
	}
}

// digitsElided replaces runs of digits with "N", so that error texts that
// differ only in ports or slots count together.
func digitsElided(s string) string {
	var b strings.Builder
	inDigits := false
	for _, c := range s {
		if c >= '0' && c <= '9' {
			if !inDigits {
				b.WriteByte('N')
			}
			inDigits = true
			continue
		}
		inDigits = false
		b.WriteRune(c)
	}
	return b.String()
}
