package resp

import (
	"context"
	"crypto/subtle"
	"strconv"
)

// Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET,
// READONLY, READWRITE, ASKING, and CLIENT (client.go).

// serverVersion is the Redis version ringstore reports; clients gate
// features on it, and ringstore speaks the 7.2 command set it lists.
const serverVersion = "7.2.0"

var connFlags = []string{"loading", "stale", "fast"}

func (srv *Server) connectionCommands() []*command {
	conn := []string{"@fast", "@connection"}
	noAuth := []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}
	return []*command{
		{name: "ping", arity: -1, flags: []string{"fast"}, acl: conn, handler: srv.cmdPing},
		{name: "echo", arity: 2, flags: connFlags, acl: conn, handler: srv.cmdEcho},
		{name: "hello", arity: -1, flags: noAuth, acl: conn, handler: srv.cmdHello},
		{name: "auth", arity: -2, flags: noAuth, acl: conn, handler: srv.cmdAuth},
		{name: "select", arity: 2, flags: connFlags, acl: conn, handler: srv.cmdSelect},
		{name: "quit", arity: -1, flags: noAuth, acl: conn, handler: srv.cmdQuit},
		{name: "reset", arity: 1, flags: noAuth, acl: conn, handler: srv.cmdReset},
		{name: "readonly", arity: 1, flags: connFlags, acl: conn, handler: srv.cmdReadOnly},
		{name: "readwrite", arity: 1, flags: connFlags, acl: conn, handler: srv.cmdReadWrite},
		{name: "asking", arity: 1, flags: []string{"fast"}, acl: conn, handler: srv.cmdAsking},
		srv.clientCommand(),
	}
}

// cmdPing is PING [message].
func (srv *Server) cmdPing(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	switch len(args) {
	case 1:
		w.Status("PONG")
	case 2:
		w.Bulk(args[1])
	default:
		w.Error("ERR wrong number of arguments for 'ping' command")
	}
}

// cmdEcho is ECHO message.
func (srv *Server) cmdEcho(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	w.Bulk(args[1])
}

// cmdHello is HELLO [protover [AUTH username password] [SETNAME name]].
// Only RESP2 is spoken: HELLO 3 answers NOPROTO, which go-redis and ioredis
// take as "use RESP2".
func (srv *Server) cmdHello(_ context.Context, s *Session, w *Writer, args [][]byte) {
	next := 1
	if len(args) >= 2 {
		ver, ok := parseRedisInt(args[1])
		if !ok {
			w.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if ver != 2 {
			w.Error("NOPROTO unsupported protocol version")
			return
		}
		next = 2
	}
	var user, pass, name []byte
	var auth, setName bool
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case asciiEqualFold(args[j], "auth") && more >= 2:
			user, pass, auth = args[j+1], args[j+2], true
			j += 2
		case asciiEqualFold(args[j], "setname") && more >= 1:
			name, setName = args[j+1], true
			if !validClientAttr(name) {
				w.Error(errClientName)
				return
			}
			j++
		default:
			w.Error("ERR Syntax error in HELLO option '" + string(cString(args[j])) + "'")
			return
		}
	}
	if auth {
		if !srv.checkPassword(user, pass) {
			w.Error(errWrongPass)
			return
		}
		s.Authed = true
	}
	if !s.Authed {
		w.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName {
		s.SetName(string(name))
	}
	w.Array(14)
	w.BulkString("server")
	w.BulkString("redis")
	w.BulkString("version")
	w.BulkString(serverVersion)
	w.BulkString("proto")
	w.Int(2)
	w.BulkString("id")
	w.Int(s.ID)
	w.BulkString("mode")
	w.BulkString("cluster")
	w.BulkString("role")
	w.BulkString("master")
	w.BulkString("modules")
	w.Array(0)
}

// checkPassword reports whether user/pass authenticate the default user,
// the only user ringstore has. With no password configured any password
// does, as for Redis's nopass default user.
func (srv *Server) checkPassword(user, pass []byte) bool {
	if string(user) != "default" {
		return false
	}
	want := srv.password()
	if want == "" {
		return true
	}
	return subtle.ConstantTimeCompare(pass, []byte(want)) == 1
}

// cmdAuth is AUTH [username] password.
func (srv *Server) cmdAuth(_ context.Context, s *Session, w *Writer, args [][]byte) {
	if len(args) > 3 {
		w.Error(errSyntax)
		return
	}
	user, pass := []byte("default"), args[1]
	if len(args) == 2 {
		if srv.password() == "" {
			w.Error(errNoPassword)
			return
		}
	} else {
		user, pass = args[1], args[2]
	}
	if !srv.checkPassword(user, pass) {
		w.Error(errWrongPass)
		return
	}
	s.Authed = true
	w.Status("OK")
}

// cmdSelect is SELECT index, over databases 0..Databases-1 (cluster
// clients only ever select 0; DESIGN.md "Databases").
func (srv *Server) cmdSelect(_ context.Context, s *Session, w *Writer, args [][]byte) {
	db, ok := parseRedisInt(args[1])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	if db < -1<<31 || db > 1<<31-1 {
		w.Error("ERR value is out of range, value must between -2147483648 and 2147483647")
		return
	}
	if db < 0 || db >= int64(srv.coord.Databases()) {
		w.Error(errDBRange)
		return
	}
	s.SetDB(int(db))
	w.Status("OK")
}

// cmdQuit is QUIT: OK, then the connection closes.
func (srv *Server) cmdQuit(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	s.Quit = true
	w.Status("OK")
}

// cmdReset is RESET: the connection is as new (db 0, no name, READONLY and
// ASKING off, unauthenticated if a password is set); the library name and
// version stay, as in Redis 7.2.
func (srv *Server) cmdReset(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	s.mu.Lock()
	s.DB = 0
	s.Name = ""
	s.ReadOnly = false
	s.mu.Unlock()
	s.Asking = false
	s.Authed = srv.password() == ""
	w.Status("RESET")
}

// cmdReadOnly is READONLY. Every node serves reads of the keys it holds
// whether or not READONLY was sent (CLIENTS.md 7.3); the flag is kept for
// CLIENT LIST.
func (srv *Server) cmdReadOnly(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	s.mu.Lock()
	s.ReadOnly = true
	s.mu.Unlock()
	w.Status("OK")
}

// cmdReadWrite is READWRITE.
func (srv *Server) cmdReadWrite(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	s.mu.Lock()
	s.ReadOnly = false
	s.mu.Unlock()
	w.Status("OK")
}

// cmdAsking is ASKING. No slot is ever migrating in the Redis sense, so it
// changes nothing but is accepted, as redirect-following clients send it.
func (srv *Server) cmdAsking(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	s.Asking = true
	w.Status("OK")
}

// errClientName is Redis's text for a client name with a space, a newline
// or another character outside '!'..'~'.
const errClientName = "ERR Client names cannot contain spaces, newlines or special characters."

// validClientAttr reports whether v may be shown in CLIENT LIST: printable
// ASCII without spaces (Redis's validateClientAttr).
func validClientAttr(v []byte) bool {
	for _, c := range v {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
