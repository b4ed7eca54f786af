package resp

import "context"

type forwardedKey struct{}

// isForwarded reports whether ctx carries a command another node forwarded
// here; such a command runs here whatever the routing says, so that two
// nodes with different views of the ring can never bounce it between them.
func isForwarded(ctx context.Context) bool {
	_, ok := ctx.Value(forwardedKey{}).(struct{})
	return ok
}

// ExecuteForwarded runs a command another node forwarded (a client of that
// node sent it, with db selected) and returns its raw RESP reply. The
// forwarding node already authenticated the client.
func (srv *Server) ExecuteForwarded(ctx context.Context, db int, args [][]byte) []byte {
	s := &Session{DB: db, Authed: true, Addr: "peer"}
	var w Writer
	srv.execute(context.WithValue(ctx, forwardedKey{}, struct{}{}), s, &w, args)
	return w.Bytes()
}
