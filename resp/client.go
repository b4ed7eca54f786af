package resp

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// CLIENT ID, SETNAME, GETNAME, SETINFO, LIST, INFO, HELP.

func (srv *Server) clientCommand() *command {
	conn := []string{"@slow", "@connection"}
	plain := []string{"noscript", "loading", "stale"}
	admin := []string{"@admin", "@slow", "@dangerous", "@connection"}
	c := &command{name: "client", arity: -2, acl: []string{"@slow"}, subs: table{}}
	c.subs.add(
		&command{name: "client|id", arity: 2, flags: plain, acl: conn, handler: srv.cmdClientID},
		&command{name: "client|setname", arity: 3, flags: plain, acl: conn, handler: srv.cmdClientSetName},
		&command{name: "client|getname", arity: 2, flags: plain, acl: conn, handler: srv.cmdClientGetName},
		&command{name: "client|setinfo", arity: 4, flags: plain, acl: conn, handler: srv.cmdClientSetInfo},
		&command{name: "client|list", arity: -2, flags: []string{"admin", "noscript", "loading", "stale"}, acl: admin, handler: srv.cmdClientList},
		&command{name: "client|info", arity: 2, flags: plain, acl: conn, handler: srv.cmdClientInfo},
		&command{name: "client|help", arity: 2, flags: []string{"loading", "stale"}, acl: conn, handler: srv.cmdClientHelp},
	)
	return c
}

func (srv *Server) cmdClientID(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	w.Int(s.ID)
}

// cmdClientSetName is CLIENT SETNAME name; an empty name clears it.
func (srv *Server) cmdClientSetName(_ context.Context, s *Session, w *Writer, args [][]byte) {
	if !validClientAttr(args[2]) {
		w.Error(errClientName)
		return
	}
	s.SetName(string(args[2]))
	w.Status("OK")
}

func (srv *Server) cmdClientGetName(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	if s.Name == "" {
		w.Null()
		return
	}
	w.BulkString(s.Name)
}

// cmdClientSetInfo is Redis 7.2's CLIENT SETINFO LIB-NAME|LIB-VER value,
// which go-redis, Jedis and ioredis send on every new connection.
func (srv *Server) cmdClientSetInfo(_ context.Context, s *Session, w *Writer, args [][]byte) {
	attr, val := args[2], args[3]
	var name, ver *string
	v := string(val)
	switch {
	case asciiEqualFold(attr, "lib-name"):
		name = &v
	case asciiEqualFold(attr, "lib-ver"):
		ver = &v
	default:
		w.Error("ERR Unrecognized option '" + string(cString(attr)) + "'")
		return
	}
	if !validClientAttr(val) {
		w.Error("ERR " + string(cString(attr)) + " cannot contain spaces, newlines or special characters.")
		return
	}
	s.SetLib(name, ver)
	w.Status("OK")
}

// cmdClientList is CLIENT LIST [TYPE type | ID id [id ...]].
func (srv *Server) cmdClientList(_ context.Context, _ *Session, w *Writer, args [][]byte) {
	views := srv.sessions()
	switch {
	case len(args) == 2:
	case len(args) == 4 && asciiEqualFold(args[2], "type"):
		switch t := args[3]; {
		case asciiEqualFold(t, "normal"):
		case asciiEqualFold(t, "master"), asciiEqualFold(t, "replica"), asciiEqualFold(t, "slave"), asciiEqualFold(t, "pubsub"):
			views = nil
		default:
			w.Error("ERR Unknown client type '" + string(cString(t)) + "'")
			return
		}
	case len(args) > 3 && asciiEqualFold(args[2], "id"):
		var picked []sessionView
		for _, a := range args[3:] {
			id, ok := parseRedisInt(a)
			if !ok {
				w.Error("ERR Invalid client ID")
				return
			}
			if i := slices.IndexFunc(views, func(v sessionView) bool { return v.id == id }); i >= 0 {
				picked = append(picked, views[i])
			}
		}
		views = picked
	default:
		w.Error(errSyntax)
		return
	}
	now := time.Now()
	var b []byte
	for _, v := range views {
		b = srv.appendClientInfo(b, v, now)
		b = append(b, '\n')
	}
	w.Bulk(b)
}

// cmdClientInfo is CLIENT INFO: this connection's CLIENT LIST line.
func (srv *Server) cmdClientInfo(_ context.Context, s *Session, w *Writer, _ [][]byte) {
	b := srv.appendClientInfo(nil, s.view(), time.Now())
	w.Bulk(append(b, '\n'))
}

// appendClientInfo appends v as a CLIENT LIST line in Redis 7.2's field
// order. Fields for features ringstore lacks (pub/sub, MULTI, buffers it
// does not account) are zero.
func (srv *Server) appendClientInfo(b []byte, v sessionView, now time.Time) []byte {
	flags := "N"
	if v.readOnly {
		flags = "r"
	}
	cmd := v.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	idle := (srv.nanotime() - v.lastActive) / int64(time.Second)
	b = append(b, "id="...)
	b = strconv.AppendInt(b, v.id, 10)
	b = append(b, " addr="...)
	b = append(b, v.addr...)
	b = append(b, " laddr="...)
	b = append(b, v.laddr...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(v.fd), 10)
	b = append(b, " name="...)
	b = append(b, v.name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, (now.UnixMilli()-v.created)/1000, 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, max(idle, 0), 10)
	b = append(b, " flags="...)
	b = append(b, flags...)
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(v.db), 10)
	b = append(b, " sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="...)
	b = append(b, cmd...)
	b = append(b, " user=default redir=-1 resp=2 lib-name="...)
	b = append(b, v.libName...)
	b = append(b, " lib-ver="...)
	b = append(b, v.libVer...)
	return b
}

func sortViews(views []sessionView) {
	slices.SortFunc(views, func(a, b sessionView) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
}

func (srv *Server) cmdClientHelp(_ context.Context, _ *Session, w *Writer, _ [][]byte) {
	writeHelp(w, "CLIENT",
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the ID of the current connection.",
		"INFO",
		"    Return information about the current client connection.",
		"LIST [options ...]",
		"    Return information about client connections. Options:",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Return clients of specified type.",
		"    * ID <client-id> [<client-id> ...]",
		"      Return clients of specified IDs only.",
		"SETINFO <option> <value>",
		"    Set client meta attr. Options are:",
		"    * LIB-NAME: the client lib name.",
		"    * LIB-VER: the client lib version.",
		"SETNAME <name>",
		"    Assign the name <name> to the current connection.",
	)
}

// writeHelp writes a container command's HELP reply as Redis does: a
// header line, the given lines, and the HELP line, as status strings.
func writeHelp(w *Writer, container string, lines ...string) {
	w.Array(len(lines) + 3)
	w.Status(container + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		w.Status(l)
	}
	w.Status("HELP")
	w.Status("    Prints this help.")
}
