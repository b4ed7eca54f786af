package coordinator

import (
	"context"
	"errors"
	"time"

	"github.com/ringstore/ringstore/version"
)

// Transport carries the coordinator's calls to other nodes. cluster.Transport
// implements it over TCP; tests use an in-memory fake with fault injection.
// It is safe for concurrent use; many calls to one node are pipelined, not
// serialised.
//
// Replica reads and writes are asynchronous, so that a quorum request sends
// its N-1 calls from its own goroutine and waits once for their answers,
// instead of parking a goroutine per call: SendRead and SendWrite queue a
// call and return, and the answer arrives later through Replies. For every
// call started the Transport delivers exactly one answer, by the call's
// deadline at the latest (then with an error wrapping
// context.DeadlineExceeded); the coordinator counts on that to finish a
// request and to let Close return. key and sib are not retained after the
// Send method returns.
type Transport interface {
	// SendRead starts reading the siblings node holds for key; the answer
	// (nil siblings when absent) goes to to.Reply(i, ...).
	SendRead(node string, db int, key []byte, deadline time.Time, to Replies, i int)
	// SendWrite starts merging sib into node's copy of key; the answer goes
	// to to.Reply(i, nil, err), err == nil meaning that node stored it per
	// its fsync policy. A non-empty hintFor asks node to keep the write as a
	// durable hint for that intended owner too (sloppy quorum).
	SendWrite(node string, db int, key []byte, sib version.Siblings, hintFor string, deadline time.Time, to Replies, i int)
	// Forward runs a client command on node as if a client connected to it
	// had sent it with db selected, and returns the raw RESP reply. It
	// honours ctx's deadline.
	Forward(ctx context.Context, node string, db int, args [][]byte) ([]byte, error)
}

// Replies receives the answers of a Transport's asynchronous calls. Reply
// may be called from any goroutine, even before the Send method that
// started the call returned; it must not wait for other calls' answers.
// sib belongs to the receiver.
type Replies interface {
	Reply(i int, sib version.Siblings, err error)
}

// RecordReplies is a Replies that takes a successful read's answer as the
// record's encoding (empty: absent), as the replica sent it, and decodes it
// itself: an answer that is byte for byte the record the coordinator read
// from its own store (replicas that agree, the common case) then costs a
// comparison instead of a decode, and merges with no work. A Transport
// delivers a read's answer through ReplyRecord when its Replies has it;
// failures still go to Reply. rec belongs to the receiver.
type RecordReplies interface {
	Replies
	ReplyRecord(i int, rec []byte)
}

// PeerHandler serves the calls a Transport receives from other nodes; the
// cluster package's transport server calls it. The Coordinator implements
// Read and Write; Forward is served by the RESP layer.
type PeerHandler interface {
	ServeRead(ctx context.Context, db int, key []byte) (version.Siblings, error)
	ServeWrite(ctx context.Context, db int, key []byte, sib version.Siblings, hintFor string) error
	ServeForward(ctx context.Context, db int, args [][]byte) ([]byte, error)
}

// CachedReader is a PeerHandler that can answer a read with the record's
// stored encoding, straight from memory (the Coordinator over an
// engine.Store, from its record cache): the transport server then sends
// those bytes as the reply, instead of decoding the record in ServeRead
// only to encode it again. Measured through one node of a 3-node ring under
// GET -P 16, it cut the replicas' CPU per read by about a tenth. ok false
// means the read must go to ServeRead.
type CachedReader interface {
	ServeReadCached(db int, key []byte) (rec []byte, ok bool)
}

// ErrUnreachable marks a call to a node that could not be made or answered.
var ErrUnreachable = errors.New("coordinator: node unreachable")

// replyChan is a Replies that hands each answer to a waiting goroutine, for
// the few calls made one at a time (hinted handoff).
type replyChan chan error

func (ch replyChan) Reply(_ int, _ version.Siblings, err error) { ch <- err }

// writeOne writes sib to node and waits for its answer.
func (c *Coordinator) writeOne(node string, db int, key []byte, sib version.Siblings) error {
	ch := make(replyChan, 1)
	c.cfg.Transport.SendWrite(node, db, key, sib, "", time.Now().Add(c.cfg.CallTimeout), ch, 0)
	return <-ch
}
