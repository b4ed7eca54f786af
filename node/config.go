package node

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ringstore/ringstore/engine"
)

// Config is everything a node needs, with the names operators know from
// redis.conf where Redis has the same setting.
type Config struct {
	Bind            string             // bind: address for clients, default 127.0.0.1 (protected mode)
	Port            int                // port: RESP port, default 6379; 0 picks a free port (tests)
	DataDir         string             // dir: where pebble keeps the data, default ./ringstore-data
	Fsync           engine.FsyncPolicy // appendfsync: always | everysec (default) | no
	RequirePass     string             // requirepass: client password, default none
	Databases       int                // databases: SELECT 0..n-1, default 16
	MaxClients      int                // maxclients: default 10000
	Timeout         time.Duration      // timeout: close idle clients after this long, 0 (default) = never
	ProtoMaxBulkLen int64              // proto-max-bulk-len: default 512mb
	LogLevel        string             // loglevel: debug | verbose | notice (default) | warning
	LogFile         string             // logfile: "" (default) = stderr

	// The ring.
	GossipPort    int      // gossip-port: memberlist port; 0 (default) = port+20000, or a free port when port is 0
	PeerPort      int      // peer-port: node-to-node calls; 0 (default) = port+10000 (Redis's cluster-bus offset), or a free port when port is 0
	Join          []string // join: gossip addresses (host:port) of ring members to join at start
	ClusterSecret string   // cluster-secret: encrypts gossip and authenticates peer calls; every node needs the same
	N, R, W       int      // n, r, w: replicas per key, reads and acks awaited; defaults 3, 2, 2
	// read-repair-chance: fraction of reads that ask all n replicas and
	// repair stale ones (the others ask r); default 0.1.
	ReadRepairChance float64
	// speculative-read-ms: a read asks the replicas it skipped after this
	// long without r answers; default 50.
	SpeculativeRead time.Duration
	// anti-entropy-interval-ms: time between two anti-entropy rounds, in
	// which this node compares slot digests with its replicas and repairs
	// what differs; 0 turns it off; default 30000.
	AntiEntropyInterval time.Duration
	AnnounceIP          string // cluster-announce-ip: address clients and peers reach this node at; default bind
	AnnouncePort        int    // cluster-announce-port: RESP port clients reach this node at; default port
	GossipProfile       string // gossip-profile: lan (default; ~5 s failure detection) or local (fast probes for one machine)
	PprofAddr           string // pprof-addr: serve net/http/pprof here (e.g. 127.0.0.1:6060) for profiling; default off
	Redirects           bool   // cluster-redirects: answer MOVED for keys outside this node's preference lists instead of forwarding; default no
}

