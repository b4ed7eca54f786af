package cluster

import (
	"encoding/binary"
	"fmt"
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

type payloadDecoder struct {
	b   []byte
	err error
}

func (d *payloadDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("malformed payload: bad %s", what)
	}
	d.b = nil
}

func (d *payloadDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *payloadDecoder) db() int {
	v := d.uvarint("db")
	if v > maxDB {
		d.fail("db")
		return 0
	}
	return int(v)
}

func (d *payloadDecoder) str(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// rest returns the remaining bytes.
func (d *payloadDecoder) rest() []byte {
	r := d.b
	d.b = nil
	return r
}

func (d *payloadDecoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

func decodeReadReq(p []byte) (db int, key []byte, err error) {
	d := payloadDecoder{b: p}
	db = d.db()
	key = d.rest()
	return db, key, d.end()
}

func decodeWriteReq(p []byte) (db int, key []byte, hintFor string, record []byte, err error) {
	d := payloadDecoder{b: p}
	db = d.db()
	key = d.str("key")
	hint := d.str("hint")
	if len(hint) > maxIDLen {
		d.fail("hint")
	}
	record = d.rest()
	return db, key, string(hint), record, d.end()
}

func decodeForwardReq(p []byte) (db int, args [][]byte, err error) {
	d := payloadDecoder{b: p}
	db = d.db()
	n := d.uvarint("argc")
	// Every argument takes at least one byte, so a count beyond the bytes
	// left is a lie and must not size an allocation.
	if d.err == nil && (n == 0 || n > uint64(len(d.b))) {
		d.fail("argc")
	}
	if d.err != nil {
		return 0, nil, d.err
	}
	args = make([][]byte, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		args = append(args, d.str("argument"))
	}
	return db, args, d.end()
}
