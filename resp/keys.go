package resp

func (srv *Server) keyCommands() []*command { return nil }
