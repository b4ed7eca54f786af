package resp

// writeError turns an error from the coordinator (or a handler) into Redis
// error text.
func (srv *Server) writeError(w *Writer, err error) {
	w.Error("ERR " + err.Error())
}
