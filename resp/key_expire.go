package resp

import (
	"context"
	"math"

	"github.com/ringstore/ringstore/coordinator"
)

// Expiry commands. A key's expiry is part of its version (DESIGN.md
// "Versions"), so changing it writes a new version with the same value
// under the key's lock. All times come from coordinator.NowMillis.

func (srv *Server) expireCommands() []*command {
	return []*command{
		{name: "expire", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdExpire},
		{name: "pexpire", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdPExpire},
		{name: "expireat", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdExpireAt},
		{name: "pexpireat", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdPExpireAt},
		{name: "ttl", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdTTL},
		{name: "pttl", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdPTTL},
		{name: "expiretime", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdExpireTime},
		{name: "pexpiretime", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@keyspace", "@read", "@fast"}, handler: srv.cmdPExpireTime},
		{name: "persist", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, rmw: true, acl: []string{"@keyspace", "@write", "@fast"}, handler: srv.cmdPersist},
	}
}

// Condition bits of the EXPIRE family.
const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

func (srv *Server) cmdExpire(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.expire(ctx, s, w, args, "expire", true, true)
}

func (srv *Server) cmdPExpire(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.expire(ctx, s, w, args, "pexpire", true, false)
}

func (srv *Server) cmdExpireAt(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.expire(ctx, s, w, args, "expireat", false, true)
}

func (srv *Server) cmdPExpireAt(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.expire(ctx, s, w, args, "pexpireat", false, false)
}

// expire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT key time [NX|XX|GT|LT].
// A deadline already past deletes the key; the answer is 1 when the key's
// expiry was set (or the key deleted) and 0 when the key is absent or a
// condition failed. A key without expiry counts as expiring never: GT never
// holds for it and LT always does.
func (srv *Server) expire(ctx context.Context, s *Session, w *Writer, args [][]byte, cmd string, relative, seconds bool) {
	flags := 0
	for _, opt := range args[3:] {
		switch {
		case eqFold(opt, "nx"):
			flags |= expNX
		case eqFold(opt, "xx"):
			flags |= expXX
		case eqFold(opt, "gt"):
			flags |= expGT
		case eqFold(opt, "lt"):
			flags |= expLT
		default:
			w.Error("ERR Unsupported option " + string(cString(opt)))
			return
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		w.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		w.Error("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := parseRedisInt(args[2])
	if !ok {
		w.Error(errNotInteger)
		return
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			w.Error(expireTimeText(cmd))
			return
		}
		when *= 1000
	}
	now := srv.coord.NowMillis()
	var base int64
	if relative {
		base = now
	}
	if when > math.MaxInt64-base {
		w.Error(expireTimeText(cmd))
		return
	}
	when += base
	applied := false
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		applied = false
		if !ok {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		has := cur.ExpireAt != 0
		switch {
		case flags&expNX != 0 && has,
			flags&expXX != 0 && !has,
			flags&expGT != 0 && (!has || when <= cur.ExpireAt),
			flags&expLT != 0 && has && when >= cur.ExpireAt:
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		applied = true
		if when <= now {
			return coordinator.Change{Op: coordinator.Delete}, nil
		}
		cur.ExpireAt = when
		return coordinator.Change{Op: coordinator.Put, Value: cur}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(boolInt(applied))
}

func (srv *Server) cmdTTL(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.ttl(ctx, s, w, args[1], false, false)
}

func (srv *Server) cmdPTTL(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.ttl(ctx, s, w, args[1], true, false)
}

func (srv *Server) cmdExpireTime(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.ttl(ctx, s, w, args[1], false, true)
}

func (srv *Server) cmdPExpireTime(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	srv.ttl(ctx, s, w, args[1], true, true)
}

// ttl is TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing key, -1
// for a key without expiry, else the remaining time (or the deadline when
// absolute), in ms or in seconds rounded to nearest.
func (srv *Server) ttl(ctx context.Context, s *Session, w *Writer, key []byte, ms, absolute bool) {
	v, ok, err := srv.coord.Get(ctx, s.DB, key)
	switch {
	case err != nil:
		srv.writeError(w, err)
		return
	case !ok:
		w.Int(-2)
		return
	case v.ExpireAt == 0:
		w.Int(-1)
		return
	}
	t := v.ExpireAt
	if !absolute {
		t -= srv.coord.NowMillis()
	}
	t = max(t, 0)
	if !ms {
		// Rounded to the nearest second, as Redis does, without the
		// overflow of (t+500)/1000 for a time near the int64 maximum.
		t = t/1000 + (t%1000+500)/1000
	}
	w.Int(t)
}

func (srv *Server) cmdPersist(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	removed := false
	err := srv.coord.Update(ctx, s.DB, args[1], func(cur coordinator.Value, ok bool) (coordinator.Change, error) {
		removed = ok && cur.ExpireAt != 0
		if !removed {
			return coordinator.Change{Op: coordinator.Keep}, nil
		}
		cur.ExpireAt = 0
		return coordinator.Change{Op: coordinator.Put, Value: cur}, nil
	})
	if err != nil {
		srv.replyErr(w, err)
		return
	}
	w.Int(boolInt(removed))
}
