package resp

import "context"

// CONFIG GET, SET, RESETSTAT, REWRITE, HELP over the server's Params.

func (srv *Server) configCommand() *command {
	admin := []string{"admin", "noscript", "loading", "stale"}
	acl := []string{"@admin", "@slow", "@dangerous"}
	c := &command{name: "config", arity: -2, acl: []string{"@slow"}, subs: table{}}
	c.subs.add(
		&command{name: "config|get", arity: -3, flags: admin, acl: acl, handler: srv.cmdConfigGet},
		&command{name: "config|set", arity: -4, flags: admin, acl: acl, handler: srv.cmdConfigSet},
		&command{name: "config|resetstat", arity: 2, flags: admin, acl: acl, handler: srv.cmdConfigResetStat},
		&command{name: "config|rewrite", arity: 2, flags: admin, acl: acl, handler: srv.cmdConfigRewrite},
		&command{name: "config|help", arity: 2, flags: []string{"loading", "stale"}, acl: []string{"@slow"}, handler: srv.cmdConfigHelp},
	)
	return c
}

// cmdConfigGet is CONFIG GET pattern [pattern ...]: a flat name/value
// array (redis-benchmark asks for save and appendonly).
func (srv *Server) cmdConfigGet(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	kv := srv.params.match(args[2:])
	w.Array(len(kv))
	for _, s := range kv {
		w.BulkString(s)
	}
}

// cmdConfigSet is CONFIG SET name value [name value ...], all or nothing.
func (srv *Server) cmdConfigSet(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	if len(args)%2 != 0 {
		w.Error(errSyntax)
		return
	}
	pairs := make([][2]string, 0, (len(args)-2)/2)
	for i := 2; i < len(args); i += 2 {
		pairs = append(pairs, [2]string{string(cString(args[i])), string(args[i+1])})
	}
	if err := srv.params.setMany(pairs); err != nil {
		w.Error("ERR " + err.Error())
		return
	}
	w.Status("OK")
}

// cmdConfigResetStat is CONFIG RESETSTAT: INFO's counters start again.
func (srv *Server) cmdConfigResetStat(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	srv.resetStats()
	w.Status("OK")
}

// errNoRewrite explains why CONFIG REWRITE is refused.
const errNoRewrite = "ERR CONFIG REWRITE is not supported: ringstore does not rewrite its config file; edit it and restart"

func (srv *Server) cmdConfigRewrite(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	w.Error(errNoRewrite)
}

func (srv *Server) cmdConfigHelp(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	writeHelp(w, "CONFIG",
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"REWRITE",
		"    Rewrite the configuration file.",
	)
}
