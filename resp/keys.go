package resp

import (
	"bytes"
	"context"

	"github.com/ringstore/ringstore/coordinator"
)

// Key commands. Like the string commands they make one coordinator call per
// key. Multi-key ones (DEL, UNLINK, EXISTS, TOUCH with several keys) and the
// two-key ones (RENAME, RENAMENX, COPY, MOVE) go key by key through the
// coordinator: the keys may live in different slots on different nodes, so
// they are not atomic as on one Redis. RENAME and MOVE write the destination
// first and then delete the source only if it still holds the value that was
// copied, so a failure or a concurrent write never loses data; a reader may
// briefly see both keys.

func (srv *Server) keyCommands() []*command {
	cmds := []*command{
		{name: "del", arity: -2, flags: []string{"write"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@write", "@slow"}, handler: srv.cmdDel},
		{name: "unlink", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdDel},
		{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdExists},
		{name: "touch", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdExists},
		{name: "type", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdType},
		{name: "keys", arity: 2, flags: []string{"readonly"}, acl: []string{"@keyspace", "@read", "@slow", "@dangerous"}, handler: srv.cmdKeys},
		{name: "scan", arity: -2, flags: []string{"readonly"}, acl: []string{"@keyspace", "@read", "@slow"}, handler: srv.cmdScan},
		{name: "randomkey", arity: 1, flags: []string{"readonly"}, acl: []string{"@keyspace", "@read", "@slow"}, handler: srv.cmdRandomKey},
		{name: "rename", arity: 3, flags: []string{"write"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@keyspace", "@write", "@slow"}, handler: srv.cmdRename},
		{name: "renamenx", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdRenameNX},
		{name: "copy", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@keyspace", "@write", "@slow"}, handler: srv.cmdCopy},
		{name: "move", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdMove},
	}
	return append(cmds, srv.expireCommands()...)
}

// cmdDel is DEL and UNLINK: a tombstone per key, counting the keys that
// were visible. Not atomic across slots.
func (srv *Server) cmdDel(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	keys := args[1:]
	idx := lastOccurrences(keys, 1) // DEL k k deletes k once
	existed := make([]bool, len(idx))
	err := srv.forEachKey(len(idx), func(i int) error {
		var err error
		existed[i], err = srv.coord.Del(ctx, s.DB, keys[idx[i]])
		return err
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	var n int64
	for _, e := range existed {
		if e {
			n++
		}
	}
	w.Int(n)
}

// cmdExists is EXISTS and TOUCH: the number of arguments naming a visible
// key (a key named twice counts twice). ringstore keeps no access times, so
// TOUCH only counts.
func (srv *Server) cmdExists(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	keys := args[1:]
	found := make([]bool, len(keys))
	err := srv.forEachKey(len(keys), func(i int) error {
		var err error
		_, found[i], err = srv.coord.Get(ctx, s.DB, keys[i])
		return err
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	var n int64
	for _, f := range found {
		if f {
			n++
		}
	}
	w.Int(n)
}

func (srv *Server) cmdType(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	switch {
	case err != nil:
		srv.writeError(w, err)
	case !ok:
		w.Status("none")
	default:
		w.Status(typeName(v.Kind))
	}
}

// cmdKeys is KEYS pattern over the whole db. The keys come in slot order,
// not Redis's hash order.
func (srv *Server) cmdKeys(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	pat := args[1]
	all := len(pat) == 1 && pat[0] == '*'
	m := compileGlob(pat)
	var body Writer
	n := 0
	_, err := srv.coord.Scan(ctx, s.DB, 0, int(^uint(0)>>1), func(key []byte, _ coordinator.Value) {
		if all || m.match(key) {
			body.Bulk(key)
			n++
		}
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Array(n)
	w.Raw(body.Bytes())
}

// parseCursor parses a SCAN cursor as Redis does with strtoul: no leading
// space, an optional sign (a negative cursor wraps around), decimal digits,
// and nothing after them up to the end or a NUL byte. An empty cursor is 0.
func parseCursor(b []byte) (uint64, bool) {
	b = cString(b)
	if len(b) == 0 {
		return 0, true
	}
	switch b[0] {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return 0, false
	}
	neg := false
	digits := b
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		digits = b[1:]
	}
	if len(digits) == 0 {
		return 0, false // strtoul consumed nothing, so the sign is left over
	}
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false // ERANGE
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return v, true
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. The cursor
// is a slot number from coordinator.Scan: a call finishes every slot it
// starts, so keys present for the whole iteration are returned exactly once,
// and COUNT is a lower bound on keys examined, as in Redis. A cursor past the
// last slot ends the iteration.
func (srv *Server) cmdScan(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		w.Error(txtBadCursor)
		return
	}
	count := int64(10)
	var pat, typ []byte
	for i := 2; i < len(args); i += 2 {
		more := len(args) - i
		switch {
		case eqFold(args[i], "count") && more >= 2:
			n, ok := parseRedisInt(args[i+1])
			if !ok {
				w.Error(errNotInteger)
				return
			}
			if n < 1 {
				w.Error(errSyntax)
				return
			}
			count = n
		case eqFold(args[i], "match") && more >= 2:
			pat = args[i+1]
		case eqFold(args[i], "type") && more >= 2:
			typ = args[i+1]
		default:
			w.Error(errSyntax)
			return
		}
	}
	usePat := pat != nil && !(len(pat) == 1 && pat[0] == '*')
	var m glob
	if usePat {
		m = compileGlob(pat)
	}
	var body Writer
	n := 0
	next, err := srv.coord.Scan(ctx, s.DB, cursor, int(count), func(key []byte, v coordinator.Value) {
		if usePat && !m.match(key) {
			return
		}
		if typ != nil && !eqFoldCString(typ, typeName(v.Kind)) {
			return
		}
		body.Bulk(key)
		n++
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Array(2)
	var num [20]byte
	w.Bulk(appendUint(num[:0], next))
	w.Array(n)
	w.Raw(body.Bytes())
}

// eqFoldCString compares a client argument with a lower-case name as C's
// strcasecmp does: ASCII case folding, the argument ending at its first NUL.
func eqFoldCString(arg []byte, name string) bool {
	return asciiEqualFold(cString(arg), name)
}

func appendUint(b []byte, n uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

func (srv *Server) cmdRandomKey(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	key, ok, err := srv.coord.RandomKey(ctx, s.DB)
	switch {
	case err != nil:
		srv.writeError(w, err)
	case !ok:
		w.Null()
	default:
		w.Bulk(key)
	}
}

func (srv *Server) cmdRename(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.rename(ctx, s, w, args, false)
}

func (srv *Server) cmdRenameNX(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.rename(ctx, s, w, args, true)
}

// rename is RENAME and RENAMENX: the value and its TTL move to the new name.
// Not atomic across slots (see the file comment).
func (srv *Server) rename(ctx context.Context, s *Session, w *Writer, args [][]byte, nx bool) {
	src, dst := args[1], args[2]
	v, ok, err := srv.coord.Get(ctx, s.DB, src)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if !ok {
		w.Error(txtNoKey)
		return
	}
	if bytes.Equal(src, dst) {
		if nx {
			w.Int(0)
		} else {
			w.Status("OK")
		}
		return
	}
	written, err := srv.putCopy(ctx, s.DB, dst, v, !nx)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if !written {
		w.Int(0)
		return
	}
	if err := srv.deleteIfUnchanged(ctx, s.DB, src, v); err != nil {
		srv.writeError(w, err)
		return
	}
	if nx {
		w.Int(1)
	} else {
		w.Status("OK")
	}
}

// putCopy writes v (value and expiry) to key under the key's lock, unless
// the key exists and replace is false. It reports whether it wrote.
func (srv *Server) putCopy(ctx context.Context, db int, key []byte, v coordinator.Value, replace bool) (bool, error) {
	written := false
	err := srv.coord.Update(ctx, db, key, func(_ coordinator.Value, ok bool) (coordinator.Change, error) {
		written = !ok || replace
		if !written {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		return coordinator.Change{Op: coordinator.Put, Value: v}, nil
	})
	return written, err
}

// deleteIfUnchanged deletes key if it still holds v: the second half of a
// move, which must not delete a value written since it was copied.
func (srv *Server) deleteIfUnchanged(ctx context.Context, db int, key []byte, v coordinator.Value) error {
	return srv.coord.Update(ctx, db, key, func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		if ok && cur.Kind == v.Kind && cur.ExpireAt == v.ExpireAt && bytes.Equal(cur.Data, v.Data) {
			return coordinator.Change{Op: coordinator.Delete}, nil
		}
		return coordinator.Change{Op: coordinator.Keep}, nil
	})
}

// cmdCopy is COPY source destination [DB db] [REPLACE]; the copy keeps the
// TTL. Not atomic across slots (see the file comment).
func (srv *Server) cmdCopy(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	dstDB, replace := s.DB, false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			db, t := parseIntArg(args[j+1])
			if t != "" {
				w.Error(t)
				return
			}
			if db < 0 || db >= srv.coord.Databases() {
				w.Error(errDBRange)
				return
			}
			dstDB = db
			j++
		default:
			w.Error(errSyntax)
			return
		}
	}
	src, dst := args[1], args[2]
	if dstDB == s.DB && bytes.Equal(src, dst) {
		w.Error(txtSameObject)
		return
	}
	v, ok, err := srv.coord.Get(ctx, s.DB, src)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if !ok {
		w.Int(0)
		return
	}
	written, err := srv.putCopy(ctx, dstDB, dst, v, replace)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Int(boolInt(written))
}

// cmdMove is MOVE key db, allowed as on a standalone Redis since ringstore
// keeps Redis's numbered databases. Not atomic (see the file comment).
func (srv *Server) cmdMove(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	db, t := parseIntArg(args[2])
	if t != "" {
		w.Error(t)
		return
	}
	if db < 0 || db >= srv.coord.Databases() {
		w.Error(errDBRange)
		return
	}
	if db == s.DB {
		w.Error(txtSameObject)
		return
	}
	key := args[1]
	v, ok, err := srv.coord.Get(ctx, s.DB, key)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if !ok {
		w.Int(0)
		return
	}
	written, err := srv.putCopy(ctx, db, key, v, false)
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if !written {
		w.Int(0)
		return
	}
	if err := srv.deleteIfUnchanged(ctx, s.DB, key, v); err != nil {
		srv.writeError(w, err)
		return
	}
	w.Int(1)
}
