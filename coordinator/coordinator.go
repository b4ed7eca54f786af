package coordinator

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringstore/ringstore/version"
)

// Store is a node's local storage of sibling sets. engine.Store implements
// it. Implementations are safe for concurrent use; returned keys and
// siblings belong to the caller.
type Store interface {
	// Get returns the key's stored siblings, nil when absent.
	Get(db int, key []byte) (version.Siblings, error)
	// Merge atomically merges in with the stored siblings and returns the result.
	Merge(db int, key []byte, in version.Siblings) (version.Siblings, error)
	// Update atomically merges what fn returns, given the stored siblings,
	// and returns the result; an error from fn is returned and nothing is
	// written. fn must be quick and must not call the Store.
	Update(db int, key []byte, fn func(cur version.Siblings) (version.Siblings, error)) (version.Siblings, error)
	// ScanSlot visits db's records in slot in key order after `after`, until fn returns false.
	ScanSlot(db int, slot uint16, after []byte, fn func(key []byte, sib version.Siblings) bool) error
	// ScanSlots visits db's records in slots from..to, in slot then key order, until fn returns false.
	ScanSlots(db int, from, to uint16, fn func(slot uint16, key []byte, sib version.Siblings) bool) error
	FlushDB(db int) error
	FlushAll() error
	// SlotKeys counts db's records in slot whose last writer is a value
	// (present), and those of them with an expiry time (expiring); ok false
	// means there are no counts to trust and the slot must be scanned.
	SlotKeys(db int, slot uint16) (present, expiring int64, ok bool)
}

// Config configures a Coordinator.
type Config struct {
	// NodeID is this node's 40-hex identity; it stamps every clock entry the
	// node writes. Required.
	NodeID string
	// Databases is the number of logical databases (SELECT 0..n-1). Default 16.
	Databases int
	// Now reads the wall clock. Default time.Now.
	Now func() time.Time
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger

	// N is how many replicas hold each key, R how many must answer a read
	// and W how many must acknowledge a write. Defaults 3, 2, 2. All three
	// are clamped to the number of ring members at request time.
	N, R, W int
	// CallTimeout bounds each call to a replica; a replica that does not
	// answer in time counts as failed for that request. Default 1s.
	CallTimeout time.Duration
	// ReadRepairChance is the fraction of reads that ask all N replicas and
	// repair the stale ones; the others ask R (this node first when it is a
	// replica) and fall back to the rest only on a failure or after
	// SpeculativeRead. Asking R instead of N saves a replica round trip per
	// read, which is most of a read's cost on a loaded ring; writes always
	// go to all N, and a replica that missed one gets it by hinted handoff,
	// so convergence does not depend on read repair. Default 0.1, as
	// Cassandra's read_repair_chance was; 1 is Dynamo's ask-everyone.
	ReadRepairChance float64
	// SpeculativeRead is how long a read waits for the replicas it asked
	// before it asks the others too. Default 50ms.
	SpeculativeRead time.Duration
	// Transport reaches the other nodes. nil means a one-node ring.
	Transport Transport
	// Topology returns the current ring snapshot. nil means a one-node ring
	// of this node alone.
	Topology func() *Topology
	// Hints keeps writes for replicas that could not take them. nil: none
	// are kept (a one-node ring needs none).
	Hints HintStore
	// HandoffInterval and HandoffBatch throttle hinted handoff: at most
	// HandoffBatch hints per target every HandoffInterval. Defaults 200ms
	// and 500.
	HandoffInterval time.Duration
	HandoffBatch    int
	// Reachability receives the coordinator's own evidence about peers
	// (failed or successful calls). May be nil.
	Reachability Reachability
}

// Reachability is told what the coordinator learns about peers from its own
// calls, so routing can avoid a dead peer before gossip notices.
type Reachability interface {
	ReportUnreachable(node string)
	ReportReachable(node string)
}

// DefaultConfig returns a Config with every default filled except NodeID.
func DefaultConfig() Config {
	return Config{Databases: 16, Now: time.Now, Logger: slog.New(slog.DiscardHandler), N: 3, R: 2, W: 2, CallTimeout: time.Second,
		ReadRepairChance: 0.1, SpeculativeRead: 50 * time.Millisecond, HandoffInterval: 200 * time.Millisecond, HandoffBatch: 500}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("coordinator: NodeID is required"))
	}
	if c.Databases < 1 || c.Databases > 256 {
		errs = append(errs, fmt.Errorf("coordinator: databases must be 1..256, got %d", c.Databases))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("coordinator: Now is required"))
	}
	if c.N < 1 || c.R < 1 || c.W < 1 || c.R > c.N || c.W > c.N {
		errs = append(errs, fmt.Errorf("coordinator: need 1 <= R,W <= N, got N=%d R=%d W=%d", c.N, c.R, c.W))
	}
	if c.CallTimeout <= 0 {
		errs = append(errs, errors.New("coordinator: CallTimeout must be positive"))
	}
	if !(c.ReadRepairChance >= 0 && c.ReadRepairChance <= 1) {
		errs = append(errs, fmt.Errorf("coordinator: ReadRepairChance must be 0..1, got %v", c.ReadRepairChance))
	}
	if c.SpeculativeRead <= 0 {
		errs = append(errs, errors.New("coordinator: SpeculativeRead must be positive"))
	}
	if c.Hints != nil && (c.HandoffInterval <= 0 || c.HandoffBatch < 1) {
		errs = append(errs, errors.New("coordinator: HandoffInterval and HandoffBatch must be positive"))
	}
	if (c.Transport == nil) != (c.Topology == nil) {
		errs = append(errs, errors.New("coordinator: Transport and Topology go together"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("coordinator: Logger is required"))
	}
	return errors.Join(errs...)
}

