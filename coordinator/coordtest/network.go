package coordtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// Network connects coordinators in one process: each node registers its
// PeerHandler, and Transport(from) returns that node's view of the others.
// Faults are values added with Add and removed with Heal; each prints itself
// so a failing test says what was injected.
type Network struct {
	faults *Faults

	mu       sync.Mutex
	handlers map[string]coordinator.PeerHandler // guarded by mu
	calls    map[string]int                     // guarded by mu: calls per "from->to"
}

// NewNetwork returns an empty network whose random faults draw from seed.
func NewNetwork(seed uint64) *Network {
	return &Network{faults: NewFaults(seed), handlers: map[string]coordinator.PeerHandler{}, calls: map[string]int{}}
}

// Register makes node reachable, served by h (nil unregisters it: a crash).
func (n *Network) Register(node string, h coordinator.PeerHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h == nil {
		delete(n.handlers, node)
		return
	}
	n.handlers[node] = h
}

// Fault decides what happens to one call from -> to.
type Fault interface {
	// Apply returns an error to fail the call with, or a delay, or neither.
	Apply(from, to string, rng *rand.Rand) (time.Duration, error)
	String() string
}

// Add injects faults.
func (n *Network) Add(f ...Fault) { n.faults.Add(f...) }

// Heal removes every fault.
func (n *Network) Heal() { n.faults.Heal() }

// Faults describes the injected faults.
func (n *Network) Faults() string { return n.faults.String() }

// Calls returns how many calls from made to to.
func (n *Network) Calls(from, to string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[from+"->"+to]
}

// Partition cuts every call between the two groups, both ways.
type Partition struct{ A, B []string }

func (p Partition) Apply(from, to string, _ *rand.Rand) (time.Duration, error) {
	if (in(p.A, from) && in(p.B, to)) || (in(p.B, from) && in(p.A, to)) {
		return 0, fmt.Errorf("%w: partitioned", coordinator.ErrUnreachable)
	}
	return 0, nil
}
func (p Partition) String() string { return fmt.Sprintf("partition(%v|%v)", short(p.A), short(p.B)) }

// Drop fails a fraction of calls from From to To ("" matches any node).
type Drop struct {
	From, To string
	Rate     float64
}

func (d Drop) Apply(from, to string, rng *rand.Rand) (time.Duration, error) {
	if (d.From == "" || d.From == from) && (d.To == "" || d.To == to) && rng.Float64() < d.Rate {
		return 0, fmt.Errorf("%w: dropped", coordinator.ErrUnreachable)
	}
	return 0, nil
}
func (d Drop) String() string {
	return fmt.Sprintf("drop(%s->%s %.0f%%)", sh(d.From), sh(d.To), d.Rate*100)
}

// Delay holds calls to To ("" = any) for up to Max, uniformly.
type Delay struct {
	To  string
	Max time.Duration
}

func (d Delay) Apply(_, to string, rng *rand.Rand) (time.Duration, error) {
	if d.To == "" || d.To == to {
		return time.Duration(rng.Int64N(int64(d.Max) + 1)), nil
	}
	return 0, nil
}
func (d Delay) String() string { return fmt.Sprintf("delay(->%s ≤%v)", sh(d.To), d.Max) }

func in(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

func sh(s string) string {
	if s == "" {
		return "*"
	}
	return s[:min(len(s), 6)]
}

func short(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = sh(x)
	}
	return out
}

// Transport returns node from's transport into the network.
func (n *Network) Transport(from string) coordinator.Transport {
	return &netTransport{n: n, from: from}
}

type netTransport struct {
	n    *Network
	from string
}

// route counts a call and returns the handler to call after the faults,
// or the error a fault or a crashed node gives it.
func (t *netTransport) route(ctx context.Context, to string) (coordinator.PeerHandler, error) {
	t.n.mu.Lock()
	t.n.calls[t.from+"->"+to]++
	h := t.n.handlers[to]
	t.n.mu.Unlock()
	if err := t.n.faults.apply(ctx, t.from, to); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: %s is down", coordinator.ErrUnreachable, sh(to))
	}
	return h, nil
}

// SendRead implements coordinator.Transport: the call runs in a goroutine
// of its own, under the deadline, as a call on the wire would.
func (t *netTransport) SendRead(node string, db int, key []byte, deadline time.Time, to coordinator.Replies, i int) {
	key = bytes.Clone(key)
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		h, err := t.route(ctx, node)
		if err != nil {
			to.Reply(i, nil, err)
			return
		}
		s, err := h.ServeRead(ctx, db, key)
		if rr, ok := to.(coordinator.RecordReplies); ok && err == nil {
			// As the real transport: the answer travels encoded.
			var rec []byte
			if len(s) > 0 {
				rec = s.AppendBinary(nil)
			}
			rr.ReplyRecord(i, rec)
			return
		}
		to.Reply(i, clone(s), err)
	}()
}

// SendWrite implements coordinator.Transport, as SendRead.
func (t *netTransport) SendWrite(node string, db int, key []byte, sib version.Siblings, hintFor string, deadline time.Time, to coordinator.Replies, i int) {
	key, sib = bytes.Clone(key), clone(sib)
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		h, err := t.route(ctx, node)
		if err == nil {
			err = h.ServeWrite(ctx, db, key, sib, hintFor)
		}
		to.Reply(i, nil, err)
	}()
}

func (t *netTransport) Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error) {
	h, err := t.route(ctx, node)
	if err != nil {
		return nil, err
	}
	return h.ServeForward(ctx, db, args)
}

// Stall holds every call to To for exactly For: a replica that is alive but
// does not answer in time (a paused process, an overloaded host).
type Stall struct {
	To  string
	For time.Duration
}

func (s Stall) Apply(_, to string, _ *rand.Rand) (time.Duration, error) {
	if s.To == to {
		return s.For, nil
	}
	return 0, nil
}
func (s Stall) String() string { return fmt.Sprintf("stall(->%s %v)", sh(s.To), s.For) }
