package resp

import (
	"context"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// INFO [section ...]: Redis 7's sections with the fields clients read
// (redis_version, redis_mode, loading, connected_clients,
// master_repl_offset, cluster_enabled, the keyspace), then whatever
// Config.Info adds.

// infoSections are the sections in the order Redis prints them, and
// whether each is part of INFO's default reply.
var infoSections = []struct {
	name    string
	dflt    bool
	produce func(srv *Server, ctx context.Context, b []byte) []byte
}{
	{"server", true, (*Server).infoServer},
	{"clients", true, (*Server).infoClients},
	{"memory", true, (*Server).infoMemory},
	{"persistence", true, (*Server).infoPersistence},
	{"stats", true, (*Server).infoStats},
	{"replication", true, (*Server).infoReplication},
	{"cpu", true, (*Server).infoCPU},
	{"modules", true, (*Server).infoModules},
	{"errorstats", true, (*Server).infoErrorStats},
	{"cluster", true, (*Server).infoCluster},
	{"keyspace", true, (*Server).infoKeyspace},
}

// cmdInfo is INFO [section ...]. Section names are case-insensitive;
// "default", "all" and "everything" select groups; unknown names add
// nothing.
func (srv *Server) cmdInfo(ctx context.Context, _ *Session, w *Writer, args [][]byte) {
	want := map[string]bool{}
	names := []string{"default"}
	if len(args) > 1 {
		names = names[:0]
		for _, a := range args[1:] {
			names = append(names, strings.ToLower(string(a)))
		}
	}
	for _, n := range names {
		switch n {
		case "default":
			for _, s := range infoSections {
				want[s.name] = want[s.name] || s.dflt
			}
		case "all", "everything":
			for _, s := range infoSections {
				want[s.name] = true
			}
		default:
			want[n] = true
		}
	}
	var b []byte
	for _, s := range infoSections {
		if !want[s.name] {
			continue
		}
		if len(b) > 0 {
			b = append(b, "\r\n"...)
		}
		b = s.produce(srv, ctx, b)
	}
	if srv.cfg.Info != nil {
		for _, n := range names {
			extra := srv.cfg.Info(n)
			if extra == "" {
				continue
			}
			if len(b) > 0 {
				b = append(b, "\r\n"...)
			}
			b = append(b, extra...)
		}
	}
	w.Bulk(b)
}

// field appends "name:value\r\n".
func field(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ':')
	b = append(b, value...)
	return append(b, '\r', '\n')
}

func fieldInt(b []byte, name string, v int64) []byte {
	b = append(b, name...)
	b = append(b, ':')
	b = strconv.AppendInt(b, v, 10)
	return append(b, '\r', '\n')
}

func (srv *Server) infoServer(_ context.Context, b []byte) []byte {
	b = append(b, "# Server\r\n"...)
	b = field(b, "redis_version", serverVersion)
	b = field(b, "redis_git_sha1", "00000000")
	b = field(b, "redis_git_dirty", "0")
	b = field(b, "redis_build_id", "0")
	b = field(b, "redis_mode", "cluster")
	b = field(b, "os", osName())
	b = fieldInt(b, "arch_bits", strconv.IntSize)
	b = field(b, "monotonic_clock", "POSIX clock_gettime")
	b = field(b, "multiplexing_api", "epoll")
	b = field(b, "atomicvar_api", "c11-builtin")
	b = field(b, "gcc_version", "0.0.0")
	b = field(b, "go_version", runtime.Version())
	b = fieldInt(b, "process_id", int64(os.Getpid()))
	b = field(b, "process_supervised", "no")
	b = field(b, "run_id", srv.runID)
	b = fieldInt(b, "tcp_port", int64(srv.port()))
	now := time.Now()
	b = fieldInt(b, "server_time_usec", now.UnixMicro())
	up := int64(time.Since(srv.started) / time.Second)
	b = fieldInt(b, "uptime_in_seconds", up)
	b = fieldInt(b, "uptime_in_days", up/86400)
	b = field(b, "hz", "10")
	b = field(b, "configured_hz", "10")
	b = fieldInt(b, "lru_clock", now.Unix()&(1<<24-1))
	exe, _ := os.Executable()
	b = field(b, "executable", exe)
	b = field(b, "config_file", "")
	b = field(b, "io_threads_active", "0")
	return b
}

