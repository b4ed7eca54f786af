package coordinator

import (
	"errors"
	"time"

	"github.com/ringstore/ringstore/version"
)

// Hint is a write kept for a replica that could not take it (sloppy
// quorum): handed off to Target when it is reachable again, then deleted.
type Hint struct {
	Target   string
	DB       int
	Key      []byte
	Siblings version.Siblings
	Seq      uint64 // identifies the hint in its store
}

// HintStore keeps hints durably (engine.Store, adapted). Safe for concurrent
// use.
type HintStore interface {
	PutHint(target string, db int, key []byte, sib version.Siblings) error
	// PendingHints returns up to limit hints for target, oldest first.
	PendingHints(target string, limit int) ([]Hint, error)
	RemoveHint(h Hint) error
	HintCounts() (map[string]int, error)
}

// ErrNoHintStore is returned by hint operations on a coordinator built
// without a HintStore.
var ErrNoHintStore = errors.New("coordinator: no hint store")

func (c *Coordinator) putHint(target string, db int, key []byte, sib version.Siblings) error {
	if c.cfg.Hints == nil {
		return ErrNoHintStore
	}
	if err := c.cfg.Hints.PutHint(target, db, key, sib); err != nil {
		return err
	}
	c.stats.HintsStored.Add(1)
	return nil
}

// keepHint stores a hint for target on this node, logging a failure: it is
// called where the write already has an answer for its client.
func (c *Coordinator) keepHint(target string, db int, key []byte, sib version.Siblings) {
	if err := c.putHint(target, db, key, sib); err != nil && !errors.Is(err, ErrNoHintStore) {
		c.cfg.Logger.Warn("keeping a hint failed", "target", target, "err", err)
	}
}

// HintCounts returns the hints pending here per target node.
func (c *Coordinator) HintCounts() map[string]int {
	if c.cfg.Hints == nil {
		return nil
	}
	m, err := c.cfg.Hints.HintCounts()
	if err != nil {
		c.cfg.Logger.Warn("counting hints failed", "err", err)
	}
	return m
}

// handoffLoop hands hints to their targets while the coordinator runs:
// every HandoffInterval, for each reachable target, up to HandoffBatch
// hints. The bound per interval is the throttle that keeps handoff kind to
// foreground requests.
func (c *Coordinator) handoffLoop() {
	defer c.loops.Done()
	t := time.NewTicker(c.cfg.HandoffInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
			c.handoffOnce()
		}
	}
}

// handoffOnce runs one round of handoff and returns how many hints it
// delivered.
func (c *Coordinator) handoffOnce() int {
	topo := c.topology()
	if topo == nil || c.cfg.Hints == nil {
		return 0
	}
	counts, err := c.cfg.Hints.HintCounts()
	if err != nil {
		c.cfg.Logger.Warn("counting hints failed", "err", err)
		return 0
	}
	done := 0
	for target, n := range counts {
		if n == 0 || target == c.cfg.NodeID || !topo.Up(target) {
			continue
		}
		hints, err := c.cfg.Hints.PendingHints(target, c.cfg.HandoffBatch)
		if err != nil {
			c.cfg.Logger.Warn("reading hints failed", "target", target, "err", err)
			continue
		}
		for _, h := range hints {
			select {
			case <-c.closing:
				return done
			default:
			}
			err := c.writeOne(h.Target, h.DB, h.Key, h.Siblings)
			if err != nil {
				c.report(h.Target, err)
				break // the target is failing again: try it next round
			}
			if err := c.cfg.Hints.RemoveHint(h); err != nil {
				c.cfg.Logger.Warn("deleting a handed-off hint failed", "target", target, "err", err)
				break
			}
			c.stats.HintsHandedOff.Add(1)
			done++
		}
	}
	return done
}
