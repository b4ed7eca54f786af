package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ringstore/ringstore/coordinator"
)

// Wire format of the peer protocol after the handshake (frame_auth.go).
// Both directions carry frames:
//
//	frame  = length:u32 kind:u8 id:u64 budget:u32 payload[length]
//
// Integers are big-endian. kind below 0x80 is a request and names its Op;
// kindOK (0x80) is a successful reply whose payload is the op's result, and
// kindErr (0x81) an error reply whose payload is code:u8 message. id is picked
// by the client, unique among its calls in flight on the connection, and a
// reply repeats its request's id; replies may come in any order. budget is a
// request's remaining time in milliseconds when it was sent (0: no deadline)
// and is 0 in replies. length never exceeds the receiver's MaxFrame: a bigger
// frame, a reply kind other than the two, or a reply to an id never sent is
// a protocol error that closes the connection (a reply whose caller gave up
// is dropped). A payload that does not decode gets an error reply.
//
// Request payloads of the built-in ops (str = uvarint(len) bytes):
//
//	OpRead     uvarint(db) key                          -> record, or empty if absent
//	OpWrite    uvarint(db) str(key) str(hintFor) record -> empty
//	OpForward  uvarint(db) uvarint(argc) str(arg)*argc  -> raw RESP reply
//	OpPing     empty                                    -> empty
//
// record is version.Siblings.AppendBinary's encoding. Error codes are the
// errCode values below; a client maps them back to errors.Is-able causes.
const (
	headerLen = 4 + 1 + 8 + 4

	kindOK  = 0x80
	kindErr = 0x81
)

// Op names a peer call. Ops below 0x10 are the built-in calls; 0x10-0x3f are
// reserved for anti-entropy and handoff, 0x40-0x7f for later calls. A server
// answers an op it does not know with an error wrapping ErrUnknownOp, so a
// newer node can probe an older one.
type Op uint8

// Built-in ops.
const (
	OpRead    Op = 0x01
	OpWrite   Op = 0x02
	OpForward Op = 0x03
	OpPing    Op = 0x04

	// OpReservedFirst..OpReservedLast are set aside for anti-entropy
	// (Merkle tree exchange) and handoff streams.
	OpReservedFirst Op = 0x10
	OpReservedLast  Op = 0x3f

	// OpSlotDigests and OpSlotKeys are anti-entropy's (package
	// antientropy, which serves and calls them): a node's slot digests,
	// and the record digests of one slot.
	OpSlotDigests Op = OpReservedFirst + 1
	OpSlotKeys    Op = OpReservedFirst + 2

	opLimit = 0x80 // first value that is not an op
)

// String returns the op's name, or its number.
func (op Op) String() string {
	switch op {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpForward:
		return "forward"
	case OpPing:
		return "ping"
	case OpSlotPage:
		return "slot-page"
	case OpSlotDigests:
		return "slot-digests"
	case OpSlotKeys:
		return "slot-keys"
	}
	return fmt.Sprintf("op%#02x", uint8(op))
}

func (op Op) valid() bool { return op != 0 && op < opLimit }

// errCode classifies an error reply, so that the client can rebuild an error
// that errors.Is understands.
type errCode uint8

const (
	codeHandler    errCode = 0 // the handler returned an error
	codeUnknownOp  errCode = 1 // the server has no handler for the op
	codeBadRequest errCode = 2 // the payload did not decode
	codeDeadline   errCode = 3 // the request's budget ran out at the server
	codeShutdown   errCode = 4 // the server is closing
	codeCanceled   errCode = 5 // the handler was cancelled (connection closing)
)

// ErrUnknownOp is wrapped by the error of a call whose op the peer does not
// serve.
var ErrUnknownOp = errors.New("cluster: peer does not serve this op")

// RemoteError is the error a peer returned for a call: the node was reached
// and answered, so it does not wrap coordinator.ErrUnreachable, except when
// the peer was shutting down. Msg is the remote error's text.
type RemoteError struct {
	Node string // the peer that answered
	Op   Op
	Msg  string
	code errCode
}

func (e *RemoteError) Error() string {
	return "cluster: " + e.Op.String() + " on " + e.Node + ": " + e.Msg
}

// Unwrap lets errors.Is see the class of a remote failure:
// context.DeadlineExceeded when the call's budget ran out at the peer,
// context.Canceled, ErrUnknownOp, or coordinator.ErrUnreachable for a peer
// that was shutting down.
func (e *RemoteError) Unwrap() error {
	switch e.code {
	case codeUnknownOp:
		return ErrUnknownOp
	case codeDeadline:
		return context.DeadlineExceeded
	case codeCanceled:
		return context.Canceled
	case codeShutdown:
		return coordinator.ErrUnreachable
	}
	return nil
}

// header is a frame's fixed part.
type header struct {
	length int
	kind   uint8
	id     uint64
	budget uint32 // milliseconds; 0 = none
}

func appendHeader(b []byte, h header) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(h.length))
	b = append(b, h.kind)
	b = binary.BigEndian.AppendUint64(b, h.id)
	return binary.BigEndian.AppendUint32(b, h.budget)
}

func parseHeader(b *[headerLen]byte) header {
	return header{
		length: int(binary.BigEndian.Uint32(b[0:4])),
		kind:   b[4],
		id:     binary.BigEndian.Uint64(b[5:13]),
		budget: binary.BigEndian.Uint32(b[13:17]),
	}
}

// budgetOf converts a deadline into a frame budget: milliseconds rounded up,
// so that a positive remainder never becomes "no deadline". ok is false when
// the deadline has passed.
func budgetOf(deadline time.Time, has bool, now time.Time) (budget uint32, ok bool) {
	if !has {
		return 0, true
	}
	d := deadline.Sub(now)
	if d <= 0 {
		return 0, false
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(min(ms, 1<<32-1)), true
}

// errProtocol marks a peer that broke the wire format; the connection is
// closed.
var errProtocol = errors.New("cluster: peer protocol error")

// readHeader reads one frame header and checks its length against maxFrame.
func readHeader(r *bufio.Reader, buf *[headerLen]byte, maxFrame int) (header, error) {
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return header{}, err
	}
	h := parseHeader(buf)
	if h.length > maxFrame {
		return h, fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", errProtocol, h.length, maxFrame)
	}
	return h, nil
}

// payloadChunk is the most readPayload allocates before it has seen bytes to
// fill it: a frame that claims a huge length costs memory only as fast as
// its bytes actually arrive.
const payloadChunk = 64 << 10

// readPayload reads an n-byte payload into a new slice the caller owns.
func readPayload(r *bufio.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= payloadChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, noEOF(err)
		}
		return b, nil
	}
	b := make([]byte, 0, payloadChunk)
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b[:cap(b)], make([]byte, min(cap(b), n-len(b)))...)[:len(b)]
		}
		m, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			return nil, noEOF(err)
		}
	}
	return b, nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
