package resp

func (srv *Server) connectionCommands() []*command { return nil }
