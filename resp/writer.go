package resp

import "strconv"

// Writer accumulates RESP2 replies in a byte buffer. A command handler writes
// its whole reply into a Writer; the server copies finished buffers to the
// connection in request order, which is what lets a pipelined batch run its
// commands concurrently and still answer in order. A Writer is not safe for
// concurrent use.
type Writer struct {
	b []byte
}

// Bytes returns the buffered replies; they stay valid until the next write or Reset.
func (w *Writer) Bytes() []byte { return w.b }

// Reset empties the buffer, keeping its capacity.
func (w *Writer) Reset() { w.b = w.b[:0] }

// Len is the number of buffered bytes.
func (w *Writer) Len() int { return len(w.b) }

// Status writes a simple string: +OK.
func (w *Writer) Status(s string) {
	w.b = append(w.b, '+')
	w.b = appendLine(w.b, s)
}

// Error writes an error reply. msg must carry its own prefix (ERR, WRONGTYPE,
// ...): nothing is added. CR and LF are replaced so a reply can never break
// framing.
func (w *Writer) Error(msg string) {
	w.b = append(w.b, '-')
	w.b = appendLine(w.b, msg)
}

// Int writes an integer reply.
func (w *Writer) Int(n int64) {
	w.b = append(w.b, ':')
	w.b = strconv.AppendInt(w.b, n, 10)
	w.b = append(w.b, '\r', '\n')
}

// Bulk writes a bulk string.
func (w *Writer) Bulk(p []byte) {
	w.b = append(w.b, '$')
	w.b = strconv.AppendInt(w.b, int64(len(p)), 10)
	w.b = append(w.b, '\r', '\n')
	w.b = append(w.b, p...)
	w.b = append(w.b, '\r', '\n')
}

// BulkString writes a bulk string from a Go string.
func (w *Writer) BulkString(s string) {
	w.b = append(w.b, '$')
	w.b = strconv.AppendInt(w.b, int64(len(s)), 10)
	w.b = append(w.b, '\r', '\n')
	w.b = append(w.b, s...)
	w.b = append(w.b, '\r', '\n')
}

// Null writes the null bulk string ($-1), Redis's nil.
func (w *Writer) Null() { w.b = append(w.b, "$-1\r\n"...) }

// NullArray writes the null array (*-1).
func (w *Writer) NullArray() { w.b = append(w.b, "*-1\r\n"...) }

// Array writes an array header; the caller then writes n elements.
func (w *Writer) Array(n int) {
	w.b = append(w.b, '*')
	w.b = strconv.AppendInt(w.b, int64(n), 10)
	w.b = append(w.b, '\r', '\n')
}

// Raw appends bytes that are already RESP (a forwarded peer reply).
func (w *Writer) Raw(p []byte) { w.b = append(w.b, p...) }

func appendLine(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return append(b, '\r', '\n')
}