// osName is what Redis prints as os: "Linux x86_64" style.
func osName() string {
	goos := runtime.GOOS
	if goos != "" {
		goos = strings.ToUpper(goos[:1]) + goos[1:]
	}
	arch := runtime.GOARCH
	switch arch {
	case "amd64":
		arch = "x86_64"
	case "arm64":
		arch = "aarch64"
	}
	return goos + " " + arch
}

// port is the TCP port Serve listens on, 0 before Serve.
func (srv *Server) port() int {
	srv.mu.Lock()
	ln := srv.ln
	srv.mu.Unlock()
	if ln == nil {
		return 0
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

func (srv *Server) infoClients(_ context.Context, b []byte) []byte {
	srv.mu.Lock()
	n := len(srv.conns)
	srv.mu.Unlock()
	b = append(b, "# Clients\r\n"...)
	b = fieldInt(b, "connected_clients", int64(n))
	b = field(b, "cluster_connections", "0")
	b = fieldInt(b, "maxclients", srv.maxClients.Load())
	b = field(b, "client_recent_max_input_buffer", "0")
	b = field(b, "client_recent_max_output_buffer", "0")
	b = field(b, "blocked_clients", "0")
	b = field(b, "tracking_clients", "0")
	b = field(b, "clients_in_timeout_table", "0")
	return b
}

// memSamples are the runtime/metrics INFO memory reads.
var memSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
}

func (srv *Server) infoMemory(_ context.Context, b []byte) []byte {
	samples := make([]metrics.Sample, len(memSamples))
	for i, n := range memSamples {
		samples[i].Name = n
	}
	metrics.Read(samples)
	val := func(i int) int64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return int64(samples[i].Value.Uint64())
		}
		return 0
	}
	used, total := val(0), val(1)
	b = append(b, "# Memory\r\n"...)
	b = fieldInt(b, "used_memory", used)
	b = field(b, "used_memory_human", humanBytes(used))
	b = fieldInt(b, "used_memory_rss", total)
	b = field(b, "used_memory_rss_human", humanBytes(total))
	b = fieldInt(b, "maxmemory", 0)
	b = field(b, "maxmemory_human", "0B")
	b = field(b, "maxmemory_policy", "noeviction")
	b = field(b, "mem_allocator", "go")
	return b
}

// humanBytes formats n as Redis's bytesToHuman does ("1.78M").
func humanBytes(n int64) string {
	f := float64(n)
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + "B"
	case n < 1024*1024:
		return strconv.FormatFloat(f/1024, 'f', 2, 64) + "K"
	case n < 1024*1024*1024:
		return strconv.FormatFloat(f/(1024*1024), 'f', 2, 64) + "M"
	case n < 1024*1024*1024*1024:
		return strconv.FormatFloat(f/(1024*1024*1024), 'f', 2, 64) + "G"
	}
	return strconv.FormatFloat(f/(1024*1024*1024*1024), 'f', 2, 64) + "T"
}

func (srv *Server) infoPersistence(_ context.Context, b []byte) []byte {
	aof := "0"
	if v, _ := srv.params.Get("appendonly"); v == "yes" {
		aof = "1"
	}
	b = append(b, "# Persistence\r\n"...)
	b = field(b, "loading", "0")
	b = field(b, "async_loading", "0")
	b = field(b, "rdb_changes_since_last_save", "0")
	b = field(b, "rdb_bgsave_in_progress", "0")
	b = fieldInt(b, "rdb_last_save_time", srv.started.Unix())
	b = field(b, "rdb_last_bgsave_status", "ok")
	b = field(b, "aof_enabled", aof)
	b = field(b, "aof_rewrite_in_progress", "0")
	b = field(b, "aof_rewrite_scheduled", "0")
	b = field(b, "aof_last_bgrewrite_status", "ok")
	b = field(b, "aof_last_write_status", "ok")
	return b
}

// totals adds the live connections' counters to those of closed ones.
func (srv *Server) totals() (commands, errs, netIn, netOut int64) {
	commands, errs = srv.stats.commands.Load(), srv.stats.errors.Load()
	netIn, netOut = srv.stats.netIn.Load(), srv.stats.netOut.Load()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, cs := range srv.conns {
		commands += cs.sess.commands.Load()
		errs += cs.sess.errors.Load()
		netIn += cs.sess.netIn.Load()
		netOut += cs.sess.netOut.Load()
	}
	return
}