// Coordinator serves the reads and writes of keys. Safe for concurrent use.
type Coordinator struct {
	cfg   Config
	store Store
	locks keyLocks

	hlcMu sync.Mutex
	hlc   version.HLC // guarded by hlcMu: the last timestamp issued

	selfPlan plan                      // the plan of a one-node ring
	plans    atomic.Pointer[planCache] // plans of the latest topology seen
	fanouts  sync.Pool                 // *fanout, recycled by their last user
	timers   sync.Pool                 // *time.Timer of awaitRead, stopped
	blind    sync.Pool                 // *blindBatch, between SupersedeMany calls
	ids      version.Decoder           // node IDs of replicas' answers (fanout.ReplyRecord)

	stats    Stats
	bg       sync.WaitGroup // background replica calls and read repairs
	loops    sync.WaitGroup // long-running loops (hinted handoff)
	closing  chan struct{}
	closeOne sync.Once
}

// New returns a Coordinator over store. cfg must pass Validate.
func New(cfg Config, store Store) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, store: store, locks: newKeyLocks(), closing: make(chan struct{})}
	c.selfPlan = plan{targets: []string{cfg.NodeID}, hint: []string{""}, self: true, selfIdx: 0, n: 1}
	if cfg.Hints != nil && cfg.Transport != nil {
		c.loops.Add(1)
		go c.handoffLoop()
	}
	return c, nil
}

// Close stops hinted handoff and waits for background replica calls and
// read repairs to finish (each is bounded by CallTimeout).
func (c *Coordinator) Close() {
	c.closeOne.Do(func() { close(c.closing) })
	c.loops.Wait()
	c.bg.Wait()
}

// Quiesce waits for the background replica calls and read repairs started
// so far, leaving the coordinator running.
func (c *Coordinator) Quiesce() { c.bg.Wait() }

// NodeID returns this node's identity.
func (c *Coordinator) NodeID() string { return c.cfg.NodeID }

// Databases returns the number of logical databases.
func (c *Coordinator) Databases() int { return c.cfg.Databases }

// NowMillis is the coordinator's wall clock in Unix milliseconds; expiry
// decisions everywhere use it so tests can control time.
func (c *Coordinator) NowMillis() int64 { return c.cfg.Now().UnixMilli() }

// nextTimestamp issues a strictly increasing HLC reading, with the wall
// clock's sub-millisecond part (version.HLC.NextMicros).
func (c *Coordinator) nextTimestamp() version.HLC { return c.nextTimestamps(1) }

// nextTimestamps issues n consecutive readings, as n calls of nextTimestamp
// in a row would, and returns the first: a batch of writes (SetMany) reads
// the clock and takes the lock once, not once per key.
func (c *Coordinator) nextTimestamps(n int) version.HLC {
	now := c.cfg.Now().UnixMicro()
	c.hlcMu.Lock()
	c.hlc = c.hlc.NextMicros(now)
	t := c.hlc
	for range n - 1 {
		c.hlc = c.hlc.NextMicros(now)
	}
	c.hlcMu.Unlock()
	return t
}

// keyLocks serialises read-modify-write commands per key without a lock per
// key: a fixed set of mutexes chosen by hash. Two keys may share a mutex,
// which costs only concurrency.
type keyLocks struct {
	seed maphash.Seed
	mu   [512]sync.Mutex
}

func newKeyLocks() keyLocks { return keyLocks{seed: maphash.MakeSeed()} }

func (l *keyLocks) lock(db int, key []byte) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteByte(byte(db))
	h.Write(key)
	m := &l.mu[h.Sum64()%uint64(len(l.mu))]
	m.Lock()
	return m
}

func (c *Coordinator) checkDB(db int) error {
	if db < 0 || db >= c.cfg.Databases {
		return fmt.Errorf("coordinator: db %d out of range", db)
	}
	return nil
}

// ctxErr returns ctx's error if it is done, so no work starts for a request
// its client already gave up on.
func ctxErr(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}
