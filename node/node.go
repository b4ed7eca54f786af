// Package node assembles one ringstore node from its parts: the pebble
// engine, the coordinator and the RESP server (and, as the ring grows, the
// membership and peer transport). It owns their start-up order and their
// shutdown, so that cmd/ringstore and in-process cluster tests start nodes
// the same way. It holds no request logic of its own and must never be
// imported by the packages it wires.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"sync"

	"github.com/ringstore/ringstore/antientropy"
	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/resp"
)

var logLevels = map[string]slog.Level{
	"debug":   slog.LevelDebug,
	"verbose": slog.LevelDebug,
	"notice":  slog.LevelInfo,
	"warning": slog.LevelWarn,
}

// Node is a running ringstore node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	logLevel slog.LevelVar // CONFIG SET loglevel changes it
	logFile  io.Closer
	id       string
	store    *engine.Store
	coord    *coordinator.Coordinator
	srv      *resp.Server
	ln       net.Listener

	peerLn      net.Listener
	members     *cluster.Membership
	transport   *cluster.Transport
	peerSrv     *cluster.PeerServer
	topo        *topologyView
	transfers   *cluster.Transfers
	antiEntropy *antientropy.AntiEntropy // nil when anti-entropy-interval-ms is 0
	pprof       *http.Server

	serveErr chan error
	once     sync.Once
	closeErr error
}

// Options are how a program (not an operator) adjusts a node: where logs go
// and, for in-process cluster tests, a wrapper around the peer transport
// (fault injection).
type Options struct {
	Stderr        io.Writer
	WrapTransport func(self string, t coordinator.Transport) coordinator.Transport
}

// Start validates cfg, opens the data directory and begins serving clients,
// logging to stderr. On error everything it opened is closed again.
func Start(cfg Config, stderr io.Writer) (*Node, error) {
	return StartWith(cfg, Options{Stderr: stderr})
}

