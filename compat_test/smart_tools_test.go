package compat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSmartRedisTools runs redis-cli -c, redis-cli --cluster check and call,
// and redis-benchmark --cluster against three nodes with N=2 and
// --cluster-redirects yes, so that each node replicates only two thirds of
// the slots and answers MOVED for the others. It also checks, slot by slot,
// that the MOVED replies agree with CLUSTER SLOTS: the map clients read is
// the preference lists the nodes route by.
func TestSmartRedisTools(t *testing.T) {
	cli := requireTool(t, "redis-cli")
	bench := requireTool(t, "redis-benchmark")
	r := startSmartRing(t, 3, smartOptions{N: 2, Redirects: true})
	cc := r.ClusterClient(nil)

	t.Run("topology", func(t *testing.T) { testSmartTopology(t, r, cc, 2) })
	t.Run("moved", func(t *testing.T) { testSmartMoved(t, r) })
	t.Run("cluster-call", func(t *testing.T) { testSmartClusterCall(t, r, cc, cli) })
	t.Run("cli-follows-moved", func(t *testing.T) { testSmartCLIFollows(t, r, cli) })
	t.Run("cluster-check", func(t *testing.T) {
		for _, i := range r.Live() {
			out := runToolOutput(t, nil, cli, "--cluster", "check", r.Node(i).Addr)
			for _, want := range []string{"[OK] All nodes agree about slots configuration.", "[OK] All 16384 slots covered.", "3 masters"} {
				if !strings.Contains(out, want) {
					t.Errorf("redis-cli --cluster check %s: no %q in\n%s", r.Node(i).Addr, want, out)
				}
			}
		}
	})
	t.Run("benchmark", func(t *testing.T) {
		args := []string{"--cluster", "-h", "127.0.0.1", "-p", strconv.Itoa(r.Node(0).Port),
			"-t", "set,get", "-n", "20000", "-r", "100000", "-d", "100", "-c", "20", "--csv"}
		start := time.Now()
		out := runToolOutput(t, nil, bench, args...)
		elapsed := time.Since(start)
		rows := map[string]bool{}
		for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
			if l := strings.ToLower(line); strings.Contains(l, "err") || strings.Contains(l, "moved") ||
				strings.Contains(l, "could not") || strings.Contains(l, "warning") {
				t.Errorf("redis-benchmark --cluster: %q", line)
			}
			if f := strings.Split(line, ","); len(f) >= 7 && (f[0] == `"SET"` || f[0] == `"GET"`) {
				rows[f[0]] = true
				t.Logf("redis-benchmark --cluster: %s", line)
			}
		}
		if !rows[`"SET"`] || !rows[`"GET"`] || !strings.Contains(out, "Cluster has 3 master nodes") {
			t.Errorf("redis-benchmark %s: want 3 masters and SET and GET rows:\n%s", strings.Join(args, " "), out)
		}
		t.Logf("redis-benchmark --cluster -n 20000 (set, get) took %v", elapsed.Round(time.Millisecond))
	})
}

// runToolOutput runs an external program and returns its stdout and stderr
// together, failing t if it does not exit 0 within two minutes.
func runToolOutput(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	ctx := withTimeout(t, 2*time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testSmartMoved sends GET of one key per slot to every node and checks the
// reply against node 0's CLUSTER SLOTS: MOVED to the slot's master exactly
// when the node is not among the slot's nodes.
func testSmartMoved(t *testing.T, r *smartRing) {
	ctx := withTimeout(t, 2*time.Minute)
	topo, err := readTopology(ctx, r.Client(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.complete(); err != nil {
		t.Fatal(err)
	}
	keys := keysForEverySlot("moved:")
	for _, i := range r.Live() {
		nd := r.Node(i)
		rdb := r.Client(i)
		cmds := make([]*redis.StringCmd, numSlots)
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for s, k := range keys {
				cmds[s] = p.Get(ctx, k)
			}
			return nil
		})
		moved, bad := 0, 0
		for s, cmd := range cmds {
			replica := slices.Contains(topo.bySlot[s], nd.ID)
			want := fmt.Sprintf("MOVED %d %s", s, topo.addr[topo.bySlot[s][0]])
			err := cmd.Err()
			switch {
			case replica && errors.Is(err, redis.Nil):
			case !replica && err != nil && err.Error() == want:
				moved++
			default:
				if bad++; bad <= 5 {
					t.Errorf("node %d: GET %s (slot %d, nodes %v) = %v; want %s", i, keys[s], s, topo.bySlot[s], err, map[bool]string{true: "nil", false: want}[replica])
				}
			}
		}
		t.Logf("node %d: %d of %d slots answered MOVED, the others nil; %d mismatches", i, moved, numSlots, bad)
	}
	// A read-modify-write on a replica that is not the slot's master runs
	// there (forwarded to the master), without MOVED.
	for s, ids := range topo.bySlot {
		if len(ids) < 2 {
			continue
		}
		idx := slices.IndexFunc(r.Live(), func(i int) bool { return r.Node(i).ID == ids[1] })
		if idx < 0 {
			continue
		}
		n, err := r.Client(r.Live()[idx]).Incr(ctx, keys[s]).Result()
		if err != nil || n != 1 {
			t.Errorf("INCR on slot %d's second node = %d, %v; want 1", s, n, err)
		}
		break
	}
}

// testSmartClusterCall writes keys through the ClusterClient and checks that
// `redis-cli --cluster call` DBSIZE on every node sums to their number.
func testSmartClusterCall(t *testing.T, r *smartRing, cc *redis.ClusterClient, cli string) {
	ctx := withTimeout(t, time.Minute)
	const n = 600
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, "call:"+strconv.Itoa(i), i, 0)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("writing %d keys: %v", n, err)
	}
	if got := scanCount(t, cc, "call:*"); got != n {
		t.Errorf("SCAN MATCH call:* over the masters: %d keys, want %d", got, n)
	}
	want := scanCount(t, cc, "*") // with the keys of earlier subtests
	out := runToolOutput(t, nil, cli, "--cluster", "call", r.Node(0).Addr, "DBSIZE")
	sum, nodes := 0, 0
	for _, line := range strings.Split(out, "\n") {
		addr, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
			continue
		}
		c, err := strconv.Atoi(v)
		if err != nil {
			t.Errorf("redis-cli --cluster call: line %q", line)
			continue
		}
		sum += c
		nodes++
	}
	if nodes != 3 || sum != want {
		t.Errorf("redis-cli --cluster call DBSIZE: %d nodes summing to %d; want 3 nodes and %d keys:\n%s", nodes, sum, want, out)
	}
	t.Logf("redis-cli --cluster call %s DBSIZE:\n%s", r.Node(0).Addr, strings.TrimSpace(out))
}

