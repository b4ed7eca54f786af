package resp

import (
	"context"
	"math"
	"slices"

	"github.com/ringstore/ringstore/coordinator"
)

// String commands. Each handler makes one coordinator call per key: reads
// use Get, blind writes use Set, and read-modify-writes use Update, which
// runs the decision under the key's lock (on the key's primary once there
// are replicas), so INCR, APPEND, SET NX and the like never lose an update.
//
// Multi-key commands (MGET, MSET, MSETNX) go key by key: their keys may live
// in different slots on different nodes, so, unlike on one Redis, they are
// not atomic. MGET and MSET run their keys concurrently on a multi-node ring
// (fanout.go); a failure of MSET leaves the other keys written, and MSETNX
// checks all keys before writing any, with a window in which another client
// can create one of them.

func (srv *Server) stringCommands() []*command {
	cmds := []*command{
		{name: "get", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@string", "@fast"}, handler: srv.cmdGet},
		{name: "set", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, blind: setIsBlind, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdSet},
		{name: "setnx", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdSetNX},
		{name: "setex", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdSetEX},
		{name: "psetex", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdPSetEX},
		{name: "getset", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdGetSet},
		{name: "getdel", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdGetDel},
		{name: "getex", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdGetEX},
		{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, acl: []string{"@read", "@string", "@fast"}, handler: srv.cmdMGet},
		{name: "mset", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: -1, keyStep: 2, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdMSet},
		{name: "msetnx", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: -1, keyStep: 2, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdMSetNX},
		{name: "append", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdAppend},
		{name: "strlen", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@string", "@fast"}, handler: srv.cmdStrlen},
		{name: "getrange", arity: 4, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@string", "@slow"}, handler: srv.cmdGetRange},
		// SUBSTR is GETRANGE's old name, which Redis 7 still answers.
		{name: "substr", arity: 4, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@string", "@slow"}, handler: srv.cmdGetRange},
		{name: "setrange", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdSetRange},
		{name: "incr", arity: 2, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdIncr},
		{name: "decr", arity: 2, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdDecr},
		{name: "incrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdIncrBy},
		{name: "decrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdDecrBy},
		{name: "incrbyfloat", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdIncrByFloat},
		{name: "lcs", arity: -3, flags: []string{"readonly"}, firstKey: 1, lastKey: 2, keyStep: 1, acl: []string{"@read", "@string", "@slow"}, handler: srv.cmdLCS},
	}
	cmds = append(cmds, srv.bitCommands()...)
	return append(cmds, srv.contextCommands()...)
}

// Option bits of SET and GETEX, as Redis's OBJ_* flags.
const (
	optNX = 1 << iota
	optXX
	optEX
	optPX
	optKeepTTL
	optGet
	optEXAT
	optPXAT
	optPersist

	optExpire = optEX | optPX | optEXAT | optPXAT
)

// strOpts are the parsed options of SET (forSet) or GETEX.
type strOpts struct {
	flags  int
	expire []byte // the argument of EX, PX, EXAT or PXAT
}

// parse reads SET's or GETEX's options with Redis's rules: NX and XX
// exclude each other, at most one kind of expiry (the same one may repeat,
// the last value wins), KEEPTTL and PERSIST exclude every expiry, an
// expiry keyword needs a following argument. It returns the error text or "".
func (o *strOpts) parse(args [][]byte, forSet bool) string {
	for j := 0; j < len(args); j++ {
		opt := args[j]
		hasNext := j+1 < len(args)
		f := o.flags
		switch {
		case forSet && eqFold(opt, "nx") && f&optXX == 0:
			o.flags |= optNX
		case forSet && eqFold(opt, "xx") && f&optNX == 0:
			o.flags |= optXX
		case forSet && eqFold(opt, "get"):
			o.flags |= optGet
		case forSet && eqFold(opt, "keepttl") && f&(optPersist|optExpire) == 0:
			o.flags |= optKeepTTL
		case !forSet && eqFold(opt, "persist") && f&(optExpire|optKeepTTL) == 0:
			o.flags |= optPersist
		case eqFold(opt, "ex") && f&(optKeepTTL|optPersist|optEXAT|optPX|optPXAT) == 0 && hasNext:
			o.flags |= optEX
			o.expire = args[j+1]
			j++
		case eqFold(opt, "px") && f&(optKeepTTL|optPersist|optEX|optEXAT|optPXAT) == 0 && hasNext:
			o.flags |= optPX
			o.expire = args[j+1]
			j++
		case eqFold(opt, "exat") && f&(optKeepTTL|optPersist|optEX|optPX|optPXAT) == 0 && hasNext:
			o.flags |= optEXAT
			o.expire = args[j+1]
			j++
		case eqFold(opt, "pxat") && f&(optKeepTTL|optPersist|optEX|optEXAT|optPX) == 0 && hasNext:
			o.flags |= optPXAT
			o.expire = args[j+1]
			j++
		default:
			return errSyntax
		}
	}
	return ""
}

// expireAt turns an expiry argument into a Unix-ms deadline as Redis's
// getExpireMillisecondsOrReply does: the number must be positive, seconds
// must not overflow when scaled, and a relative time is added to now (an
// overflow there is caught by the sign of the sum). It returns the error
// text or "".
func expireAt(arg []byte, flags int, cmd string, now int64) (int64, string) {
	v, ok := parseRedisInt(arg)
	if !ok {
		return 0, errNotInteger
	}
	seconds := flags&(optEX|optEXAT) != 0
	if v <= 0 || (seconds && v > math.MaxInt64/1000) {
		return 0, expireTimeText(cmd)
	}
	if seconds {
		v *= 1000
	}
	if flags&(optEX|optPX) != 0 {
		v += now // wraps on overflow, as in Redis, and is caught below
	}
	if v <= 0 {
		return 0, expireTimeText(cmd)
	}
	return v, ""
}

// cmdGet is the hot path: one Get, no conversion of the value.
func (srv *Server) cmdGet(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	srv.writeGet(w, v, ok, err)
}

// writeGet writes GET's reply for what Coordinator.Get returned.
func (srv *Server) writeGet(w *Writer, v coordinator.Value, ok bool, err error) {
	switch {
	case err != nil:
		srv.writeError(w, err)
	case !ok:
		w.Null()
	case !isString(v):
		w.Error(txtWrongType)
	default:
		w.Bulk(v.Data)
	}
}

// setIsBlind reports whether a SET overwrites without looking at the old
// value (no NX, XX, GET or KEEPTTL).
func setIsBlind(args [][]byte) bool {
	if len(args) == 3 {
		return true
	}
	var o strOpts
	return o.parse(args[3:], true) == "" && o.flags&(optNX|optXX|optGet|optKeepTTL) == 0
}

func (srv *Server) cmdSet(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	key, val := args[1], args[2]
	if len(args) == 3 { // the hot path: a blind write
		if err := srv.coord.Set(ctx, s.DB, key, stringValue(val, 0)); err != nil {
			srv.writeError(w, err)
			return
		}
		w.Status("OK")
		return
	}
	var o strOpts
	if t := o.parse(args[3:], true); t != "" {
		w.Error(t)
		return
	}
	var at int64
	if o.expire != nil {
		var t string
		if at, t = expireAt(o.expire, o.flags, "set", srv.coord.NowMillis()); t != "" {
			w.Error(t)
			return
		}
	}
	if o.flags&(optNX|optXX|optGet|optKeepTTL) == 0 {
		if err := srv.coord.Set(ctx, s.DB, key, stringValue(val, at)); err != nil {
			srv.writeError(w, err)
			return
		}
		w.Status("OK")
		return
	}
	var (
		old          []byte
		hadOld, done bool
	)
	err := srv.coord.Update(ctx, s.DB, key, func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		old, hadOld, done = nil, false, false
		if o.flags&optGet != 0 && ok {
			if !isString(cur) {
				return coordinator.Change{}, replyText(txtWrongType)
			}
			old, hadOld = cur.Data, true
		}
		if (o.flags&optNX != 0 && ok) || (o.flags&optXX != 0 && !ok) {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		done = true
		exp := at
		if o.flags&optKeepTTL != 0 && ok {
			exp = cur.ExpireAt
		}
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(val, exp)}, nil
	})
	switch {
	case err != nil:
		srv.replyErr(w, err)
	case o.flags&optGet != 0 && hadOld:
		w.Bulk(old)
	case o.flags&optGet != 0 || !done:
		w.Null()
	default:
		w.Status("OK")
	}
}

func (srv *Server) cmdSetNX(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	val := args[2]
	done := false
	err := srv.coord.Update(ctx, s.DB, args[1], func(_ coordinator.Value, ok bool) (coordinator.Change, error) {
		done = !ok
		if ok {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(val, 0)}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(boolInt(done))
}

func (srv *Server) cmdSetEX(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.setWithExpire(ctx, s, w, args, optEX, "setex")
}

func (srv *Server) cmdPSetEX(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.setWithExpire(ctx, s, w, args, optPX, "psetex")
}

// setWithExpire is SETEX and PSETEX: key, relative expiry, value.
func (srv *Server) setWithExpire(ctx context.Context, s *Session, w *Writer, args [][]byte, unit int, cmd string) {
	at, t := expireAt(args[2], unit, cmd, srv.coord.NowMillis())
	if t != "" {
		w.Error(t)
		return
	}
	if err := srv.coord.Set(ctx, s.DB, args[1], stringValue(args[3], at)); err != nil {
		srv.writeError(w, err)
		return
	}
	w.Status("OK")
}

func (srv *Server) cmdGetSet(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	val := args[2]
	var old []byte
	var hadOld bool
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		old, hadOld = nil, false
		if ok {
			if !isString(cur) {
				return coordinator.Change{}, replyText(txtWrongType)
			}
			old, hadOld = cur.Data, true
		}
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(val, 0)}, nil
	})
	srv.replyOld(w, err, old, hadOld)
}

func (srv *Server) cmdGetDel(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	var old []byte
	var hadOld bool
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		old, hadOld = nil, false
		if !ok {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		if !isString(cur) {
			return coordinator.Change{}, replyText(txtWrongType)
		}
		old, hadOld = cur.Data, true
		return coordinator.Change{Op: coordinator.Delete}, nil
	})
	srv.replyOld(w, err, old, hadOld)
}

// replyOld answers the commands that return a key's previous value.
func (srv *Server) replyOld(w *Writer, err error, old []byte, hadOld bool) {
	switch {
	case err != nil:
		srv.replyErr(w, err)
	case hadOld:
		w.Bulk(old)
	default:
		w.Null()
	}
}

// cmdGetEX is GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]. As
// in Redis, the expiry is validated only once the key is known to hold a
// string, and an absolute time already past deletes the key.
func (srv *Server) cmdGetEX(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	var o strOpts
	if t := o.parse(args[2:], false); t != "" {
		w.Error(t)
		return
	}
	now := srv.coord.NowMillis()
	var old []byte
	var hadOld bool
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		old, hadOld = nil, false
		if !ok {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		if !isString(cur) {
			return coordinator.Change{}, replyText(txtWrongType)
		}
		var at int64
		if o.expire != nil {
			var t string
			if at, t = expireAt(o.expire, o.flags, "getex", now); t != "" {
				return coordinator.Change{}, replyText(t)
			}
		}
		old, hadOld = cur.Data, true
		switch {
		case o.flags&(optEXAT|optPXAT) != 0 && at <= now:
			return coordinator.Change{Op: coordinator.Delete}, nil
		case o.expire != nil:
			return coordinator.Change{Op: coordinator.Put, Value: stringValue(cur.Data, at)}, nil
		case o.flags&optPersist != 0 && cur.ExpireAt != 0:
			return coordinator.Change{Op: coordinator.Put, Value: stringValue(cur.Data, 0)}, nil
		}
		return coordinator.Change{Op: coordinator.Keep}, nil
	})
	srv.replyOld(w, err, old, hadOld)
}

// cmdMGet reads key by key (not atomic across slots); a key that is absent
// or not a string is nil. A coordinator error fails the whole command, so no
// half-written array ever reaches the client.
func (srv *Server) cmdMGet(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	keys := args[1:]
	vals := make([][]byte, len(keys))
	err := srv.forEachKey(len(keys), func(i int) error {
		v, ok, err := srv.coord.Get(ctx, s.DB, keys[i])
		if err != nil {
			return err
		}
		if ok && isString(v) {
			if v.Data == nil {
				v.Data = []byte{}
			}
			vals[i] = v.Data
		}
		return nil
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Array(len(vals))
	for _, v := range vals {
		if v == nil {
			w.Null()
		} else {
			w.Bulk(v)
		}
	}
}

// cmdMSet writes key by key on a ring: not atomic across slots (see the
// file comment). A node alone in its ring writes every key in one atomic
// step, as Redis does.
func (srv *Server) cmdMSet(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	if len(args)%2 == 0 {
		w.Error(arityText("mset"))
		return
	}
	pairs := args[1:]
	if srv.coord.Alone() {
		keys := make([][]byte, 0, len(pairs)/2)
		vals := make([]coordinator.Value, 0, len(pairs)/2)
		for i := 0; i < len(pairs); i += 2 {
			keys = append(keys, pairs[i])
			vals = append(vals, stringValue(pairs[i+1], 0))
		}
		if err := srv.coord.SetMany(ctx, s.DB, keys, vals); err != nil {
			srv.writeError(w, err)
			return
		}
		w.Status("OK")
		return
	}
	idx := lastOccurrences(pairs, 2) // MSET k 1 k 2 leaves 2: only the last write of a key matters
	err := srv.forEachKey(len(idx), func(i int) error {
		j := idx[i]
		return srv.coord.Set(ctx, s.DB, pairs[j], stringValue(pairs[j+1], 0))
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Status("OK")
}

// cmdMSetNX checks every key, then writes them: not atomic across slots
// (see the file comment). On a ring both steps run their keys concurrently,
// as MGET and MSET do.
func (srv *Server) cmdMSetNX(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	if len(args)%2 == 0 {
		w.Error(arityText("msetnx"))
		return
	}
	pairs := args[1:]
	idx := lastOccurrences(pairs, 2) // a repeated key is checked once and written with its last value
	exists := make([]bool, len(idx))
	err := srv.forEachKey(len(idx), func(i int) error {
		_, ok, err := srv.coord.Get(ctx, s.DB, pairs[idx[i]])
		exists[i] = ok
		return err
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	if slices.Contains(exists, true) {
		w.Int(0)
		return
	}
	err = srv.forEachKey(len(idx), func(i int) error {
		j := idx[i]
		return srv.coord.Set(ctx, s.DB, pairs[j], stringValue(pairs[j+1], 0))
	})
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Int(1)
}

func (srv *Server) cmdAppend(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	tail := args[2]
	maxLen := srv.protoMaxBulkLen()
	var n int
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		if !ok {
			n = len(tail)
			return coordinator.Change{Op: coordinator.Put, Value: stringValue(tail, 0)}, nil
		}
		if !isString(cur) {
			return coordinator.Change{}, replyText(txtWrongType)
		}
		if int64(len(cur.Data))+int64(len(tail)) > maxLen {
			return coordinator.Change{}, replyText(txtTooBig)
		}
		data := make([]byte, 0, len(cur.Data)+len(tail))
		data = append(append(data, cur.Data...), tail...)
		n = len(data)
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(data, cur.ExpireAt)}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(int64(n))
}

func (srv *Server) cmdStrlen(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	switch {
	case err != nil:
		srv.writeError(w, err)
	case !ok:
		w.Int(0)
	case !isString(v):
		w.Error(txtWrongType)
	default:
		w.Int(int64(len(v.Data)))
	}
}

// cmdGetRange is GETRANGE key start end with Redis's index rules: negative
// indexes count from the end, both are clamped, and an empty range is "".
func (srv *Server) cmdGetRange(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	start, ok1 := parseRedisInt(args[2])
	end, ok2 := parseRedisInt(args[3])
	if !ok1 || !ok2 {
		w.Error(errNotInteger)
		return
	}
	v, ok, err := srv.coord.Get(ctx, s.DB, args[1])
	switch {
	case err != nil:
		srv.writeError(w, err)
		return
	case !ok:
		w.Bulk(nil)
		return
	case !isString(v):
		w.Error(txtWrongType)
		return
	}
	n := int64(len(v.Data))
	if start < 0 && end < 0 && start > end {
		w.Bulk(nil)
		return
	}
	lo, hi, empty := clampRange(start, end, n)
	if empty {
		w.Bulk(nil)
		return
	}
	w.Bulk(v.Data[lo : hi+1])
}

// cmdSetRange is SETRANGE key offset value: it pads with zero bytes up to
// offset and refuses to grow a string past proto-max-bulk-len.
func (srv *Server) cmdSetRange(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	offset, ok := parseRedisInt(args[2])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	if offset < 0 {
		w.Error(txtOffsetRange)
		return
	}
	val := args[3]
	maxLen := srv.protoMaxBulkLen()
	var n int
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		if ok && !isString(cur) {
			return coordinator.Change{}, replyText(txtWrongType)
		}
		n = len(cur.Data)
		if len(val) == 0 {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		if offset > maxLen-int64(len(val)) {
			return coordinator.Change{}, replyText(txtTooBig)
		}
		size := max(len(cur.Data), int(offset)+len(val))
		data := make([]byte, size)
		copy(data, cur.Data)
		copy(data[offset:], val)
		n = size
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(data, cur.ExpireAt)}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(int64(n))
}

func (srv *Server) cmdIncr(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.incrBy(ctx, s, w, args[1], 1)
}

func (srv *Server) cmdDecr(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.incrBy(ctx, s, w, args[1], -1)
}

func (srv *Server) cmdIncrBy(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	incr, ok := parseRedisInt(args[2])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	srv.incrBy(ctx, s, w, args[1], incr)
}

func (srv *Server) cmdDecrBy(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	decr, ok := parseRedisInt(args[2])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	if decr == math.MinInt64 {
		w.Error(txtDecrOver)
		return
	}
	srv.incrBy(ctx, s, w, args[1], -decr)
}

// incrBy adds incr to the integer stored at key (0 when absent), keeping
// the key's TTL, and answers the new value.
func (srv *Server) incrBy(ctx context.Context, s *Session, w *Writer, key []byte, incr int64) {
	var n int64
	err := srv.coord.Update(ctx, s.DB, key, func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		var old int64
		if ok {
			if !isString(cur) {
				return coordinator.Change{}, replyText(txtWrongType)
			}
			var valid bool
			if old, valid = parseRedisInt(cur.Data); !valid {
				return coordinator.Change{}, replyText(errNotInteger)
			}
		}
		if (incr < 0 && old < 0 && incr < math.MinInt64-old) || (incr > 0 && old > 0 && incr > math.MaxInt64-old) {
			return coordinator.Change{}, replyText(txtIncrOver)
		}
		n = old + incr
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(appendInt(nil, n), cur.ExpireAt)}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(n)
}

// cmdIncrByFloat adds in emulated long double arithmetic and stores Redis's
// text for the sum (see str_float.go), keeping the key's TTL.
func (srv *Server) cmdIncrByFloat(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	incr, incrOK := parseLongDouble(args[2])
	var out []byte
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		old := zeroLongDouble()
		if ok {
			if !isString(cur) {
				return coordinator.Change{}, replyText(txtWrongType)
			}
			var valid bool
			if old, valid = parseLongDouble(cur.Data); !valid {
				return coordinator.Change{}, replyText(txtNotFloat)
			}
		}
		if !incrOK {
			return coordinator.Change{}, replyText(txtNotFloat)
		}
		sum, finite := addLongDouble(old, incr)
		if !finite {
			return coordinator.Change{}, replyText(txtNaN)
		}
		out = formatLongDouble(sum)
		return coordinator.Change{Op: coordinator.Put, Value: stringValue(out, cur.ExpireAt)}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Bulk(out)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
