package resp

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
)

// execute runs one command and writes exactly one reply to w (none only
// when a "host:" or "post" line shows that an HTTP client is talking to us:
// then, as Redis does, s.Quit is set and the connection closes silently).
// It is the single entry point for the connection loop, the tests and the
// fuzz test.
//
// In order, as Redis 7's processCommand: the name is looked up in any
// letter case (unknown -> ERR unknown command), a container's subcommand
// is looked up (ERR unknown subcommand), the arity is checked, then
// authentication (NOAUTH for every command not flagged no_auth). ctx carries
// the command's deadline; the caller chooses it (the connection path takes
// it from Server.deadlines).
func (srv *Server) execute(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	mark := w.Len()
	srv.dispatch(ctx, s, w, args)
	if w.Len() > mark && w.b[mark] == '-' {
		s.errors.Add(1)
	}
}

func (srv *Server) dispatch(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	var name []byte
	if len(args) > 0 {
		name = args[0]
	}
	c := srv.cmds.lookup(name)
	if c == nil {
		if asciiEqualFold(name, "host:") || asciiEqualFold(name, "post") {
			srv.log.Warn("possible security attack: a client sent an HTTP request line; closing its connection", "addr", s.Addr)
			s.Quit = true
			return
		}
		w.Error(unknownCommandText(args))
		return
	}
	if c.subs != nil && len(args) >= 2 {
		sub := c.subs.lookup(args[1])
		if sub == nil {
			w.Error(unknownSubcommandText(args[0], args[1]))
			return
		}
		c = sub
	}
	if !arityOK(c.arity, len(args)) {
		w.Error("ERR wrong number of arguments for '" + c.name + "' command")
		return
	}
	if !s.Authed && !c.noAuth {
		w.Error("NOAUTH Authentication required.")
		return
	}
	s.setLastCmd(c)
	s.commands.Add(1)
	if c.write {
		srv.keyspace.touch()
	}
	ctx = withQuorum(ctx, s)
	if srv.route(ctx, c, s, w, args) {
		return
	}
	if srv.recoverPanics {
		srv.runRecovering(ctx, c, s, w, args)
		return
	}
	c.handler(ctx, s, w, args)
}

// runRecovering runs c and turns a panic into "-ERR internal error" plus a
// logged stack. It is a last line of defence: the fuzz test runs handlers
// without it, so that no input can rely on it.
func (srv *Server) runRecovering(ctx context.Context, c *command, s *Session, w *Writer, args [][]byte) {
	defer srv.recoverInto(w, w.Len(), c.name)
	c.handler(ctx, s, w, args)
}

// recoverInto, deferred, turns a panic of the command named cmd into
// "-ERR internal error" in w, in place of what the command wrote after
// mark, and logs the stack. Without recoverPanics (the fuzz test) it lets
// the panic through.
func (srv *Server) recoverInto(w *Writer, mark int, cmd string) {
	if !srv.recoverPanics {
		return
	}
	if r := recover(); r != nil {
		srv.panicked(r, w, mark, cmd)
	}
}

// panicked answers a command that panicked with value r: its partial reply
// (w past mark) becomes an internal error, and the panic is logged.
func (srv *Server) panicked(r any, w *Writer, mark int, cmd string) {
	w.b = w.b[:mark] // drop a partial reply
	w.Error("ERR internal error")
	srv.log.Error("command panicked", "cmd", cmd, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

// maxErrArg is how much of a client's argument Redis quotes in an error.
const maxErrArg = 128

// cString cuts b at its first NUL, as C's %s does when Redis formats an
// argument into an error.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func clip(b []byte, n int) []byte {
	if n < 0 {
		n = 0
	}
	if len(b) > n {
		return b[:n]
	}
	return b
}

// unknownCommandText is Redis 7's text: the name and, quoted, the first
// arguments until 128 bytes of them have been quoted, each cut to what is
// left of the 128 (commandCheckExistence). Writer.Error turns CR and LF
// into spaces as Redis does.
func unknownCommandText(args [][]byte) string {
	b := make([]byte, 0, 64+2*maxErrArg)
	b = append(b, "ERR unknown command '"...)
	if len(args) > 0 {
		b = append(b, clip(cString(args[0]), maxErrArg)...)
	}
	b = append(b, "', with args beginning with: "...)
	quoted := 0 // bytes of the args list so far, as Redis's sdslen(args)
	for i := 1; i < len(args) && quoted < maxErrArg; i++ {
		a := clip(cString(args[i]), maxErrArg-quoted)
		b = append(b, '\'')
		b = append(b, a...)
		b = append(b, '\'', ' ')
		quoted += len(a) + 3
	}
	return string(b)
}

// unknownSubcommandText is Redis 7's text for a container command (CLIENT,
// CONFIG, ...) given a subcommand it does not have.
func unknownSubcommandText(container, sub []byte) string {
	b := make([]byte, 0, 64+maxErrArg)
	b = append(b, "ERR unknown subcommand '"...)
	b = append(b, clip(cString(sub), maxErrArg)...)
	b = append(b, "'. Try "...)
	for _, c := range cString(container) {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, " HELP."...)
	return string(b)
}

// asciiEqualFold reports whether b equals lower, which must be lower case,
// ignoring ASCII case.
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
