package resp

import "slices"

// table maps a lower-case command name to its entry. A container's table
// maps the lower-case subcommand name ("get" for CONFIG GET).
type table map[string]*command

// maxNameLen bounds the command and subcommand names lookup lowers on the
// stack; no Redis command name is longer.
const maxNameLen = 32

func (t table) add(cmds ...*command) {
	for _, c := range cmds {
		key := c.name
		if i := indexByte(key, '|'); i >= 0 {
			key = key[i+1:]
		}
		if _, dup := t[key]; dup {
			panic("resp: duplicate command " + c.name) // a programming error caught by every test run
		}
		if len(key) > maxNameLen {
			panic("resp: command name too long: " + c.name)
		}
		c.noAuth = slices.Contains(c.flags, "no_auth")
		c.write = slices.Contains(c.flags, "write")
		t[key] = c
	}
}

// lookup finds the entry for a command name in any letter case without
// allocating: the name is lowered into a stack buffer, and a map index
// with string(bytes) does not copy.
func (t table) lookup(name []byte) *command {
	if len(name) > maxNameLen {
		return nil
	}
	var buf [maxNameLen]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t[string(buf[:len(name)])]
}

// sorted returns the entries in name order, for replies that list them.
func (t table) sorted() []*command {
	out := make([]*command, 0, len(t))
	for _, c := range t {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *command) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out
}

// newTable builds the command table of srv. Each file of commands
// contributes its own list.
func (srv *Server) newTable() table {
	t := table{}
	t.add(srv.connectionCommands()...)
	t.add(srv.serverCommands()...)
	t.add(srv.stringCommands()...)
	t.add(srv.keyCommands()...)
	t.add(srv.ringCommands()...)
	return t
}

// arityOK reports whether n arguments (counting the name) fit arity.
func arityOK(arity, n int) bool {
	if arity >= 0 {
		return n == arity
	}
	return n >= -arity
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
