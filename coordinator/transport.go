package coordinator

import (
	"context"
	"errors"

	"github.com/ringstore/ringstore/version"
)

// Transport carries the coordinator's calls to other nodes. cluster.Transport
// implements it over TCP; tests use an in-memory fake with fault injection.
// Every call honours ctx's deadline and is safe for concurrent use; many calls
// to one node are pipelined, not serialised.
type Transport interface {
	// Read returns the siblings node holds for key (nil when absent).
	Read(ctx context.Context, node string, db int, key []byte) (version.Siblings, error)
	// Write merges sib into node's copy of key. A non-empty hintFor asks node
	// to keep the write as a durable hint for that intended owner too
	// (sloppy quorum). It returns after node has stored it per its fsync policy.
	Write(ctx context.Context, node string, db int, key []byte, sib version.Siblings, hintFor string) error
	// Forward runs a client command on node as if a client connected to it
	// had sent it with db selected, and returns the raw RESP reply.
	Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error)
}

// PeerHandler serves the calls a Transport receives from other nodes; the
// cluster package's transport server calls it. The Coordinator implements
// Read and Write; Forward is served by the RESP layer.
type PeerHandler interface {
	ServeRead(ctx context.Context, db int, key []byte) (version.Siblings, error)
	ServeWrite(ctx context.Context, db int, key []byte, sib version.Siblings, hintFor string) error
	ServeForward(ctx context.Context, db int, args [][]byte) ([]byte, error)
}

// ErrUnreachable marks a call to a node that could not be made or answered.
var ErrUnreachable = errors.New("coordinator: node unreachable")
