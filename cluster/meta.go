package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MetaStore keeps small named values durably; the membership keeps its ring
// log and address book there. engine.Store implements it. PutMeta must not
// return before the value is on stable storage: an event is written before
// it is gossiped, so a node never forgets an event it told others about.
// GetMeta returns ok == false for a name never written. Both must be safe
// for concurrent use; the membership calls them from its own goroutines.
type MetaStore interface {
	GetMeta(name string) ([]byte, bool, error)
	PutMeta(name string, val []byte) error
}

// Names under which the membership keeps its state in the MetaStore.
const (
	metaRingLog   = "ring-log"   // the ring log, see ringlog.go
	metaRingNodes = "ring-nodes" // the address book, see appendBook
)

// maxAddrLen bounds the RESP and peer addresses so that node meta always
// fits memberlist's 512-byte limit.
const maxAddrLen = 200

const (
	nodeMetaFormat = 1
	bookFormat     = 1
)

var errBadMeta = errors.New("cluster: malformed node meta")

// nodeAddrs are the addresses of one node: what node meta announces, and an
// entry of the address book.
type nodeAddrs struct {
	ID         string
	GossipAddr string // host:port of its memberlist
	RESPAddr   string // host:port clients reach it at
	PeerAddr   string // host:port of its peer transport
}

// nodeMeta is what a node announces in memberlist's node meta:
//
//	meta = format:u8(1) str(id) str(resp) str(peer) digest(log) [digest(synced)]
//	digest = uvarint(count) hash:u64
//	str  = u8(len) bytes
//
// The gossip address is not in it: memberlist carries that itself. Synced
// (see Membership.SetSynced) is optional so that meta from a node that
// never announced one decodes; it is written whenever it is not zero.
type nodeMeta struct {
	ID       string
	RESPAddr string
	PeerAddr string
	Log      LogDigest
	Synced   LogDigest
}

func (nm nodeMeta) appendBinary(b []byte) []byte {
	b = append(b, nodeMetaFormat)
	b = appendShortStr(b, nm.ID)
	b = appendShortStr(b, nm.RESPAddr)
	b = appendShortStr(b, nm.PeerAddr)
	b = appendDigest(b, nm.Log)
	if nm.Synced != (LogDigest{}) {
		b = appendDigest(b, nm.Synced)
	}
	return b
}

func appendDigest(b []byte, d LogDigest) []byte {
	b = binary.AppendUvarint(b, d.Count)
	return binary.BigEndian.AppendUint64(b, d.Hash)
}

// readDigest decodes a digest from the front of b.
func readDigest(b []byte) (LogDigest, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || len(b)-k < 8 {
		return LogDigest{}, b, false
	}
	return LogDigest{Count: n, Hash: binary.BigEndian.Uint64(b[k:])}, b[k+8:], true
}

func decodeNodeMeta(b []byte) (nodeMeta, error) {
	var nm nodeMeta
	if len(b) == 0 || b[0] != nodeMetaFormat {
		return nm, fmt.Errorf("%w: unknown format", errBadMeta)
	}
	b = b[1:]
	var ok bool
	for _, s := range []*string{&nm.ID, &nm.RESPAddr, &nm.PeerAddr} {
		if *s, b, ok = readShortStr(b); !ok {
			return nm, fmt.Errorf("%w: truncated", errBadMeta)
		}
	}
	if nm.Log, b, ok = readDigest(b); !ok {
		return nm, fmt.Errorf("%w: bad log digest", errBadMeta)
	}
	if len(b) > 0 {
		if nm.Synced, b, ok = readDigest(b); !ok || len(b) != 0 {
			return nm, fmt.Errorf("%w: bad synced digest", errBadMeta)
		}
	}
	return nm, nil
}

// The address book remembers the addresses of ring members across restarts,
// so that a restarted node can show where a down member was and try to
// reconnect to members its Join list does not name:
//
//	book  = format:u8(1) uvarint(count) entry*count
//	entry = str(id) str(gossip) str(resp) str(peer)
//
// Entries are sorted by ID.
func appendBook(b []byte, book []nodeAddrs) []byte {
	book = slices.Clone(book)
	slices.SortFunc(book, func(x, y nodeAddrs) int { return strings.Compare(x.ID, y.ID) })
	b = append(b, bookFormat)
	b = binary.AppendUvarint(b, uint64(len(book)))
	for _, a := range book {
		b = appendShortStr(b, a.ID)
		b = appendShortStr(b, a.GossipAddr)
		b = appendShortStr(b, a.RESPAddr)
		b = appendShortStr(b, a.PeerAddr)
	}
	return b
}

func decodeBook(b []byte) ([]nodeAddrs, error) {
	if len(b) == 0 || b[0] != bookFormat {
		return nil, fmt.Errorf("%w: address book: unknown format", errBadMeta)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k)/4 {
		return nil, fmt.Errorf("%w: address book: bad count", errBadMeta)
	}
	b = b[k:]
	book := make([]nodeAddrs, 0, n)
	for range n {
		var a nodeAddrs
		var ok bool
		for _, s := range []*string{&a.ID, &a.GossipAddr, &a.RESPAddr, &a.PeerAddr} {
			if *s, b, ok = readShortStr(b); !ok {
				return nil, fmt.Errorf("%w: address book: truncated", errBadMeta)
			}
		}
		book = append(book, a)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: address book: trailing bytes", errBadMeta)
	}
	return book, nil
}

// appendShortStr appends s with a one-byte length; callers keep s under 256
// bytes (Validate bounds the addresses, node IDs are 40 bytes).
func appendShortStr(b []byte, s string) []byte {
	s = s[:min(len(s), 255)]
	return append(append(b, byte(len(s))), s...)
}

func readShortStr(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b)-1 < int(b[0]) {
		return "", b, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

// loadState reads the ring log and the address book from store. A missing
// value is empty; a malformed one is an error, not silently reset, because
// forgetting the ring log would make a restarted node record a second Join.
func loadState(store MetaStore) (*ringLog, []nodeAddrs, error) {
	raw, ok, err := store.GetMeta(metaRingLog)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: read ring log: %w", err)
	}
	lg := newRingLog(nil)
	if ok {
		events, err := decodeEvents(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: read ring log: %w", err)
		}
		lg = newRingLog(events)
	}
	raw, ok, err = store.GetMeta(metaRingNodes)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: read address book: %w", err)
	}
	var book []nodeAddrs
	if ok {
		if book, err = decodeBook(raw); err != nil {
			return nil, nil, fmt.Errorf("cluster: read address book: %w", err)
		}
	}
	return lg, book, nil
}
