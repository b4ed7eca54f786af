package engine

import (
	"encoding/binary"
	"errors"

	"github.com/ringstore/ringstore/ring"
)

// Key layout. Every pebble key starts with a namespace byte:
//
//	data: 0x01 | slot (2 bytes, big-endian) | db (1 byte) | user key
//	hint: 0x02 | len(target) (2 bytes, big-endian) | target | seq (8 bytes, big-endian)
//	meta: 0x03 | name
//
// Slot before db makes one slot (every db) and one slot of one db contiguous,
// bounded key ranges, which is what per-slot iteration needs.
const (
	nsData byte = 0x01
	nsHint byte = 0x02
	nsMeta byte = 0x03
)

// MaxDatabases is the largest Config.Databases: the db is one byte of the key.
const MaxDatabases = 256

// dataPrefixLen is the length of a data key before the user key.
const dataPrefixLen = 4

// appendDataKey appends the pebble key of (db, key) to b.
func appendDataKey(b []byte, db int, key []byte) []byte {
	return append(appendSlotDBPrefix(b, ring.Slot(key), db), key...)
}

// appendSlotPrefix appends the prefix shared by every record of slot, in
// every db.
func appendSlotPrefix(b []byte, slot uint16) []byte {
	return append(b, nsData, byte(slot>>8), byte(slot))
}

// appendSlotDBPrefix appends the prefix shared by every record of db in slot.
func appendSlotDBPrefix(b []byte, slot uint16, db int) []byte {
	return append(appendSlotPrefix(b, slot), byte(db))
}

// dataKeySlot is the slot of a data key (len(k) >= 3), as a pebble key or
// as the record cache keeps it.
func dataKeySlot[K ~[]byte | ~string](k K) uint16 { return uint16(k[1])<<8 | uint16(k[2]) }

// parseDataKey splits a data key into its db and user key. The user key
// aliases k.
func parseDataKey(k []byte) (db int, key []byte, ok bool) {
	if len(k) < dataPrefixLen || k[0] != nsData {
		return 0, nil, false
	}
	return int(k[3]), k[dataPrefixLen:], true
}

// keySuccessor returns the smallest key greater than every key with prefix p,
// or nil when there is none (p is all 0xff). It does not modify p.
func keySuccessor(p []byte) []byte {
	out := append([]byte(nil), p...)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] != 0xff {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}

// maxHintTarget is the longest hint target: its length is two bytes of the key.
const maxHintTarget = 1<<16 - 1

var errHintTarget = errors.New("engine: hint target must be 1..65535 bytes")

// appendHintPrefix appends the prefix shared by every hint for target.
func appendHintPrefix(b []byte, target string) []byte {
	b = append(b, nsHint)
	b = binary.BigEndian.AppendUint16(b, uint16(len(target)))
	return append(b, target...)
}

func appendHintKey(b []byte, target string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendHintPrefix(b, target), seq)
}

// parseHintKey splits a hint key into its target and sequence number.
func parseHintKey(k []byte) (target string, seq uint64, ok bool) {
	if len(k) < 3 || k[0] != nsHint {
		return "", 0, false
	}
	n := int(binary.BigEndian.Uint16(k[1:3]))
	if len(k) != 3+n+8 {
		return "", 0, false
	}
	return string(k[3 : 3+n]), binary.BigEndian.Uint64(k[3+n:]), true
}

func appendMetaKey(b []byte, name string) []byte {
	return append(append(b, nsMeta), name...)
}