// StartWith is Start with Options.
func StartWith(cfg Config, opts Options) (n *Node, err error) {
	stderr := opts.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n = &Node{cfg: cfg, serveErr: make(chan error, 1)}
	// The error returns below set n to nil: close what was opened through a
	// copy of the pointer.
	opened := n
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	out := stderr
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("logfile: %w", err)
		}
		n.logFile, out = f, f
	}
	n.logLevel.Set(logLevels[cfg.LogLevel])
	n.log = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: &n.logLevel}))

	ecfg := engine.DefaultConfig()
	ecfg.Dir = cfg.DataDir
	ecfg.Fsync = cfg.Fsync
	ecfg.Databases = cfg.Databases
	ecfg.Logger = n.log.With("component", "engine")
	if n.store, err = engine.Open(ecfg); err != nil {
		return nil, fmt.Errorf("open data dir %s: %w", cfg.DataDir, err)
	}
	if n.id, err = nodeID(n.store); err != nil {
		return nil, err
	}
	n.log = n.log.With("node", n.id[:8])

	// The RESP listener comes first so that the address announced in
	// gossip is the real one even when the port is chosen by the system.
	if n.ln, err = net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.Port))); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	announcePort := cfg.AnnouncePort
	if announcePort == 0 {
		announcePort = n.ln.Addr().(*net.TCPAddr).Port
	}
	if err := n.startRing(net.JoinHostPort(cfg.announceHost(), strconv.Itoa(announcePort))); err != nil {
		return nil, err
	}
	n.topo = &topologyView{m: n.members, n: cfg.N}

	ccfg := coordinator.DefaultConfig()
	ccfg.NodeID = n.id
	ccfg.Databases = cfg.Databases
	ccfg.Logger = n.log.With("component", "coordinator")
	ccfg.N, ccfg.R, ccfg.W = cfg.N, cfg.R, cfg.W
	ccfg.ReadRepairChance, ccfg.SpeculativeRead = cfg.ReadRepairChance, cfg.SpeculativeRead
	ccfg.Transport = n.transport
	if opts.WrapTransport != nil {
		ccfg.Transport = opts.WrapTransport(n.id, n.transport)
	}
	ccfg.Topology = n.topo.Topology
	ccfg.Reachability = n.members
	ccfg.Hints = engineHints{n.store}
	if n.coord, err = coordinator.New(ccfg, n.store); err != nil {
		return nil, err
	}

	rcfg := resp.DefaultConfig()
	rcfg.RequirePass = cfg.RequirePass
	rcfg.ProtoMaxBulkLen = cfg.ProtoMaxBulkLen
	rcfg.MaxClients = cfg.MaxClients
	rcfg.IdleTimeout = cfg.Timeout
	rcfg.Logger = n.log.With("component", "resp")
	if rcfg.Params, err = n.configParams(); err != nil {
		return nil, err
	}
	rcfg.Ring = ringAdmin{n.members, n.topo}
	rcfg.Info = n.info
	rcfg.Redirects = cfg.Redirects
	if n.srv, err = resp.NewServer(rcfg, n.coord); err != nil {
		return nil, err
	}
	pcfg := cluster.DefaultPeerServerConfig()
	pcfg.NodeID = n.id
	pcfg.Secret = []byte(cfg.ClusterSecret)
	pcfg.Logger = n.log.With("component", "peer")
	if n.peerSrv, err = cluster.NewPeerServer(pcfg, peerHandler{n.coord, n.srv}); err != nil {
		return nil, err
	}
	// Transfers first: the page handler tells it when others pull from
	// this node, so that it does not purge what they still read.
	if err := n.startTransfers(); err != nil {
		return nil, err
	}
	if err := n.peerSrv.Handle(cluster.OpSlotPage, n.transfers.PageHandler(n.store, cfg.Databases)); err != nil {
		return nil, err
	}
	for op, h := range antientropy.Handlers(n.store) {
		if err := n.peerSrv.Handle(op, h); err != nil {
			return nil, err
		}
	}
	go n.peerSrv.Serve(n.peerLn)
	if err := n.startAntiEntropy(); err != nil {
		return nil, err
	}
	if cfg.PprofAddr != "" {
		if err := n.startPprof(cfg.PprofAddr); err != nil {
			return nil, err
		}
	}
	go func() { n.serveErr <- n.srv.Serve(n.ln) }()
	n.log.Info("ready to accept connections", "addr", n.ln.Addr().String(), "dir", cfg.DataDir, "fsync", cfg.Fsync.String())
	return n, nil
}

// Addr is the address clients connect to.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// ID is the node's durable identity.
func (n *Node) ID() string { return n.id }

// Done receives the error that stopped the RESP server (nil after Close).
func (n *Node) Done() <-chan error { return n.serveErr }

// Close stops serving, closes every client connection, then flushes and
// closes the store. It is idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		var errs []error
		if n.srv != nil {
			errs = append(errs, n.srv.Close())
		} else if n.ln != nil {
			errs = append(errs, n.ln.Close())
		}
		// Stop taking peer calls, let in-flight replica calls and read
		// repairs finish, then leave gossip (as down, not gone: a stopped
		// node keeps its place in the ring) before the store closes.
		if n.pprof != nil {
			n.pprof.Close()
		}
		if n.transfers != nil {
			n.transfers.Close()
		}
		if n.antiEntropy != nil {
			n.antiEntropy.Close()
		}
		if n.peerSrv != nil {
			errs = append(errs, n.peerSrv.Close())
		} else if n.peerLn != nil {
			errs = append(errs, n.peerLn.Close())
		}
		if n.coord != nil {
			n.coord.Close()
		}
		if n.transport != nil {
			errs = append(errs, n.transport.Close())
		}
		if n.members != nil {
			errs = append(errs, n.members.Close())
		}
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		if n.log != nil {
			n.log.Info("shut down")
		}
		if n.logFile != nil {
			errs = append(errs, n.logFile.Close())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// startPprof serves the Go profiler on its own mux (never the default one).
func (n *Node) startPprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	n.pprof = &http.Server{Handler: mux}
	go n.pprof.Serve(ln)
	n.log.Info("profiling endpoints", "addr", ln.Addr().String())
	return nil
}

