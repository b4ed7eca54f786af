package resp

import (
	"context"
	"slices"
	"strings"
)

// COMMAND, COMMAND COUNT, INFO, LIST, GETKEYS, DOCS, HELP: the command
// table as Redis 7 describes its own. go-redis's cluster client routes by
// this reply (CLIENTS.md 2.1), so arity, flags and key positions must be
// right for every entry.

func (srv *Server) commandCommand() *command {
	acl := []string{"@slow", "@connection"}
	flags := []string{"loading", "stale"}
	c := &command{name: "command", arity: -1, flags: flags, acl: acl, handler: srv.cmdCommand, subs: table{}}
	c.subs.add(
		&command{name: "command|count", arity: 2, flags: flags, acl: acl, handler: srv.cmdCommandCount},
		&command{name: "command|info", arity: -2, flags: flags, acl: acl, handler: srv.cmdCommandInfo},
		&command{name: "command|list", arity: -2, flags: flags, acl: acl, handler: srv.cmdCommandList},
		&command{name: "command|getkeys", arity: -4, flags: flags, acl: acl, handler: srv.cmdCommandGetKeys},
		&command{name: "command|docs", arity: -2, flags: flags, acl: acl, handler: srv.cmdCommandDocs},
		&command{name: "command|help", arity: 2, flags: flags, acl: acl, handler: srv.cmdCommandHelp},
	)
	return c
}

// cmdCommand is COMMAND: every command's entry. With a subcommand the
// container's table runs instead (execute), so this only sees "COMMAND".
func (srv *Server) cmdCommand(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	all := srv.cmds.sorted()
	w.Array(len(all))
	for _, c := range all {
		writeCommandInfo(w, c)
	}
}

func (srv *Server) cmdCommandCount(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	w.Int(int64(len(srv.cmds)))
}

// cmdCommandInfo is COMMAND INFO [name ...]: each named command's entry
// (nil for an unknown name; "config|get" names a subcommand), or all.
func (srv *Server) cmdCommandInfo(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	if len(args) == 2 {
		srv.cmdCommand(ctx, s, w, args)
		return
	}
	w.Array(len(args) - 2)
	for _, name := range args[2:] {
		if c := srv.lookupFullName(name); c != nil {
			writeCommandInfo(w, c)
		} else {
			w.Null()
		}
	}
}

// lookupFullName finds "get" or "config|get".
func (srv *Server) lookupFullName(name []byte) *command {
	top, sub, isSub := strings.Cut(string(name), "|")
	c := srv.cmds.lookup([]byte(top))
	if !isSub {
		return c
	}
	if c == nil || c.subs == nil {
		return nil
	}
	return c.subs.lookup([]byte(sub))
}

// cmdCommandList is COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]:
// the names of all commands and subcommands.
func (srv *Server) cmdCommandList(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	var keep func(c *command) bool
	for i := 2; i < len(args); i++ {
		if !asciiEqualFold(args[i], "filterby") || len(args)-1-i != 2 {
			w.Error(errSyntax)
			return
		}
		arg := strings.ToLower(string(args[i+2]))
		switch kind := args[i+1]; {
		case asciiEqualFold(kind, "module"):
			keep = func(*command) bool { return false } // no modules
		case asciiEqualFold(kind, "aclcat"):
			keep = func(c *command) bool { return slices.Contains(c.aclCategories(), "@"+arg) }
		case asciiEqualFold(kind, "pattern"):
			g := compileGlob([]byte(arg))
			keep = func(c *command) bool { return g.match([]byte(c.name)) }
		default:
			w.Error(errSyntax)
			return
		}
		i += 2
	}
	var names []string
	for _, c := range srv.cmds.sorted() {
		for _, e := range append([]*command{c}, c.subs.sorted()...) {
			if keep == nil || keep(e) {
				names = append(names, e.name)
			}
		}
	}
	w.Array(len(names))
	for _, n := range names {
		w.BulkString(n)
	}
}

// cmdCommandGetKeys is COMMAND GETKEYS command [arg ...]: the keys the
// table's key positions find in the arguments.
func (srv *Server) cmdCommandGetKeys(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	argv := args[2:]
	c := srv.cmds.lookup(argv[0])
	if c != nil && c.subs != nil && len(argv) > 1 {
		c = c.subs.lookup(argv[1])
	}
	switch {
	case c == nil:
		w.Error("ERR Invalid command specified")
		return
	case c.firstKey == 0:
		w.Error("ERR The command has no key arguments")
		return
	case !arityOK(c.arity, len(argv)):
		w.Error("ERR Invalid number of arguments specified for command")
		return
	}
	keys := commandKeys(c, argv)
	if keys == nil {
		w.Error("ERR Invalid arguments specified for command")
		return
	}
	w.Array(len(keys))
	for _, k := range keys {
		w.Bulk(k)
	}
}

