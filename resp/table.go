package resp

import "strings"

// table maps a lower-case command name to its entry.
type table map[string]*command

func (t table) add(cmds ...*command) {
	for _, c := range cmds {
		if _, dup := t[c.name]; dup {
			panic("resp: duplicate command " + c.name) // a programming error caught by every test run
		}
		t[c.name] = c
	}
}

// lookup finds the entry for a command name in any letter case without
// allocating for names already in lower case.
func (t table) lookup(name []byte) *command {
	if c, ok := t[string(name)]; ok {
		return c
	}
	return t[strings.ToLower(string(name))]
}

// newTable builds the command table of srv. Each file of commands
// contributes its own list.
func (srv *Server) newTable() table {
	t := table{}
	t.add(srv.connectionCommands()...)
	t.add(srv.stringCommands()...)
	t.add(srv.keyCommands()...)
	return t
}

// arityOK reports whether n arguments (counting the name) fit arity.
func arityOK(arity, n int) bool {
	if arity >= 0 {
		return n == arity
	}
	return n >= -arity
}
