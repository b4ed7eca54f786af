package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// answers is a coordinator.Replies that records every answer on a channel.
type answers chan answer

type answer struct {
	i   int
	sib version.Siblings
	err error
}

func (a answers) Reply(i int, sib version.Siblings, err error) { a <- answer{i, sib, err} }

func (a answers) next(t *testing.T) answer {
	t.Helper()
	select {
	case r := <-a:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
		return answer{}
	}
}

// Asynchronous calls deliver exactly one answer each: a stored write, a
// read of it, a read of nothing, and a remote error.
func TestSendRoundTrips(t *testing.T) {
	h := newFakeHandler()
	h.gate = func(_ context.Context, _ Op, key []byte) error {
		if string(key) == "bad" {
			return errors.New("refused")
		}
		return nil
	}
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	deadline := time.Now().Add(10 * time.Second)
	got := make(answers, 4)

	tr.SendWrite("b", 3, []byte("k"), sib("a", "v", 1), "c", deadline, got, 7)
	if r := got.next(t); r.i != 7 || r.err != nil || r.sib != nil {
		t.Fatalf("write answer %+v", r)
	}
	tr.SendRead("b", 3, []byte("k"), deadline, got, 1)
	if r := got.next(t); r.i != 1 || r.err != nil || len(r.sib) != 1 || string(r.sib[0].Value) != "v" {
		t.Fatalf("read answer %+v", r)
	}
	tr.SendRead("b", 3, []byte("absent"), deadline, got, 2)
	if r := got.next(t); r.i != 2 || r.err != nil || r.sib != nil {
		t.Fatalf("read of an absent key: %+v", r)
	}
	tr.SendWrite("b", 0, []byte("bad"), sib("a", "v", 1), "", deadline, got, 3)
	var re *RemoteError
	if r := got.next(t); !errors.As(r.err, &re) || re.Op != OpWrite || errors.Is(r.err, coordinator.ErrUnreachable) {
		t.Fatalf("remote failure: %+v", r)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.hints) != 1 || h.hints[0] != "c 3/k" {
		t.Fatalf("hints %q", h.hints)
	}
}

// A call the peer never answers fails at its deadline, others on the
// connection are unaffected, and the late reply is dropped.
func TestSendDeadline(t *testing.T) {
	release := make(chan struct{})
	b := startNode(t, "b", testSecret, stuckHandler(release), "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	if err := tr.Ping(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	got := make(answers, 16)
	start := time.Now()
	tr.SendRead("b", 0, []byte("stuck"), start.Add(100*time.Millisecond), got, 0)
	tr.SendRead("b", 0, []byte("stuck"), start.Add(50*time.Millisecond), got, 1) // earlier, sent later
	for i := range 5 {
		tr.SendWrite("b", 0, []byte(fmt.Sprint("k", i)), sib("a", "v", 1), "", start.Add(time.Hour), got, 10+i)
	}
	for range 5 {
		if r := got.next(t); r.err != nil || r.i < 10 {
			t.Fatalf("answer %+v before the stuck calls' deadlines", r)
		}
	}
	for _, want := range []int{1, 0} {
		r := got.next(t)
		if r.i != want || !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("answer %+v; want call %d to time out", r, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("deadlines took %v", d)
	}
	close(release)
	tr.SendRead("b", 0, []byte("k0"), time.Now().Add(10*time.Second), got, 20)
	if r := got.next(t); r.i != 20 || r.err != nil {
		t.Fatalf("after late replies: %+v", r)
	}
	if s := tr.Stats(); s.ConnsLost != 0 || s.Failed != 2 {
		t.Fatalf("stats %+v; want 2 failed calls and no lost connection", s)
	}
}

// Killing the peer fails its calls in flight at once; a peer that is down
// fails new calls without waiting for their deadline.
func TestSendPeerKilled(t *testing.T) {
	started := make(chan struct{}, 8)
	h := newFakeHandler()
	h.gate = func(ctx context.Context, _ Op, key []byte) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	b := startNode(t, "b", testSecret, h, "")
	tr, _ := newTestTransport(t, "a", testSecret, b)
	got := make(answers, 8)
	for i := range 4 {
		tr.SendWrite("b", 0, []byte("hang"), sib("a", "v", 1), "", time.Now().Add(time.Minute), got, i)
	}
	for range 4 {
		<-started
	}
	b.kill(t)
	for range 4 {
		if r := got.next(t); !errors.Is(r.err, coordinator.ErrUnreachable) {
			t.Fatalf("in-flight call: %+v; want ErrUnreachable", r)
		}
	}
	start := time.Now()
	tr.SendRead("b", 0, []byte("k"), time.Now().Add(time.Minute), got, 9)
	if r := got.next(t); !errors.Is(r.err, coordinator.ErrUnreachable) || time.Since(start) > 5*time.Second {
		t.Fatalf("call to a dead peer: %+v after %v", r, time.Since(start))
	}
}