// commandKeys returns the keys of argv by c's key positions, nil if the
// positions do not fit the arguments.
func commandKeys(c *command, argv [][]byte) [][]byte {
	last := c.lastKey
	if last < 0 {
		last += len(argv)
	}
	step := max(c.keyStep, 1)
	if c.firstKey >= len(argv) || last >= len(argv) || last < c.firstKey {
		return nil
	}
	var keys [][]byte
	for i := c.firstKey; i <= last; i += step {
		keys = append(keys, argv[i])
	}
	return keys
}

// cmdCommandDocs is COMMAND DOCS [name ...]. ringstore keeps no command
// documentation: the reply is an empty map, which redis-cli accepts
// (CLIENTS.md 2.2).
func (srv *Server) cmdCommandDocs(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	w.Array(0)
}

func (srv *Server) cmdCommandHelp(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	writeHelp(w, "COMMAND",
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
	)
}

// writeCommandInfo writes c's entry as Redis 7 does: name, arity, flags,
// first key, last key, key step, ACL categories, tips, key specs and
// subcommands (10 elements; go-redis accepts 6, 7 or 10).
func writeCommandInfo(w *Writer, c *command) {
	w.Array(10)
	w.BulkString(c.name)
	w.Int(int64(c.arity))
	w.Array(len(c.flags))
	for _, f := range c.flags {
		w.Status(f)
	}
	step := c.keyStep
	if c.firstKey > 0 && step == 0 {
		step = 1
	}
	w.Int(int64(c.firstKey))
	w.Int(int64(c.lastKey))
	w.Int(int64(step))
	acl := c.aclCategories()
	w.Array(len(acl))
	for _, a := range acl {
		w.Status(a)
	}
	// Tips (request/response policies) are left out on purpose: go-redis
	// fans a command out to every shard by them, and which ringstore
	// commands want that is the cluster layer's decision.
	w.Array(0)
	writeKeySpecs(w, c)
	subs := c.subs.sorted()
	w.Array(len(subs))
	for _, sc := range subs {
		writeCommandInfo(w, sc)
	}
}

// writeKeySpecs writes the one key spec that the legacy key positions
// describe: keys found at an index, then over a range.
func writeKeySpecs(w *Writer, c *command) {
	if c.firstKey <= 0 {
		w.Array(0)
		return
	}
	flags := []string{"RW", "update"}
	if slices.Contains(c.flags, "readonly") {
		flags = []string{"RO", "access"}
	}
	lastKey := c.lastKey
	if lastKey >= 0 {
		lastKey -= c.firstKey
	}
	w.Array(1)
	w.Array(6)
	w.BulkString("flags")
	w.Array(len(flags))
	for _, f := range flags {
		w.Status(f)
	}
	w.BulkString("begin_search")
	w.Array(4)
	w.BulkString("type")
	w.BulkString("index")
	w.BulkString("spec")
	w.Array(2)
	w.BulkString("index")
	w.Int(int64(c.firstKey))
	w.BulkString("find_keys")
	w.Array(4)
	w.BulkString("type")
	w.BulkString("range")
	w.BulkString("spec")
	w.Array(6)
	w.BulkString("lastkey")
	w.Int(int64(lastKey))
	w.BulkString("keystep")
	w.Int(int64(max(c.keyStep, 1)))
	w.BulkString("limit")
	w.Int(0)
}

// aclCategories returns c's ACL categories: its own list, or ones derived
// from its flags.
func (c *command) aclCategories() []string {
	if c.acl != nil {
		return c.acl
	}
	var out []string
	switch {
	case slices.Contains(c.flags, "write"):
		out = append(out, "@write")
	case slices.Contains(c.flags, "readonly"):
		out = append(out, "@read")
	}
	if slices.Contains(c.flags, "fast") {
		out = append(out, "@fast")
	} else {
		out = append(out, "@slow")
	}
	if slices.Contains(c.flags, "admin") {
		out = append(out, "@admin", "@dangerous")
	}
	return out
}
