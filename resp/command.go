package resp

import (
	"context"
	"sync"
	"sync/atomic"
)

// handlerFunc runs one command. args[0] is the command name as sent; the
// arity has already been checked against the table. The handler writes
// exactly one reply to w and never keeps w or args after it returns.
type handlerFunc func(ctx context.Context, s *Session, w *Writer, args [][]byte)

// command is one entry of the command table. The same entry answers COMMAND
// (go-redis routes by arity, flags and key positions), checks arity, and says
// how the cluster layer must route the command.
type command struct {
	name     string   // lower case; a subcommand's is "container|sub", as Redis prints it
	arity    int      // Redis arity: n = exactly n args counting the name, -n = at least n
	flags    []string // COMMAND flags: "write", "readonly", "denyoom", "fast", "admin", "noscript", "loading", "stale", ...
	firstKey int      // position of the first key, 0 if keyless
	lastKey  int      // position of the last key; -1 = the last argument
	keyStep  int      // step between keys (2 for MSET)
	// rmw marks a read-modify-write on a single key: in a cluster it runs on
	// the key's primary under the per-key lock (DESIGN.md "Versions").
	rmw bool
	// blind, when set, says for which arguments an rmw command is a blind
	// write after all (SET without NX/XX/GET/KEEPTTL), so any replica may
	// coordinate it instead of the primary.
	blind   func(args [][]byte) bool
	handler handlerFunc

	// acl lists the ACL categories COMMAND shows ("@read", "@string", ...);
	// nil derives them from flags.
	acl []string
	// subs makes this a container command (CLIENT, CONFIG, ...): args[1]
	// names the entry that runs, and this entry's handler is not used.
	subs table
	// noAuth and write are set from flags when the table is built: the
	// command runs before AUTH succeeds; the command may change keys.
	noAuth, write bool
}

// Session is the per-connection state a command can read or change.
// It belongs to one connection. The keyed data commands of one pipeline may
// run concurrently (pipeline.go), so what execute itself records (last
// command, counters) is safe for that; every other command runs alone and
// may change the session's fields. Other connections read a few fields for
// CLIENT LIST: those are changed through the methods below, which hold mu,
// and read by others under mu.
type Session struct {
	ID       int64
	DB       int    // selected database; change it with SetDB
	Name     string // CLIENT SETNAME; change it with SetName
	LibName  string // CLIENT SETINFO LIB-NAME; change it with SetLib
	LibVer   string // CLIENT SETINFO LIB-VER; change it with SetLib
	Authed   bool   // true when no password is required or AUTH succeeded
	ReadOnly bool   // READONLY was sent (informational: every node serves reads)
	Asking   bool   // ASKING was sent (informational: no slot is ever migrating)
	Addr     string // remote address
	// LocalAddr is the address the client connected to.
	LocalAddr string
	Created   int64 // unix ms the connection was accepted
	// Quit asks the server to close the connection after flushing the reply
	// and to run no command the client pipelined after this one.
	Quit bool

	mu sync.Mutex // guards writes to DB, Name, LibName, LibVer, ReadOnly

	fd int // the socket's file descriptor, for CLIENT LIST

	quorumR, quorumW int // QUORUM r w for this connection; 0 = the node default

	// forwarded: the session runs one command another node forwarded
	// (ExecuteForwarded), which route never forwards again.
	forwarded bool

	lastCmd    atomic.Pointer[command]
	lastActive atomic.Int64 // Server.nanotime of the last command (set by handle)
	commands   atomic.Int64 // commands run on this connection
	errors     atomic.Int64 // error replies sent on this connection
	netIn      atomic.Int64 // bytes read from the client
	netOut     atomic.Int64 // bytes written to the client
}

// SetDB selects db for the session's later commands.
func (s *Session) SetDB(db int) {
	s.mu.Lock()
	s.DB = db
	s.mu.Unlock()
}

// SetName sets the CLIENT SETNAME name ("" clears it).
func (s *Session) SetName(name string) {
	s.mu.Lock()
	s.Name = name
	s.mu.Unlock()
}

// SetLib records a CLIENT SETINFO value; an empty value clears it.
func (s *Session) SetLib(name, ver *string) {
	s.mu.Lock()
	if name != nil {
		s.LibName = *name
	}
	if ver != nil {
		s.LibVer = *ver
	}
	s.mu.Unlock()
}

// setLastCmd records c as the last command run, for CLIENT LIST. It may
// run concurrently for the commands of one pipeline.
func (s *Session) setLastCmd(c *command) {
	if s.lastCmd.Load() != c { // the common case, the same command again, writes nothing
		s.lastCmd.Store(c)
	}
}

// LastCmd is the full name of the last command run ("get", "client|list"),
// "" before the first.
func (s *Session) LastCmd() string {
	if c := s.lastCmd.Load(); c != nil {
		return c.name
	}
	return ""
}

// sessionView is a copy of what CLIENT LIST shows about a session, taken
// under its lock.
type sessionView struct {
	id                      int64
	fd                      int
	addr, laddr             string
	name, libName, libVer   string
	db                      int
	lastCmd                 string
	created, lastActive     int64
	readOnly                bool
	commands, netIn, netOut int64
}

func (s *Session) view() sessionView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sessionView{
		id: s.ID, fd: s.fd, addr: s.Addr, laddr: s.LocalAddr,
		name: s.Name, libName: s.LibName, libVer: s.LibVer,
		db: s.DB, lastCmd: s.LastCmd(),
		created: s.Created, lastActive: s.lastActive.Load(),
		readOnly: s.ReadOnly,
		commands: s.commands.Load(), netIn: s.netIn.Load(), netOut: s.netOut.Load(),
	}
}
