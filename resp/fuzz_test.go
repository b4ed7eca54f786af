package resp

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
	"github.com/ringstore/ringstore/engine"
	"github.com/ringstore/ringstore/ring"
)

// FuzzExecute sends arbitrary command sequences through execute, with the
// panic recovery off: no input may panic a handler, and every command must
// get exactly one well-formed reply. The seeds name every command and
// subcommand of the table, so `go test` runs each at least once.
//
// An input is a sequence of commands; each argument is a length byte and
// that many bytes, and a length byte of 0xff ends a command.
func FuzzExecute(f *testing.F) {
	fuzzExecute(f, func(testing.TB) coordinator.Store { return coordtest.NewMemStore(ring.Slot) })
}

// FuzzExecuteEngine is FuzzExecute over the engine, whose writes of a node
// alone in its ring take ways of their own (SupersedeMany, the record
// cache's table) that the in-memory store does not have.
func FuzzExecuteEngine(f *testing.F) {
	fuzzExecute(f, func(t testing.TB) coordinator.Store {
		st, err := engine.Open(engine.DefaultLocalConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func fuzzExecute(f *testing.F, newStore func(testing.TB) coordinator.Store) {
	seed := newExecServer(f, nil)
	add := func(cmds ...[]string) { f.Add(encodeCommands(cmds...)) }
	for _, c := range seed.cmds.sorted() {
		names := [][]string{{c.name}}
		for _, sc := range c.subs.sorted() {
			names = append(names, []string{c.name, sc.name[strings.IndexByte(sc.name, '|')+1:]})
		}
		for _, n := range names {
			add(n)
			add(append(n, "k"))
			add(append(n, "k", "v"), append([]string{}, n...))
			add(append(n, "k", "1", "k2", "2"))
		}
	}
	for _, line := range []string{
		"SET k v EX 10|GET k|TTL k", "SET k 10|INCRBY k 5|GETRANGE k 0 -1", "MSET a 1 b 2|MGET a b c",
		"HELLO 2 AUTH default x SETNAME n|CLIENT GETNAME|CLIENT LIST|CLIENT INFO", "HELLO 3",
		"CONFIG GET *|CONFIG SET maxclients 10 timeout 0|CONFIG GET max*", "CONFIG SET requirepass pw|AUTH pw|AUTH default pw",
		"SELECT 3|SET k v|DBSIZE|FLUSHDB|DBSIZE|FLUSHALL ASYNC", "INFO|INFO all|INFO keyspace cpu",
		"COMMAND|COMMAND COUNT|COMMAND INFO get config|get|COMMAND GETKEYS mset a 1 b 2|COMMAND LIST FILTERBY pattern c*",
		"CLUSTER KEYSLOT {a}b|CLUSTER COUNTKEYSINSLOT 15495|CLUSTER GETKEYSINSLOT 15495 10|CLUSTER MYID",
		"RESET|READONLY|READWRITE|ASKING|TIME|PING|PING x|ECHO y|QUIT", "POST /|PING", "SETCTX k bad v|GETCTX k",
		"SCAN 0 MATCH * COUNT 10|KEYS *|RANDOMKEY|TYPE k|EXISTS k",
	} {
		var cmds [][]string
		for _, c := range strings.Split(line, "|") {
			cmds = append(cmds, strings.Fields(c))
		}
		add(cmds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := newServerOn(t, newStore(t), func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
		srv.recoverPanics = false
		srv.params.Set("proto-max-bulk-len", "1mb") // bounds what SETRANGE and friends allocate
		s := srv.testSession()
		for i, args := range decodeCommands(data) {
			if i == 8 {
				break
			}
			var w Writer
			srv.execute(context.Background(), s, &w, args)
			if s.Quit && w.Len() == 0 {
				return // an HTTP request line: closed without a reply
			}
			if err := oneReply(w.Bytes()); err != nil {
				t.Fatalf("%q: %v: %q", args, err, w.Bytes())
			}
			if s.Quit {
				return
			}
			if srv.protoMaxBulkLen() > 1<<20 {
				srv.params.Set("proto-max-bulk-len", "1mb")
			}
		}
	})
}

func encodeCommands(cmds ...[]string) []byte {
	var b []byte
	for _, c := range cmds {
		for _, a := range c {
			a = a[:min(len(a), 254)]
			b = append(b, byte(len(a)))
			b = append(b, a...)
		}
		b = append(b, 0xff)
	}
	return b
}

func decodeCommands(data []byte) [][][]byte {
	var cmds [][][]byte
	var cur [][]byte
	for len(data) > 0 {
		n := int(data[0])
		data = data[1:]
		if n == 0xff {
			cmds = append(cmds, cur)
			cur = nil
			continue
		}
		n = min(n, len(data))
		cur = append(cur, data[:n])
		data = data[n:]
	}
	if cur != nil {
		cmds = append(cmds, cur)
	}
	return cmds
}
