package cluster

import (
	"encoding/binary"
	"math"
)

// Payload encodings of the built-in ops (see frame.go). Decoders return
// slices that alias their input and check every length against the bytes
// that remain, so a hostile payload costs at most its own size.

// maxDB bounds a decoded database number; the handler checks the real range.
const maxDB = math.MaxInt32

func appendStr(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendReadReq(b []byte, db int, key []byte) []byte {
	b = binary.AppendUvarint(b, uint64(db))
	return append(b, key...)
}

func appendWriteReq(b []byte, db int, key []byte, hintFor string, record func([]byte) []byte) []byte {
	b = binary.AppendUvarint(b, uint64(db))
	b = appendStr(b, key)
	b = binary.AppendUvarint(b, uint64(len(hintFor)))
	b = append(b, hintFor...)
	return record(b)
}

func appendForwardReq(b []byte, db int, args [][]byte) []byte {
	b = binary.AppendUvarint(b, uint64(db))
	b = binary.AppendUvarint(b, uint64(len(args)))
	for _, a := range args {
		b = appendStr(b, a)
	}
	return b
}

func forwardReqSize(args [][]byte) int {
	n := 2 * binary.MaxVarintLen64
	for _, a := range args {
		n += binary.MaxVarintLen64 + len(a)
	}
	return n
}

func decodeReadReq(p []byte) (db int, key []byte, err error) {
	d := PayloadReader{b: p}
	db = d.DB()
	key = d.Rest()
	return db, key, d.End()
}

func decodeWriteReq(p []byte) (db int, key []byte, hintFor string, record []byte, err error) {
	d := PayloadReader{b: p}
	db = d.DB()
	key = d.Str("key")
	hint := d.Str("hint")
	if len(hint) > maxIDLen {
		d.Fail("hint")
	}
	record = d.Rest()
	return db, key, string(hint), record, d.End()
}

func decodeForwardReq(p []byte) (db int, args [][]byte, err error) {
	d := PayloadReader{b: p}
	db = d.DB()
	n := d.Uvarint("argc")
	// Every argument takes at least one byte, so a count beyond the bytes
	// left is a lie and must not size an allocation.
	if d.err == nil && (n == 0 || n > uint64(len(d.b))) {
		d.Fail("argc")
	}
	if d.err != nil {
		return 0, nil, d.err
	}
	args = make([][]byte, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		args = append(args, d.Str("argument"))
	}
	return db, args, d.End()
}
