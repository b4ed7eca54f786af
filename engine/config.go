package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FsyncPolicy says when a write reaches stable storage, like Redis's
// appendfsync. The zero value is FsyncEverySec.
type FsyncPolicy int

const (
	// FsyncEverySec acknowledges writes once they are in the write-ahead log
	// and syncs the log once a second: a crash loses at most about a second.
	FsyncEverySec FsyncPolicy = iota
	// FsyncAlways acknowledges a write only after the log is synced.
	// Concurrent writes share one fsync.
	FsyncAlways
	// FsyncNo leaves syncing to the operating system.
	FsyncNo
)

// ParseFsync parses "always", "everysec" or "no", in any case.
func ParseFsync(s string) (FsyncPolicy, error) {
	switch strings.ToLower(s) {
	case "always":
		return FsyncAlways, nil
	case "everysec":
		return FsyncEverySec, nil
	case "no":
		return FsyncNo, nil
	}
	return 0, fmt.Errorf("engine: fsync policy %q is not always, everysec or no", s)
}

// String returns the name ParseFsync accepts.
func (p FsyncPolicy) String() string {
	switch p {
	case FsyncAlways:
		return "always"
	case FsyncEverySec:
		return "everysec"
	case FsyncNo:
		return "no"
	}
	return fmt.Sprintf("FsyncPolicy(%d)", int(p))
}

// Defaults used for zero Config fields.
const (
	DefaultCacheSize      = 64 << 20
	DefaultMemTableSize   = 16 << 20
	DefaultRecordCache    = 64 << 20
	DefaultDatabases      = 16
	DefaultExpireInterval = 100 * time.Millisecond
	DefaultExpireBudget   = 2000
	DefaultTombstoneGrace = time.Hour
)

// maxMemTableSize is pebble's limit (it rejects 4 GiB and more).
const maxMemTableSize = 4<<30 - 1

// Config configures a Store. Every zero field means its default, so a
// Config{Dir: "data"} is complete.
type Config struct {
	// Dir is the directory holding the pebble database. Required unless FS is
	// an in-memory vfs (*vfs.MemFS), where it defaults to "ringstore".
	Dir string
	// FS is the filesystem; nil means the operating system's. Tests pass
	// vfs.NewMem() or vfs.NewCrashableMem().
	FS vfs.FS
	// Fsync is the durability policy. Default (zero) FsyncEverySec.
	Fsync FsyncPolicy
	// CacheSize is the block cache size in bytes. Default 64 MiB.
	CacheSize int64
	// MemTableSize is the size of one pebble memtable in bytes. Default 16 MiB:
	// every write inserts into the memtable skiplist, and a smaller one keeps
	// that insert cheaper (SET -P 16 measured ~20% faster than with 64 MiB).
	MemTableSize uint64
	// RecordCacheSize is the memory, in bytes, for recently used records kept
	// in front of pebble, so that Get and Merge usually skip pebble's read
	// path. Default 64 MiB; negative disables it.
	RecordCacheSize int64
	// Databases is the number of logical databases (SELECT 0..n-1).
	// Default 16, at most 256.
	Databases int
	// ExpireInterval is the period of the background expiry cycle while
	// it finds work; passes that find none are spaced out further (see
	// expirePacer). Default 100ms.
	ExpireInterval time.Duration
	// ExpireBudget is the most records one expiry cycle examines, which bounds
	// the work (and pause) of a cycle; a range of keys the walk finds empty
	// costs as much as a record. Default 2000.
	ExpireBudget int
	// TombstoneGrace is how long a tombstone is kept before it is purged.
	// Default 1h.
	TombstoneGrace time.Duration
	// Now reads the wall clock for expiry. Default time.Now.
	Now func() time.Time
	// Logger receives pebble's log and engine warnings. Default discards.
	Logger *slog.Logger

	// upgradeBatchBytes is the size of a batch of records Open rewrites in
	// the current format (0: upgradeBatchBytes); tests make it small.
	upgradeBatchBytes int
}

// DefaultConfig returns a Config with every default filled in and no Dir.
func DefaultConfig() Config {
	var c Config
	c.fillDefaults()
	return c
}

// DefaultLocalConfig returns a fast configuration for tests: an in-memory
// filesystem, small caches, no fsync, 10ms expiry cycles.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.FS = vfs.NewMem()
	c.Fsync = FsyncNo
	c.CacheSize = 8 << 20
	c.MemTableSize = 4 << 20
	c.RecordCacheSize = 8 << 20
	c.ExpireInterval = 10 * time.Millisecond
	c.fillDefaults()
	return c
}

func (c *Config) fillDefaults() {
	if c.Dir == "" && isMemFS(c.FS) {
		c.Dir = "ringstore"
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.RecordCacheSize == 0 {
		c.RecordCacheSize = DefaultRecordCache
	}
	if c.Databases == 0 {
		c.Databases = DefaultDatabases
	}
	if c.ExpireInterval == 0 {
		c.ExpireInterval = DefaultExpireInterval
	}
	if c.ExpireBudget == 0 {
		c.ExpireBudget = DefaultExpireBudget
	}
	if c.TombstoneGrace == 0 {
		c.TombstoneGrace = DefaultTombstoneGrace
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func isMemFS(fs vfs.FS) bool {
	_, ok := fs.(*vfs.MemFS)
	return ok
}

// Validate reports every problem with c at once. Zero fields are valid: they
// mean the default.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("engine: "+format, args...))
	}
	if c.Dir == "" && !isMemFS(c.FS) {
		bad("Dir is required unless FS is an in-memory vfs")
	}
	if c.Fsync < FsyncEverySec || c.Fsync > FsyncNo {
		bad("Fsync %v is not always, everysec or no", c.Fsync)
	}
	if c.CacheSize < 0 {
		bad("CacheSize %d is negative", c.CacheSize)
	}
	if c.MemTableSize > maxMemTableSize {
		bad("MemTableSize %d must be below 4 GiB", c.MemTableSize)
	}
	if c.Databases < 0 || c.Databases > MaxDatabases {
		bad("Databases %d must be between 1 and %d", c.Databases, MaxDatabases)
	}
	if c.ExpireInterval < 0 {
		bad("ExpireInterval %v is negative", c.ExpireInterval)
	}
	if c.ExpireBudget < 0 {
		bad("ExpireBudget %d is negative", c.ExpireBudget)
	}
	if c.TombstoneGrace < 0 {
		bad("TombstoneGrace %v is negative", c.TombstoneGrace)
	}
	return errors.Join(errs...)
}
