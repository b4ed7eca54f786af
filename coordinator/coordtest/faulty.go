package coordtest

import (
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
	f.mu.Lock()
	var delay time.Duration
	var err error
	for _, x := range f.faults {
		d, e := x.Apply(from, to, f.rng)
		delay += d
		if e != nil && err == nil {
			err = e
		}
	}
	f.mu.Unlock()
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

// Faulty wraps a real Transport of node From so that calls pass through
// Faults first.
type Faulty struct {
	Inner  coordinator.Transport
	From   string
	Faults *Faults
}

func (t *Faulty) Read(ctx context.Context, node string, db int, key []byte) (version.Siblings, error) {
	if err := t.Faults.apply(ctx, t.From, node); err != nil {
		return nil, err
	}
	return t.Inner.Read(ctx, node, db, key)
}

func (t *Faulty) Write(ctx context.Context, node string, db int, key []byte, sib version.Siblings, hintFor string) error {
	if err := t.Faults.apply(ctx, t.From, node); err != nil {
		return err
	}
	return t.Inner.Write(ctx, node, db, key, sib, hintFor)
}

func (t *Faulty) Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error) {
	if err := t.Faults.apply(ctx, t.From, node); err != nil {
		return nil, err
	}
	return t.Inner.Forward(ctx, node, db, args)
}
