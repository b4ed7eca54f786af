package resp

func (srv *Server) stringCommands() []*command { return nil }