// peerHandler serves peer calls: replica reads and writes from the
// coordinator, forwarded commands from the RESP layer.
type peerHandler struct {
	*coordinator.Coordinator
	srv *resp.Server
}

// A peerHandler answers replica reads from the record cache with the stored
// bytes (the Coordinator's ServeReadCached, promoted).
var _ coordinator.CachedReader = peerHandler{}

func (h peerHandler) ServeForward(ctx context.Context, db int, args [][]byte) ([]byte, error) {
	return h.srv.ExecuteForwarded(ctx, db, args), nil
}

// nodeID returns the node's identity, generating and storing it on first start.
func nodeID(st *engine.Store) (string, error) {
	if id, ok, err := st.GetMeta("node-id"); err != nil {
		return "", fmt.Errorf("read node id: %w", err)
	} else if ok {
		return string(id), nil
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	if err := st.PutMeta("node-id", []byte(id)); err != nil {
		return "", fmt.Errorf("store node id: %w", err)
	}
	return id, nil
}

// configParams publishes the node's settings to CONFIG GET under their
// redis.conf names. The RESP server registers and applies the ones it can
// change at run time (requirepass, maxclients, timeout, proto-max-bulk-len,
// databases), and the node applies loglevel; the rest need a restart, so
// CONFIG SET refuses them.
func (n *Node) configParams() (*resp.Params, error) {
	ps := resp.NewParams()
	ownedByServer := map[string]bool{"requirepass": true, "maxclients": true, "timeout": true, "proto-max-bulk-len": true, "databases": true}
	var list []resp.Param
	for _, p := range params() {
		if ownedByServer[p.name] {
			continue
		}
		q := resp.Param{Name: p.name, Value: p.get(&n.cfg)}
		if p.name == "loglevel" {
			q.Set = n.setLogLevel
		}
		list = append(list, q)
	}
	// What Redis tools ask and set about persistence: the pebble WAL is
	// always on, like an AOF, and there are no RDB snapshots or memory
	// limit. Setting a parameter to what it already is succeeds, so that
	// the usual test-suite set-up (CONFIG SET save "", appendonly yes)
	// works; asking for anything else gets the reason it cannot be.
	list = append(list,
		resp.Param{Name: "appendonly", Value: "yes", Set: onlyValue(resp.BoolParam(), "yes",
			"ringstore always logs writes (its write-ahead log is its append-only file)")},
		resp.Param{Name: "save", Value: "", Set: onlyValue(func(v string) (string, error) { return v, nil }, "",
			"ringstore takes no RDB snapshots: every write is already on disk")},
		resp.Param{Name: "maxmemory", Value: "0", Set: onlyValue(resp.MemoryParam(0, math.MaxInt64), "0",
			"ringstore has no memory limit: its data lives on disk")},
	)
	return ps, ps.Register(list...)
}

// setLogLevel is CONFIG SET loglevel: the level applies to the node's
// every log line from now on.
func (n *Node) setLogLevel(v string) (string, error) {
	v, err := resp.EnumParam("debug", "verbose", "notice", "warning")(v)
	if err != nil {
		return "", err
	}
	n.logLevel.Set(logLevels[v])
	return v, nil
}

// onlyValue is a CONFIG SET check that parses a value with parse and
// accepts only the one it normalises to want, refusing others with why.
func onlyValue(parse func(string) (string, error), want, why string) func(string) (string, error) {
	return func(v string) (string, error) {
		got, err := parse(v)
		if err != nil {
			return "", err
		}
		if got != want {
			return "", errors.New(why)
		}
		return got, nil
	}
}