// scanCount counts the keys matching pattern over every master with SCAN.
func scanCount(t *testing.T, cc *redis.ClusterClient, pattern string) int {
	t.Helper()
	ctx := withTimeout(t, time.Minute)
	counts := make(chan int, 16)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n := 0
		iter := m.Scan(ctx, 0, pattern, 100).Iterator()
		for iter.Next(ctx) {
			n++
		}
		counts <- n
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	close(counts)
	total := 0
	for n := range counts {
		total += n
	}
	return total
}

// testSmartCLIFollows checks that redis-cli without -c shows the MOVED of a
// key the node does not replicate, and that redis-cli -c follows it, one
// command at a time and for a script of commands on stdin.
func testSmartCLIFollows(t *testing.T, r *smartRing, cli string) {
	ctx := withTimeout(t, time.Minute)
	topo, err := readTopology(ctx, r.Client(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.complete(); err != nil {
		t.Fatal(err)
	}
	self := r.Node(0)
	keys := keysForEverySlot("cli:")
	var foreign []string // keys whose slot node 0 does not replicate
	for s, ids := range topo.bySlot {
		if !slices.Contains(ids, self.ID) {
			foreign = append(foreign, keys[s])
		}
	}
	if len(foreign) == 0 {
		t.Fatal("node 0 replicates every slot; with N=2 of 3 it should not")
	}
	port := strconv.Itoa(self.Port)
	key := foreign[0]
	slot := keySlot(key)
	out := strings.TrimSpace(runToolOutput(t, nil, cli, "-p", port, "SET", key, "v"))
	if want := fmt.Sprintf("MOVED %d %s", slot, topo.addr[topo.bySlot[slot][0]]); !strings.Contains(out, want) {
		t.Errorf("redis-cli -p %s SET %s = %q; want %q", port, key, out, want)
	}
	if out := strings.TrimSpace(runToolOutput(t, nil, cli, "-c", "-p", port, "SET", key, "v")); out != "OK" {
		t.Errorf("redis-cli -c -p %s SET %s = %q; want OK", port, key, out)
	}
	if out := strings.TrimSpace(runToolOutput(t, nil, cli, "-c", "-p", port, "GET", key)); out != "v" {
		t.Errorf("redis-cli -c -p %s GET %s = %q; want v", port, key, out)
	}
	// A script over keys of every node: -c follows each MOVED in turn.
	var script bytes.Buffer
	const n = 100
	for i := range n {
		fmt.Fprintf(&script, "SET %s %d\n", keys[i*numSlots/n], i)
	}
	for i := range n {
		fmt.Fprintf(&script, "GET %s\n", keys[i*numSlots/n])
	}
	var lines []string
	redirected := 0
	for line := range strings.SplitSeq(strings.TrimSpace(runToolOutput(t, script.Bytes(), cli, "-c", "-p", port)), "\n") {
		if strings.HasPrefix(line, "-> Redirected to slot ") {
			redirected++
			continue
		}
		lines = append(lines, line)
	}
	if len(lines) != 2*n || redirected == 0 {
		t.Fatalf("redis-cli -c with %d commands on stdin printed %d lines:\n%s", 2*n, len(lines), strings.Join(lines, "\n"))
	}
	for i := range n {
		if lines[i] != "OK" || lines[n+i] != strconv.Itoa(i) {
			t.Errorf("redis-cli -c script: SET/GET %s printed %q/%q; want OK/%d", keys[i*numSlots/n], lines[i], lines[n+i], i)
		}
	}
	t.Logf("node 0 replicates %d of %d slots; redis-cli -c followed %d MOVED in a script of %d commands (it stays on the node it was sent to)", numSlots-len(foreign), numSlots, redirected, 2*n)
}
