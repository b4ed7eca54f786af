package resp

import (
	"context"
)

// Dynamo's get and put with context (DESIGN.md "Versions"). GETCTX shows
// every live sibling of a key and the context (an opaque token) that covers
// them; SETCTX and DELCTX supersede exactly what a context covers, so a
// client that read siblings can resolve them, and writes it has not seen
// survive as siblings. A malformed context is answered by srv.writeError.

func (srv *Server) contextCommands() []*command {
	return []*command{
		{name: "getctx", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@read", "@string", "@fast"}, handler: srv.cmdGetCtx},
		{name: "setctx", arity: -4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@slow"}, handler: srv.cmdSetCtx},
		{name: "delctx", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, acl: []string{"@write", "@string", "@fast"}, handler: srv.cmdDelCtx},
	}
}

// cmdGetCtx is GETCTX key -> [context, [value, ...]]: the context is nil
// when the key has no versions at all; the list holds the live siblings.
func (srv *Server) cmdGetCtx(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	tok, vals, err := srv.coord.GetContext(ctx, s.DB, args[1])
	if err != nil {
		srv.writeError(w, err)
		return
	}
	for _, v := range vals {
		if !isString(v) {
			w.Error(txtWrongType)
			return
		}
	}
	w.Array(2)
	if tok == "" {
		w.Null()
	} else {
		w.BulkString(tok)
	}
	w.Array(len(vals))
	for _, v := range vals {
		w.Bulk(v.Data)
	}
}

// cmdSetCtx is SETCTX key context value [EX seconds | PX milliseconds].
// An empty context covers nothing: the value becomes a sibling of whatever
// the key holds.
func (srv *Server) cmdSetCtx(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	flags := 0
	var exp []byte
	for j := 4; j < len(args); j++ {
		switch {
		case eqFold(args[j], "ex") && flags&optPX == 0 && j+1 < len(args):
			flags |= optEX
		case eqFold(args[j], "px") && flags&optEX == 0 && j+1 < len(args):
			flags |= optPX
		default:
			w.Error(errSyntax)
			return
		}
		exp = args[j+1]
		j++
	}
	var at int64
	if exp != nil {
		var t string
		if at, t = expireAt(exp, flags, "setctx", srv.coord.NowMillis()); t != "" {
			w.Error(t)
			return
		}
	}
	if err := srv.coord.SetContext(ctx, s.DB, args[1], string(args[2]), stringValue(args[3], at)); err != nil {
		srv.writeError(w, err)
		return
	}
	w.Status("OK")
}

// cmdDelCtx is DELCTX key context: it writes a tombstone superseding what
// the context covers and answers 1 when that included a live sibling.
func (srv *Server) cmdDelCtx(ctx context.Context, s *Session, w *Writer, args [][]byte) {
	covered, err := srv.coord.DeleteContext(ctx, s.DB, args[1], string(args[2]))
	if err != nil {
		srv.writeError(w, err)
		return
	}
	w.Int(boolInt(covered))
}
