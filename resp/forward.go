package resp

import "context"

// forwardedCall is what ExecuteForwarded needs, allocated at once: a
// session, and a Writer whose first buffer is inline, enough for the
// status, integer and small bulk replies most forwarded commands get.
type forwardedCall struct {
	s   Session
	w   Writer
	buf [256]byte
}

// ExecuteForwarded runs a command another node forwarded (a client of that
// node sent it, with db selected) and returns its raw RESP reply, which the
// caller owns. The forwarding node already authenticated the client.
//
// The command runs here whatever the routing says (Session.forwarded), so
// that two nodes with different views of the ring can never bounce it
// between them.
func (srv *Server) ExecuteForwarded(ctx context.Context, db int, args [][]byte) []byte {
	fc := &forwardedCall{s: Session{DB: db, Authed: true, Addr: "peer", forwarded: true}}
	fc.w.b = fc.buf[:0]
	srv.execute(ctx, &fc.s, &fc.w, args)
	return fc.w.Bytes()
}
