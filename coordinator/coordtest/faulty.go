package coordtest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// Faults is a shared, changeable set of faults that any number of Faulty
// transports consult, so one test can partition a whole in-process cluster
// of real transports.
type Faults struct {
	mu     sync.Mutex
	faults []Fault    // guarded by mu
	rng    *rand.Rand // guarded by mu
}

// NewFaults returns an empty fault set whose random faults draw from seed.
func NewFaults(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Add injects faults.
func (f *Faults) Add(fs ...Fault) {
	f.mu.Lock()
	f.faults = append(f.faults, fs...)
	f.mu.Unlock()
}

// Heal removes every fault.
func (f *Faults) Heal() {
	f.mu.Lock()
	f.faults = nil
	f.mu.Unlock()
}

func (f *Faults) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, x := range f.faults {
		s = append(s, x.String())
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// apply decides the fate of one call, sleeping for any delay (or until ctx
// is done).
func (f *Faults) apply(ctx context.Context, from, to string) error {
	delay, err := f.decide(from, to)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return err
}

// decide draws the delay and the error of one call.
func (f *Faults) decide(from, to string) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var delay time.Duration
	var err error
	for _, x := range f.faults {
		d, e := x.Apply(from, to, f.rng)
		delay += d
		if e != nil && err == nil {
			err = e
		}
	}
	return delay, err
}

// Faulty wraps a real Transport of node From so that calls pass through
// Faults first.
type Faulty struct {
	Inner  coordinator.Transport
	From   string
	Faults *Faults
}

// pass decides a call's fate. It returns true when the call may go to the
// inner transport now; otherwise the call is failed, or sent after its
// delay by send (which must not use the caller's key or siblings).
func (t *Faulty) pass(node string, deadline time.Time, to coordinator.Replies, i int, send func()) bool {
	delay, err := t.Faults.decide(t.From, node)
	switch {
	case err != nil && delay == 0:
		to.Reply(i, nil, err)
		return false
	case delay == 0:
		return true
	}
	go func() {
		wait := time.NewTimer(delay)
		defer wait.Stop()
		cut := time.NewTimer(time.Until(deadline))
		defer cut.Stop()
		select {
		case <-wait.C:
		case <-cut.C:
			to.Reply(i, nil, context.DeadlineExceeded)
			return
		}
		if err != nil {
			to.Reply(i, nil, err)
			return
		}
		send()
	}()
	return false
}

func (t *Faulty) SendRead(node string, db int, key []byte, deadline time.Time, to coordinator.Replies, i int) {
	k := bytes.Clone(key)
	if t.pass(node, deadline, to, i, func() { t.Inner.SendRead(node, db, k, deadline, to, i) }) {
		t.Inner.SendRead(node, db, key, deadline, to, i)
	}
}

func (t *Faulty) SendWrite(node string, db int, key []byte, sib version.Siblings, hintFor string, deadline time.Time, to coordinator.Replies, i int) {
	k, s := bytes.Clone(key), clone(sib)
	if t.pass(node, deadline, to, i, func() { t.Inner.SendWrite(node, db, k, s, hintFor, deadline, to, i) }) {
		t.Inner.SendWrite(node, db, key, sib, hintFor, deadline, to, i)
	}
}

func (t *Faulty) Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error) {
	if err := t.Faults.apply(ctx, t.From, node); err != nil {
		return nil, err
	}
	return t.Inner.Forward(ctx, node, db, args)
}
