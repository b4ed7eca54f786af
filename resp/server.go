package resp

import (
	"github.com/ringstore/ringstore/coordinator"
)

// Server serves the Redis protocol for one node.
type Server struct {
	coord *coordinator.Coordinator
	cmds  table
}