// DefaultConfig returns the embedded defaults: a node a user can start with
// no flags at all.
func DefaultConfig() Config {
	return Config{
		Bind:                "127.0.0.1",
		Port:                6379,
		DataDir:             "./ringstore-data",
		Fsync:               engine.FsyncEverySec,
		Databases:           16,
		MaxClients:          10000,
		ProtoMaxBulkLen:     512 << 20,
		LogLevel:            "notice",
		N:                   3,
		R:                   2,
		W:                   2,
		ReadRepairChance:    0.1,
		SpeculativeRead:     50 * time.Millisecond,
		AntiEntropyInterval: 30 * time.Second,
		GossipProfile:       "lan",
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if net.ParseIP(c.Bind) == nil && c.Bind != "localhost" {
		errs = append(errs, fmt.Errorf("bind: %q is not an IP address", c.Bind))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d is out of range 0..65535", c.Port))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("dir: must not be empty"))
	}
	if c.Databases < 1 || c.Databases > 256 {
		errs = append(errs, fmt.Errorf("databases: %d is out of range 1..256", c.Databases))
	}
	if c.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("maxclients: %d must be at least 1", c.MaxClients))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %v must not be negative", c.Timeout))
	}
	if c.ProtoMaxBulkLen < 1<<20 {
		errs = append(errs, fmt.Errorf("proto-max-bulk-len: %d is below the minimum 1mb", c.ProtoMaxBulkLen))
	}
	for _, p := range []struct {
		name string
		port int
	}{{"gossip-port", c.GossipPort}, {"peer-port", c.PeerPort}, {"cluster-announce-port", c.AnnouncePort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is out of range 0..65535", p.name, p.port))
		}
	}
	if c.N < 1 || c.R < 1 || c.W < 1 || c.R > c.N || c.W > c.N {
		errs = append(errs, fmt.Errorf("n, r, w: need 1 <= r,w <= n, got n=%d r=%d w=%d", c.N, c.R, c.W))
	}
	if !(c.ReadRepairChance >= 0 && c.ReadRepairChance <= 1) {
		errs = append(errs, fmt.Errorf("read-repair-chance: %v is out of range 0..1", c.ReadRepairChance))
	}
	if c.SpeculativeRead < time.Millisecond {
		errs = append(errs, fmt.Errorf("speculative-read-ms: %d must be at least 1", c.SpeculativeRead/time.Millisecond))
	}
	if c.AntiEntropyInterval < 0 {
		errs = append(errs, fmt.Errorf("anti-entropy-interval-ms: %d must not be negative", c.AntiEntropyInterval/time.Millisecond))
	}
	if c.AnnounceIP != "" && net.ParseIP(c.AnnounceIP) == nil {
		errs = append(errs, fmt.Errorf("cluster-announce-ip: %q is not an IP address", c.AnnounceIP))
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("pprof-addr: %q is not host:port", c.PprofAddr))
		}
	}
	if c.GossipProfile != "lan" && c.GossipProfile != "local" {
		errs = append(errs, fmt.Errorf("gossip-profile: %q is not lan or local", c.GossipProfile))
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("join: %q is not host:port", j))
		}
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		errs = append(errs, fmt.Errorf("loglevel: %q is not one of debug, verbose, notice, warning", c.LogLevel))
	}
	return errors.Join(errs...)
}

// param is one configuration keyword: how to parse it into a Config and how
// to print it back for CONFIG GET.
type param struct {
	name  string
	usage string
	set   func(c *Config, v string) error
	get   func(c *Config) string
}