// resetStats is CONFIG RESETSTAT.
func (srv *Server) resetStats() {
	srv.stats.connections.Store(0)
	srv.stats.rejected.Store(0)
	srv.stats.commands.Store(0)
	srv.stats.errors.Store(0)
	srv.stats.netIn.Store(0)
	srv.stats.netOut.Store(0)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, cs := range srv.conns {
		cs.sess.commands.Store(0)
		cs.sess.errors.Store(0)
		cs.sess.netIn.Store(0)
		cs.sess.netOut.Store(0)
	}
	srv.stats.opsMu.Lock()
	srv.stats.opsAt, srv.stats.opsCount, srv.stats.opsRate = 0, 0, 0
	srv.stats.opsMu.Unlock()
}

// opsPerSec is the command rate since the previous INFO that is at least a
// second old (Redis samples every 100 ms; INFO readers want a rough rate).
func (srv *Server) opsPerSec(commands int64) int64 {
	st := &srv.stats
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	now := srv.nanotime()
	if st.opsAt == 0 {
		st.opsAt, st.opsCount = now, commands
		return 0
	}
	if el := now - st.opsAt; el >= int64(time.Second) {
		st.opsRate = (commands - st.opsCount) * int64(time.Second) / el
		st.opsAt, st.opsCount = now, commands
	}
	return st.opsRate
}

func (srv *Server) infoStats(_ context.Context, b []byte) []byte {
	commands, errs, netIn, netOut := srv.totals()
	b = append(b, "# Stats\r\n"...)
	b = fieldInt(b, "total_connections_received", srv.stats.connections.Load())
	b = fieldInt(b, "total_commands_processed", commands)
	b = fieldInt(b, "instantaneous_ops_per_sec", srv.opsPerSec(commands))
	b = fieldInt(b, "total_net_input_bytes", netIn)
	b = fieldInt(b, "total_net_output_bytes", netOut)
	b = field(b, "instantaneous_input_kbps", "0.00")
	b = field(b, "instantaneous_output_kbps", "0.00")
	b = fieldInt(b, "rejected_connections", srv.stats.rejected.Load())
	b = field(b, "expired_keys", "0")
	b = field(b, "evicted_keys", "0")
	b = field(b, "keyspace_hits", "0")
	b = field(b, "keyspace_misses", "0")
	b = field(b, "pubsub_channels", "0")
	b = field(b, "pubsub_patterns", "0")
	b = field(b, "total_forks", "0")
	b = field(b, "unexpected_error_replies", "0")
	b = fieldInt(b, "total_error_replies", errs)
	return b
}

func (srv *Server) infoReplication(_ context.Context, b []byte) []byte {
	b = append(b, "# Replication\r\n"...)
	b = field(b, "role", "master")
	b = field(b, "connected_slaves", "0")
	b = field(b, "master_failover_state", "no-failover")
	b = field(b, "master_replid", srv.runID)
	b = field(b, "master_replid2", "0000000000000000000000000000000000000000")
	b = field(b, "master_repl_offset", "0")
	b = field(b, "second_repl_offset", "-1")
	b = field(b, "repl_backlog_active", "0")
	b = field(b, "repl_backlog_size", "1048576")
	b = field(b, "repl_backlog_first_byte_offset", "0")
	b = field(b, "repl_backlog_histlen", "0")
	return b
}

func (srv *Server) infoCPU(_ context.Context, b []byte) []byte {
	sys, user := cpuTimes()
	b = append(b, "# CPU\r\n"...)
	b = field(b, "used_cpu_sys", strconv.FormatFloat(sys, 'f', 6, 64))
	b = field(b, "used_cpu_user", strconv.FormatFloat(user, 'f', 6, 64))
	b = field(b, "used_cpu_sys_children", "0.000000")
	b = field(b, "used_cpu_user_children", "0.000000")
	return b
}

func (srv *Server) infoModules(_ context.Context, b []byte) []byte {
	return append(b, "# Modules\r\n"...)
}

func (srv *Server) infoErrorStats(_ context.Context, b []byte) []byte {
	return append(b, "# Errorstats\r\n"...)
}

func (srv *Server) infoCluster(_ context.Context, b []byte) []byte {
	b = append(b, "# Cluster\r\n"...)
	return field(b, "cluster_enabled", "1")
}

func (srv *Server) infoKeyspace(ctx context.Context, b []byte) []byte {
	b = append(b, "# Keyspace\r\n"...)
	for _, d := range srv.keyspaceCounts(ctx) {
		b = append(b, "db"...)
		b = strconv.AppendInt(b, int64(d.db), 10)
		b = append(b, ":keys="...)
		b = strconv.AppendInt(b, d.keys, 10)
		b = append(b, ",expires="...)
		b = strconv.AppendInt(b, d.expires, 10)
		b = append(b, ",avg_ttl=0\r\n"...)
	}
	return b
}

