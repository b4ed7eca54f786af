package resp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ringstore/ringstore/coordinator/coordtest"
)

// TestPipelinedGetsNeedNoWorker: on a ring, a pipeline's GETs and plain
// SETs of keys this node replicates start in the connection's goroutine
// (no worker is started for them) and answer what the commands run one by
// one would: a GET after a SET of its key sees the SET, a GET before a SET
// does not, a missing key is nil, and per-connection QUORUM applies to
// them.
func TestPipelinedGetsNeedNoWorker(t *testing.T) {
	var srv *Server
	net3 := coordtest.NewNetwork(1)
	addr, _ := startRingServerOn(t, net3, func(s *Server) { srv = s })
	rc := dialRaw(t, addr)
	started := func() int {
		srv.workers.mu.Lock()
		defer srv.workers.mu.Unlock()
		return srv.workers.started
	}

	var req strings.Builder
	var want []string
	for i := range 20 {
		req.WriteString(respCmd("SET", fmt.Sprint("g", i), fmt.Sprint("v", i)))
		want = append(want, "+OK\r\n")
	}
	rc.send(req.String())
	checkReplies(t, rc, want)
	if n := started(); n != 0 {
		t.Fatalf("a pipeline of plain SETs started %d workers", n)
	}
	before := started()

	req.Reset()
	want = want[:0]
	for i := range 20 {
		req.WriteString(respCmd("GET", fmt.Sprint("g", i)))
		want = append(want, fmt.Sprintf("$%d\r\nv%d\r\n", len(fmt.Sprint("v", i)), i))
	}
	req.WriteString(respCmd("GET", "nosuchkey"))
	want = append(want, "$-1\r\n")
	rc.send(req.String())
	checkReplies(t, rc, want)
	if n := started(); n != before {
		t.Fatalf("a pipeline of GETs started %d workers", n-before)
	}

	// Order with writes of the same keys in one pipeline.
	rc.send(respCmd("GET", "g1") + respCmd("SET", "g1", "new") + respCmd("GET", "g1") +
		respCmd("GET", "g2") + respCmd("DEL", "g2") + respCmd("GET", "g2") + respCmd("GET", "g3"))
	checkReplies(t, rc, []string{"$2\r\nv1\r\n", "+OK\r\n", "$3\r\nnew\r\n", "$2\r\nv2\r\n", ":1\r\n", "$-1\r\n", "$2\r\nv3\r\n"})

	before = started() // DEL ran on a worker
	// QUORUM set on the connection reaches the started reads: with the
	// third node unreachable, R=3 cannot be met and R=2 can.
	net3.Add(coordtest.Drop{To: fmt.Sprintf("%040x", 3), Rate: 1})
	rc.send(respCmd("QUORUM", "3", "2") + respCmd("GET", "g3") + respCmd("QUORUM", "2", "2") + respCmd("GET", "g3"))
	if r := rc.reply(); r != "+OK\r\n" {
		t.Fatalf("QUORUM 3 2: %q", r)
	}
	if r := rc.reply(); !strings.HasPrefix(r, "-TRYAGAIN Not enough replicas answered the read: 2 of 3") {
		t.Fatalf("GET with R=3 and a replica unreachable: %q, want -TRYAGAIN ... 2 of 3", r)
	}
	checkReplies(t, rc, []string{"+OK\r\n", "$2\r\nv3\r\n"})
	// And W=3 fails a started SET, W=2 does not.
	rc.send(respCmd("QUORUM", "2", "3") + respCmd("SET", "g5", "x") + respCmd("QUORUM", "2", "2") + respCmd("SET", "g5", "y") + respCmd("GET", "g5"))
	if r := rc.reply(); r != "+OK\r\n" {
		t.Fatalf("QUORUM 2 3: %q", r)
	}
	if r := rc.reply(); !strings.HasPrefix(r, "-") {
		t.Fatalf("SET with W=3 and a replica unreachable: %q, want an error", r)
	}
	checkReplies(t, rc, []string{"+OK\r\n", "+OK\r\n", "$1\r\ny\r\n"})
	if n := started(); n != before {
		t.Fatalf("GETs and plain SETs started %d workers", n-before)
	}
}

// TestStartedCommandsSurvivePanics: with this node's store panicking on one
// key, a pipelined GET of it is answered by the other replicas (the local
// read counts as a failed replica), and a plain SET of it, whose local
// write panics before anything is sent, answers -ERR internal error once
// and is not run again on a worker; the rest of the pipeline and the
// connection carry on, and the coordinator still closes (no request is
// left unfinished).
func TestStartedCommandsSurvivePanics(t *testing.T) {
	var srv *Server
	net3 := coordtest.NewNetwork(1)
	addr, st := startRingServerOn(t, net3, func(s *Server) { srv = s })
	rc := dialRaw(t, addr)
	rc.send(respCmd("SET", "boom", "v"))
	checkReplies(t, rc, []string{"+OK\r\n"})
	st.PanicKey = "boom"
	rc.send(respCmd("GET", "boom") + respCmd("SET", "boom", "w") + respCmd("SET", "k", "x") + respCmd("GET", "k"))
	checkReplies(t, rc, []string{"$1\r\nv\r\n", "-ERR internal error\r\n", "+OK\r\n", "$1\r\nx\r\n"})
	srv.workers.mu.Lock()
	n := srv.workers.started
	srv.workers.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d workers started: a panicked command ran again", n)
	}
	rc.send(respCmd("PING"))
	checkReplies(t, rc, []string{"+PONG\r\n"})
	// The panicked SET counts as a command and an error reply, as a
	// command that panics in execute does.
	rc.send(respCmd("INFO", "stats"))
	info := rc.reply()
	if !strings.Contains(info, "total_commands_processed:7\r\n") || !strings.Contains(info, "total_error_replies:1\r\n") {
		t.Fatalf("INFO stats after 7 commands (INFO included), one an internal error:\n%s", info)
	}
}