// params lists every keyword accepted by flags, the config file and CONFIG
// GET. Flag names are the keyword, except where ringstore's own name reads
// better on a command line (data-dir, fsync).
func params() []param {
	return []param{
		{"bind", "address to listen on for clients", func(c *Config, v string) error { c.Bind = v; return nil }, func(c *Config) string { return c.Bind }},
		{"port", "RESP port", intParam(func(c *Config, n int) { c.Port = n }), func(c *Config) string { return strconv.Itoa(c.Port) }},
		{"dir", "data directory", func(c *Config, v string) error { c.DataDir = v; return nil }, func(c *Config) string { return c.DataDir }},
		{"appendfsync", "fsync policy: always, everysec or no", func(c *Config, v string) error {
			p, err := engine.ParseFsync(v)
			c.Fsync = p
			return err
		}, func(c *Config) string { return c.Fsync.String() }},
		{"requirepass", "password clients must AUTH with", func(c *Config, v string) error { c.RequirePass = v; return nil }, func(c *Config) string { return c.RequirePass }},
		{"databases", "number of databases", intParam(func(c *Config, n int) { c.Databases = n }), func(c *Config) string { return strconv.Itoa(c.Databases) }},
		{"maxclients", "maximum client connections", intParam(func(c *Config, n int) { c.MaxClients = n }), func(c *Config) string { return strconv.Itoa(c.MaxClients) }},
		{"timeout", "close idle clients after this many seconds (0 = never)", intParam(func(c *Config, n int) { c.Timeout = time.Duration(n) * time.Second }), func(c *Config) string { return strconv.Itoa(int(c.Timeout / time.Second)) }},
		{"proto-max-bulk-len", "largest bulk string a client may send (bytes, or 512mb style)", func(c *Config, v string) error {
			n, err := parseMemory(v)
			c.ProtoMaxBulkLen = n
			return err
		}, func(c *Config) string { return strconv.FormatInt(c.ProtoMaxBulkLen, 10) }},
		{"loglevel", "debug, verbose, notice or warning", func(c *Config, v string) error { c.LogLevel = strings.ToLower(v); return nil }, func(c *Config) string { return c.LogLevel }},
		{"logfile", "log to this file instead of stderr", func(c *Config, v string) error { c.LogFile = v; return nil }, func(c *Config) string { return c.LogFile }},
		{"gossip-port", "gossip (memberlist) port; 0 = port+20000", intParam(func(c *Config, n int) { c.GossipPort = n }), func(c *Config) string { return strconv.Itoa(c.GossipPort) }},
		{"peer-port", "node-to-node port; 0 = port+10000", intParam(func(c *Config, n int) { c.PeerPort = n }), func(c *Config) string { return strconv.Itoa(c.PeerPort) }},
		{"join", "gossip address host:port of a ring member to join (repeat or comma-separate)", func(c *Config, v string) error {
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					c.Join = append(c.Join, a)
				}
			}
			return nil
		}, func(c *Config) string { return strings.Join(c.Join, ",") }},
		{"cluster-secret", "shared secret of the ring (gossip encryption, peer authentication)", func(c *Config, v string) error { c.ClusterSecret = v; return nil }, func(c *Config) string { return c.ClusterSecret }},
		{"n", "replicas per key", intParam(func(c *Config, n int) { c.N = n }), func(c *Config) string { return strconv.Itoa(c.N) }},
		{"r", "replies a read waits for", intParam(func(c *Config, n int) { c.R = n }), func(c *Config) string { return strconv.Itoa(c.R) }},
		{"w", "acknowledgements a write waits for", intParam(func(c *Config, n int) { c.W = n }), func(c *Config) string { return strconv.Itoa(c.W) }},
		{"read-repair-chance", "fraction of reads that ask all n replicas and repair stale ones (0..1)", func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			c.ReadRepairChance = f
			return nil
		}, func(c *Config) string { return strconv.FormatFloat(c.ReadRepairChance, 'g', -1, 64) }},
		{"speculative-read-ms", "a read asks the replicas it skipped after this many ms without r answers", intParam(func(c *Config, n int) { c.SpeculativeRead = time.Duration(n) * time.Millisecond }), func(c *Config) string { return strconv.Itoa(int(c.SpeculativeRead / time.Millisecond)) }},
		{"anti-entropy-interval-ms", "ms between two anti-entropy rounds (slot digests compared with replicas, differences repaired); 0 = off", intParam(func(c *Config, n int) { c.AntiEntropyInterval = time.Duration(n) * time.Millisecond }), func(c *Config) string { return strconv.Itoa(int(c.AntiEntropyInterval / time.Millisecond)) }},
		{"cluster-announce-ip", "address clients and peers reach this node at (default: bind)", func(c *Config, v string) error { c.AnnounceIP = v; return nil }, func(c *Config) string { return c.AnnounceIP }},
		{"cluster-announce-port", "RESP port clients reach this node at (default: port)", intParam(func(c *Config, n int) { c.AnnouncePort = n }), func(c *Config) string { return strconv.Itoa(c.AnnouncePort) }},
		{"gossip-profile", "lan (default) or local: failure detection timing", func(c *Config, v string) error { c.GossipProfile = strings.ToLower(v); return nil }, func(c *Config) string { return c.GossipProfile }},
		{"cluster-redirects", "yes: answer MOVED for keys this node does not replicate (cluster-aware clients only); no (default): forward", func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "yes", "true", "1":
				c.Redirects = true
			case "no", "false", "0":
				c.Redirects = false
			default:
				return fmt.Errorf("%q is not yes or no", v)
			}
			return nil
		}, func(c *Config) string {
			if c.Redirects {
				return "yes"
			}
			return "no"
		}},
		{"pprof-addr", "serve Go profiling endpoints (net/http/pprof) on this address; default off", func(c *Config, v string) error { c.PprofAddr = v; return nil }, func(c *Config) string { return c.PprofAddr }},
	}
}

func intParam(set func(*Config, int)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		set(c, n)
		return nil
	}
}

// parseMemory reads a byte count the way redis.conf does: 1k = 1000,
// 1kb = 1024, and so on for m/mb and g/gb.
func parseMemory(v string) (int64, error) {
	s := strings.ToLower(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a memory size", v)
	}
	return n * mult, nil
}