// keyspaceCache keeps INFO's key counts. Counting reads the store's
// per-slot counts, but must scan the slots that hold keys with an expiry time
// (coordinator.KeyCounts), which in a store full of TTLs is a scan of every
// database. So it depends on what the last count cost:
//   - one that took under cheap is redone for every INFO (concurrent ones
//     share it): INFO then shows a count begun after it arrived, which sees
//     the caller's own writes, keys that expired, and writes other nodes
//     made here, as Redis's numbers do;
//   - a costlier one is reused until a write command or a flush ran here,
//     and then redone at most once per interval.
//
// The count runs in the background: INFO waits for it at most keyspaceWait
// and otherwise shows the previous count. Small stores thus get exact
// numbers, big ones numbers a little behind, and INFO (which ioredis sends
// on every new connection) stays fast.
type keyspaceCache struct {
	dirty    atomic.Bool   // a write command ran since the last count began
	interval time.Duration // least time between two counts that are not cheap; default keyspaceInterval
	cheap    time.Duration // a count that took less is redone for every INFO; default keyspaceCheap
	mu       sync.Mutex
	from     time.Time     // guarded by mu: when the count of dbs began; zero: never counted
	at       time.Time     // guarded by mu: when it ended
	dbs      []dbCount     // guarded by mu
	running  chan struct{} // guarded by mu: closed when the running count ends; nil: none
}

// answers reports whether dbs may answer an INFO that arrived at arrived.
// k.mu must be held.
func (k *keyspaceCache) answers(arrived time.Time) bool {
	switch {
	case k.from.IsZero():
		return false
	case k.at.Sub(k.from) < k.cheap:
		return !k.from.Before(arrived)
	}
	return !k.dirty.Load() || time.Since(k.at) < k.interval
}

type dbCount struct {
	db            int
	keys, expires int64
}

const (
	keyspaceInterval = time.Second
	keyspaceCheap    = 5 * time.Millisecond
	keyspaceWait     = 100 * time.Millisecond
	keyspaceBudget   = 10 * time.Second
)

// touch records that the keyspace may have changed. It is called for every
// write command, so it writes the shared flag only when it is not set.
func (k *keyspaceCache) touch() {
	if !k.dirty.Load() {
		k.dirty.Store(true)
	}
}

// keyspaceCounts returns the non-empty databases' key counts.
func (srv *Server) keyspaceCounts(ctx context.Context) []dbCount {
	k := &srv.keyspace
	arrived := time.Now()
	t := time.NewTimer(keyspaceWait)
	defer t.Stop()
	k.mu.Lock()
	defer k.mu.Unlock()
	// A count that was running when this INFO arrived began before it, so
	// after it ends a second may be needed; a third would only follow a
	// failed one, and the last count stands in for it.
	for range 2 {
		if k.answers(arrived) {
			break
		}
		done := k.running
		if done == nil {
			done = make(chan struct{})
			k.running = done
			k.dirty.Store(false) // writes during the count mark it dirty again
			srv.bg.Add(1)
			go srv.countKeyspace(done)
		}
		k.mu.Unlock()
		select {
		case <-done:
		case <-t.C:
			done = nil
		case <-ctx.Done():
			done = nil
		}
		k.mu.Lock()
		if done == nil {
			break
		}
	}
	return k.dbs
}

// countKeyspace counts every database's keys and closes done.
func (srv *Server) countKeyspace(done chan struct{}) {
	defer srv.bg.Done()
	ctx, cancel := context.WithTimeout(srv.base, keyspaceBudget)
	defer cancel()
	start := time.Now()
	var out []dbCount
	var err error
	for db := 0; db < srv.coord.Databases() && err == nil; db++ {
		d := dbCount{db: db}
		d.keys, d.expires, err = srv.coord.KeyCounts(ctx, db)
		if d.keys > 0 {
			out = append(out, d)
		}
	}
	k := &srv.keyspace
	k.mu.Lock()
	if err == nil {
		k.dbs, k.from, k.at = out, start, time.Now()
		srv.log.Debug("INFO keyspace counted", "took", k.at.Sub(start))
	} else {
		k.dirty.Store(true) // try again next time
		srv.log.Debug("INFO keyspace count incomplete", "err", err)
	}
	k.running = nil
	k.mu.Unlock()
	close(done)
}
