package resp

import "context"

// handlerFunc runs one command. args[0] is the command name as sent; the
// arity has already been checked against the table. The handler writes
// exactly one reply to w and never keeps w or args after it returns.
type handlerFunc func(ctx context.Context, s *Session, w *Writer, args [][]byte)

// command is one entry of the command table. The same entry answers COMMAND
// (go-redis routes by arity, flags and key positions), checks arity, and says
// how the cluster layer must route the command.
type command struct {
	name     string   // lower case
	arity    int      // Redis arity: n = exactly n args counting the name, -n = at least n
	flags    []string // COMMAND flags: "write", "readonly", "denyoom", "fast", "admin", "noscript", "loading", "stale", ...
	firstKey int      // position of the first key, 0 if keyless
	lastKey  int      // position of the last key; -1 = the last argument
	keyStep  int      // step between keys (2 for MSET)
	// rmw marks a read-modify-write on a single key: in a cluster it runs on
	// the key's primary under the per-key lock (DESIGN.md "Versions").
	rmw     bool
	handler handlerFunc
}

// Session is the per-connection state a command can read or change.
// It belongs to one connection and is only touched by the goroutine serving
// that connection's current command.
type Session struct {
	ID       int64
	DB       int    // selected database
	Name     string // CLIENT SETNAME
	LibName  string // CLIENT SETINFO LIB-NAME
	LibVer   string // CLIENT SETINFO LIB-VER
	Authed   bool   // true when no password is required or AUTH succeeded
	ReadOnly bool   // READONLY was sent (informational: every node serves reads)
	Addr     string // remote address
	Created  int64  // unix ms the connection was accepted
	LastCmd  string
	// Quit asks the server to close the connection after flushing the reply.
	Quit bool
}
