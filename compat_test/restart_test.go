package compat_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// writeDataset writes a recognisable dataset over one pipelined connection
// and checks every reply: 1000 keys in db 0 (of which 10 are then deleted),
// a counter incremented 100 times, a key with a long TTL, and a key in db 7.
func writeDataset(t *testing.T, s *server) {
	t.Helper()
	c := s.dial(t)
	var req []byte
	for i := range 1000 {
		req = appendCommand(req, "SET", "key:"+strconv.Itoa(i), "value:"+strconv.Itoa(i))
	}
	c.send(t, req)
	for i := range 1000 {
		if rep := c.read(t); rep.String() != "+OK" {
			t.Fatalf("SET key:%d: %s", i, rep)
		}
	}
	req = req[:0]
	for range 100 {
		req = appendCommand(req, "INCR", "counter")
	}
	c.send(t, req)
	for i := range 100 {
		if rep := c.read(t); rep.String() != fmt.Sprintf(":%d", i+1) {
			t.Fatalf("INCR counter #%d: %s", i+1, rep)
		}
	}
	for i := range 10 {
		if rep := c.do(t, "DEL", "key:"+strconv.Itoa(i)); rep.String() != ":1" {
			t.Fatalf("DEL key:%d: %s", i, rep)
		}
	}
	for _, cmd := range [][]string{{"SET", "ttl", "v", "EX", "1000"}, {"SELECT", "7"}, {"SET", "in7", "seven"}} {
		if rep := c.do(t, cmd...); rep.String() != "+OK" {
			t.Fatalf("%s: %s", quoteArgs(cmd), rep)
		}
	}
}

// checkDataset reads back what writeDataset wrote.
func checkDataset(t *testing.T, s *server) {
	t.Helper()
	c := s.dial(t)
	args := []string{"MGET"}
	for i := range 1000 {
		args = append(args, "key:"+strconv.Itoa(i))
	}
	rep := c.do(t, args...)
	if len(rep.Elems) != 1000 {
		t.Fatalf("MGET of 1000 keys: %s", abbreviate(rep.String()))
	}
	lost := 0
	for i, e := range rep.Elems {
		want := `$"value:` + strconv.Itoa(i) + `"`
		if i < 10 {
			want = "$-1" // deleted before the crash: must stay deleted
		}
		if e.String() != want {
			if lost < 5 {
				t.Errorf("key:%d = %s after restart, want %s", i, e, want)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of 1000 keys wrong after restart", lost)
	}
	if got := c.do(t, "GET", "counter").String(); got != `$"100"` {
		t.Errorf("counter = %s after restart, want 100", got)
	}
	if n, err := c.do(t, "TTL", "ttl").Int(); err != nil || n < 900 || n > 1000 {
		t.Errorf("TTL ttl = %d (%v) after restart, want about 1000", n, err)
	}
	if got := c.do(t, "DBSIZE").String(); got != ":992" {
		t.Errorf("DBSIZE of db 0 = %s after restart, want :992", got)
	}
	c.do(t, "SELECT", "7")
	if got := c.do(t, "GET", "in7").String(); got != `$"seven"` {
		t.Errorf("db 7 in7 = %s after restart", got)
	}
}

// TestRestartAfterKillFsyncAlways: every write acknowledged under
// --fsync always survives kill -9.
func TestRestartAfterKillFsyncAlways(t *testing.T) {
	s := startRingstore(t, serverOptions{Fsync: "always"})
	writeDataset(t, s)
	s.Kill()
	checkDataset(t, startRingstore(t, serverOptions{Fsync: "always", DataDir: s.DataDir}))
}

// TestRestartAfterKillFsyncEverysec: with --fsync everysec, writes older
// than the fsync interval survive kill -9.
func TestRestartAfterKillFsyncEverysec(t *testing.T) {
	s := startRingstore(t, serverOptions{Fsync: "everysec"})
	writeDataset(t, s)
	time.Sleep(1500 * time.Millisecond) // let the once-a-second fsync run
	s.Kill()
	checkDataset(t, startRingstore(t, serverOptions{Fsync: "everysec", DataDir: s.DataDir}))
}

// TestRestartAfterSIGTERM: a clean shutdown (exit status 0) keeps every
// write even with --fsync no, and expiry keeps counting while the node is
// down.
func TestRestartAfterSIGTERM(t *testing.T) {
	s := startRingstore(t, serverOptions{Fsync: "no"})
	writeDataset(t, s)
	c := s.dial(t)
	c.do(t, "SELECT", "3")
	if rep := c.do(t, "SET", "short", "v", "PX", "300"); rep.String() != "+OK" {
		t.Fatalf("SET short PX 300: %s", rep)
	}
	expiry := time.Now().Add(300 * time.Millisecond)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s2 := startRingstore(t, serverOptions{Fsync: "no", DataDir: s.DataDir})
	checkDataset(t, s2)
	time.Sleep(time.Until(expiry) + 50*time.Millisecond)
	c = s2.dial(t)
	c.do(t, "SELECT", "3")
	if got := c.do(t, "EXISTS", "short").String(); got != ":0" {
		t.Errorf("EXISTS short = %s after its expiry time, want :0", got)
	}
}
