package resp

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// The protocol guard.
//
// The connection loop buffers a whole command before redcon's parser looks
// at it, and redcon checks no size:
// a "$9999999999" header makes it grow its buffer until memory runs out. So
// every client net.Conn is wrapped in a guardConn whose Read runs a small
// state machine over the bytes as they arrive (no second parse, no copy in
// the common case) and enforces Redis's limits before redcon sees the
// bytes that break them:
//
//   - a bulk length over proto-max-bulk-len, or negative:  "-ERR Protocol error: invalid bulk length"
//   - a multibulk length over INT_MAX (what Redis 7.0 allows): "-ERR Protocol error: invalid multibulk length"
//   - before AUTH, more than 10 arguments or a bulk over 16384 bytes:
//     "... unauthenticated multibulk length" / "... unauthenticated bulk length"
//   - an inline line, or a "*n"/"$n" line, longer than 80 KiB (see maxInline):
//     "... too big inline request" / "too big mbulk count string" / "too big bulk count string"
//   - anything but '$' where a bulk must start: "... expected '$', got 'x'"
//   - one command (bytes plus 64 per argument) over the query buffer
//     limit (1 GiB, Redis's client-query-buffer-limit): closed without a
//     reply, as Redis does.
//
// Each of these is answered after the commands before it in the stream
// have run and been answered, then the connection is closed, exactly as
// Redis does; other connections are untouched. The guard also makes the
// stream say what Redis would understand where redcon is stricter: "*0" and
// "*-1" frames are dropped (Redis ignores them), and the two bytes after a
// bulk's data and after a length line's '\r' are taken as CRLF whatever they
// are (Redis skips them unchecked).
//
// Read does not return while the bytes it holds are only part of one
// command and its buffer has room: redcon re-parses an incomplete command
// from its start on every read, so handing it a trickle would cost
// quadratic time.

const (
	// maxInline is how long an inline command, or a "*n"/"$n" line, may
	// grow without its end. Redis's limit is PROTO_INLINE_MAX_SIZE (64 KiB),
	// checked after each 16 KiB read, so a line a client sends at once is
	// refused once 80 KiB of it arrived: that is the limit applied here.
	maxInline = 80 * 1024
	// maxMultibulk is the largest argument count Redis 7.0 accepts.
	maxMultibulk = 1<<31 - 1
	// maxUnauthMultibulk and maxUnauthBulk are Redis's limits before AUTH.
	maxUnauthMultibulk = 10
	maxUnauthBulk      = 16384
	// maxQueryBuffer is Redis's default client-query-buffer-limit; the
	// guard applies it to one command's bytes plus argOverhead per argument,
	// which is about what redcon spends to hold an argument.
	maxQueryBuffer = 1 << 30
	argOverhead    = 64
	// minArgBytes is the smallest argument on the wire: "$0\r\n\r\n".
	minArgBytes = 6
	// maxCountLine is the longest "*n"/"$n" line string2ll can accept: a
	// sign and 19 digits, plus the '*' or '$'.
	maxCountLine = 21
)

// Scanner states.
const (
	stStart    = iota // before the first byte of a command
	stInline          // in an inline command line, before its '\n'
	stMbLine          // in a "*n" line, before its '\r'
	stMbLF            // on the byte after the "*n" line's '\r'
	stBulkLine        // in a "$n" line, before its '\r'
	stBulkLF          // on the byte after the "$n" line's '\r'
	stBulkData        // in a bulk's data
	stBulkCR          // on the first byte after a bulk's data
	stBulkEnd         // on the second byte after a bulk's data
	stDoomed          // in a line with a NUL byte, which Redis never sees end
)

// errGuardClosed ends a connection the guard refused; the connection loop
// returns it.
var errGuardClosed = errors.New("resp: protocol error, connection closed")

// violation is a limit broken by the command starting at p[start] (start < 0:
// it started in an earlier Read). msg is the error text after "ERR "; ""
// closes without a reply. A final violation is not scanned again after the
// commands before it ran (its bytes are gone).
type violation struct {
	start int
	msg   string
	final bool
}

const (
	msgTooBigInline = "Protocol error: too big inline request"
	msgTooBigMbulk  = "Protocol error: too big mbulk count string"
	msgTooBigBulk   = "Protocol error: too big bulk count string"
)

// frameScanner is the guard's state machine. Its zero value is at the
// start of a command.
type frameScanner struct {
	state    int
	lineLen  int                // bytes of the current line, counting its '*' or '$'
	line     [maxCountLine]byte // the first bytes of a "*n"/"$n" line
	badStart byte               // the byte found where '$' was expected
	badSet   bool               // badStart is set: the "$n" line is an error once complete
	args     int64              // arguments left in the current multibulk
	data     int64              // bytes left in the current bulk's data
	cost     int64              // the current command's bytes + argOverhead per argument
	doomMsg  string             // stDoomed: the error once the line is too big
	inl      []byte             // the inline line collected so far
	// An inline command is put back as a RESP command, which is trusted:
	// Redis applies no argument limits to inline commands.
	trustNext, trusted bool
	overflow           []byte // converted bytes that did not fit in p, for Read to read next
}

// guardConn is a client connection seen through the guard. Read and Write
// are called only by the connection's goroutine (loop.go).
type guardConn struct {
	net.Conn
	srv  *Server
	sess *Session // set by accept; nil means not authenticated

	sc       frameScanner
	carry    []byte      // bytes read from the network but not yet scanned
	pending  string      // a final violation to answer at the next Read
	err      error       // returned by every Read after a refusal or a read error
	deadline atomic.Bool // a read deadline (the idle timeout) may be set
}

func (g *guardConn) authed() bool { return g.sess != nil && g.sess.Authed }

// Write counts the bytes sent for INFO's total_net_output_bytes.
func (g *guardConn) Write(b []byte) (int, error) {
	n, err := g.Conn.Write(b)
	if g.sess != nil {
		g.sess.netOut.Add(int64(n))
	}
	return n, err
}

// Read fills p with whole commands where it can; see the comment at the top
// of this file.
func (g *guardConn) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.pending != "" {
		return 0, g.refuse(g.pending)
	}
	// p[:out] is checked and will be delivered; p[out:end] is read but not
	// yet checked.
	out, end := 0, 0
	for {
		if end == len(p) {
			if out > 0 {
				return out, nil
			}
			// Only a held "*n" line fills p, so p is smaller than any
			// sane caller's (bufio reads at least 4096 bytes): let the
			// line through unheld.
			g.sc = frameScanner{}
			out, end, _, _, _ = g.sc.scan(p, 0, end, g.limits(), false)
			if out == 0 {
				return 0, g.refuse("Protocol error: invalid multibulk length")
			}
			return out, nil
		}
		var err error
		if len(g.carry) > 0 {
			m := copy(p[end:], g.carry)
			g.carry = g.carry[m:]
			end += m
		} else {
			var m int
			if d := g.srv.idleTimeout(); d > 0 {
				g.Conn.SetReadDeadline(time.Now().Add(d))
				g.deadline.Store(true)
			} else if g.deadline.Load() { // CONFIG SET timeout 0 since the last Read
				g.Conn.SetReadDeadline(time.Time{})
				g.deadline.Store(false)
			}
			m, err = g.Conn.Read(p[end:])
			if g.sess != nil {
				g.sess.netIn.Add(int64(m))
			}
			end += m
		}
		var ended bool
		var held int
		var v *violation
		out, end, held, ended, v = g.sc.scan(p, out, end, g.limits(), true)
		if len(g.sc.overflow) > 0 {
			g.carry = append(g.sc.overflow, g.carry...)
			g.sc.overflow = nil
		}
		switch {
		case v != nil && v.start > 0 && v.final:
			g.pending = v.msg
			return v.start, nil
		case v != nil && v.start > 0:
			// Let the commands before the offending one run first; it is
			// scanned again, with the session as they leave it.
			g.keep(p[v.start:end])
			g.sc = frameScanner{}
			return v.start, nil
		case v != nil:
			return 0, g.refuse(v.msg)
		case held > 0:
			g.keep(p[held:end])
			g.sc = frameScanner{}
			return held, nil
		case held == 0:
			// Only an incomplete "*n" line so far: read on behind it and
			// scan it again from its '*'.
			g.sc = frameScanner{}
			out = 0
		}
		if err != nil {
			if out > 0 {
				g.err = err
				return out, nil
			}
			return 0, err
		}
		if ended && out > 0 {
			return out, nil
		}
	}
}

// keep puts b back in front of the bytes still to scan.
func (g *guardConn) keep(b []byte) {
	if len(g.carry) == 0 {
		g.carry = append(g.carry[:0:0], b...)
		return
	}
	g.carry = append(append([]byte(nil), b...), g.carry...)
}

type limits struct {
	authed  bool
	maxBulk int64
	maxCost int64
}

func (g *guardConn) limits() limits {
	maxBulk := min(g.srv.protoMaxBulkLen(), 1<<61) // keeps cost sums far from overflow
	maxCost := g.srv.queryBufLimit
	if maxBulk+maxInline+argOverhead > maxCost {
		maxCost = maxBulk + maxInline + argOverhead
	}
	return limits{authed: g.authed(), maxBulk: maxBulk, maxCost: maxCost}
}

// refuse answers "-ERR <msg>" (nothing when msg is "") and makes every
// later Read fail, so the loop closes the connection. Every command before
// the offending one has been answered: Read is only called once the loop has
// run and flushed all it was given.
func (g *guardConn) refuse(msg string) error {
	g.err = errGuardClosed
	if msg != "" {
		b := append([]byte("-ERR "), msg...)
		for i := 5; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = ' '
			}
		}
		b = append(b, '\r', '\n')
		g.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		g.Write(b)
	}
	g.lingerClose()
	return g.err
}

// lingerClose half-closes the connection and reads what the client is
// still sending for a moment, so that the kernel does not answer unread
// data with a reset that could destroy the error reply before the client
// reads it. Bounded in time and bytes.
func (g *guardConn) lingerClose() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := g.Conn.(closeWriter)
	if !ok {
		return
	}
	if cw.CloseWrite() != nil {
		return
	}
	g.Conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	io.CopyN(io.Discard, g.Conn, 1<<20)
}

// scan checks p[from:end] and returns:
//   - out: p[:out] may be delivered (bytes of dropped "*0" commands are cut
//     out of p, so end may shrink to newEnd);
//   - held: with hold set, the index of an incomplete "*n" line at the end
//     of the data that must not be delivered yet, -1 if none;
//   - ended: a command ended in p[:out];
//   - v: the first limit broken, if any.
//
// A command in progress when scan is called began before p[from], and no
// command ended between its start and p[from] (Read returns as soon as one
// ends), so a violation in it is final: its start is reported as -1.
func (sc *frameScanner) scan(p []byte, from, end int, lim limits, hold bool) (out, newEnd, held int, ended bool, v *violation) {
	start := -1 // index in p of the current command's first byte
	i := from
	for i < end {
		c := p[i]
		switch sc.state {
		case stStart:
			start = i
			sc.cost = 0
			sc.trusted, sc.trustNext = sc.trustNext, false
			if c != '*' {
				sc.state, sc.lineLen = stInline, 0
				continue // the byte belongs to the line
			}
			sc.state, sc.lineLen = stMbLine, 1
		case stInline:
			// The line is collected (its bytes leave p) and, once whole, split
			// as Redis's sdssplitargs does and put back as the RESP command
			// it means: redcon's own inline parsing differs from Redis's.
			j := i
			for j < end && p[j] != '\n' && p[j] != 0 {
				j++
			}
			sc.inl = append(sc.inl, p[i:j]...)
			if len(sc.inl) > maxInline {
				return 0, end, -1, ended, &violation{start: start, msg: msgTooBigInline, final: true}
			}
			if j == end {
				end = i
				continue
			}
			if p[j] == 0 {
				copy(p[i:], p[j:end])
				end -= j - i
				sc.state, sc.doomMsg, sc.lineLen = stDoomed, msgTooBigInline, len(sc.inl)
				continue
			}
			line := sc.inl
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			args, ok := splitInline(line)
			if !ok {
				return 0, end, -1, ended, &violation{start: start, msg: "Protocol error: unbalanced quotes in request", final: true}
			}
			if cap(sc.inl) > 4096 {
				sc.inl = nil
			} else {
				sc.inl = sc.inl[:0]
			}
			sc.state = stStart
			var enc []byte
			if len(args) > 0 {
				enc = appendCommand(nil, args)
				sc.trustNext = true
			}
			// Replace the line's end with enc; what does not fit in p
			// goes back in front of the bytes still to read.
			tail := append(enc, p[j+1:end]...)
			n := copy(p[i:], tail)
			end = i + n
			sc.overflow = append(tail[n:], sc.overflow...) // before what an earlier line pushed out

			continue
		case stDoomed:
			// Redis looks for the line's end with strchr, which stops at
			// the NUL: it waits for more until the line is too big. The
			// bytes are dropped; the connection is lost anyway.
			sc.lineLen += end - i
			end = i
			if sc.lineLen > maxInline {
				return 0, end, -1, ended, &violation{start: start, msg: sc.doomMsg, final: true}
			}
			continue
		case stMbLine:
			if c == 0 {
				sc.state, sc.doomMsg = stDoomed, msgTooBigMbulk
				continue
			}
			if c == '\r' {
				sc.state = stMbLF
				break
			}
			if sc.lineLen < maxCountLine {
				sc.line[sc.lineLen] = c
			}
			sc.lineLen++
			if sc.lineLen > maxInline {
				return 0, end, -1, ended, &violation{start: start, msg: msgTooBigMbulk}
			}
		case stMbLF:
			p[i] = '\n' // Redis skips this byte unchecked
			n, ok := parseCountLine(sc.line[:], sc.lineLen)
			switch {
			case !ok || n > maxMultibulk:
				return 0, end, -1, ended, &violation{start: start, msg: "Protocol error: invalid multibulk length"}
			case n > maxUnauthMultibulk && !lim.authed && !sc.trusted:
				return 0, end, -1, ended, &violation{start: start, msg: "Protocol error: unauthenticated multibulk length"}
			case n <= 0 && start >= 0:
				// Redis ignores an empty command: cut it out of the stream.
				copy(p[start:], p[i+1:end])
				end -= i + 1 - start
				i = start
				sc.state = stStart
				continue
			case n <= 0:
				// Its '*' went out in an earlier Read, which only happens
				// when the caller's buffer is tiny; the loop will refuse it.
				sc.state = stStart
				ended = true
			case n > lim.maxCost/(minArgBytes+argOverhead) && !sc.trusted:
				// So many arguments can never fit the query buffer limit,
				// where Redis would close the connection once they came.
				// Close now: redcon's parser walks every announced argument
				// on each read, so letting the header through would cost
				// seconds of CPU per read (and hold up shutdown).
				return 0, end, -1, ended, &violation{start: start, msg: ""}
			default:
				sc.args = n
				sc.cost = int64(sc.lineLen) + 2
				sc.state, sc.lineLen, sc.badSet = stBulkLine, 0, false
			}
		case stBulkLine:
			if c == 0 {
				sc.state, sc.doomMsg = stDoomed, msgTooBigBulk
				continue
			}
			if sc.lineLen == 0 && c != '$' {
				sc.badStart, sc.badSet = c, true
			}
			if c == '\r' {
				sc.state = stBulkLF
				break
			}
			if sc.lineLen < maxCountLine {
				sc.line[sc.lineLen] = c
			}
			sc.lineLen++
			if sc.lineLen > maxInline {
				return 0, end, -1, ended, &violation{start: start, msg: msgTooBigBulk}
			}
		case stBulkLF:
			p[i] = '\n'
			if sc.badSet {
				return 0, end, -1, ended, &violation{start: start, msg: expectedDollar(sc.badStart)}
			}
			n, ok := parseCountLine(sc.line[:], sc.lineLen)
			switch {
			case !ok || n < 0 || n > lim.maxBulk:
				return 0, end, -1, ended, &violation{start: start, msg: "Protocol error: invalid bulk length"}
			case n > maxUnauthBulk && !lim.authed && !sc.trusted:
				return 0, end, -1, ended, &violation{start: start, msg: "Protocol error: unauthenticated bulk length"}
			}
			sc.cost += int64(sc.lineLen) + 2 + n + 2 + argOverhead
			if sc.cost > lim.maxCost && !sc.trusted {
				return 0, end, -1, ended, &violation{start: start, msg: ""}
			}
			sc.data = n
			sc.state = stBulkData
			if n == 0 {
				sc.state = stBulkCR
			}
		case stBulkData:
			k := int64(end - i)
			if k > sc.data {
				k = sc.data
			}
			sc.data -= k
			i += int(k)
			if sc.data == 0 {
				sc.state = stBulkCR
			}
			continue
		case stBulkCR:
			p[i] = '\r' // Redis skips the two bytes after a bulk unchecked
			sc.state = stBulkEnd
		case stBulkEnd:
			p[i] = '\n'
			sc.args--
			sc.lineLen, sc.badSet = 0, false
			sc.state = stBulkLine
			if sc.args == 0 {
				sc.state = stStart
				ended = true
			}
		}
		i++
	}
	// Everything scanned may go out, except an incomplete "*n" line that
	// may still be valid: it waits, so that an empty command can be cut out
	// and the line's limits are checked after the commands before it ran.
	if hold && !sc.trusted && (sc.state == stMbLine || sc.state == stMbLF) && sc.lineLen <= maxCountLine && start >= 0 {
		return start, end, start, ended, nil
	}
	return end, end, -1, ended, nil
}

func expectedDollar(c byte) string {
	msg := "Protocol error: expected '$', got '"
	if c == 0 {
		return msg // Redis formats the byte with %c into a C string: a NUL ends it
	}
	return msg + string([]byte{c}) + "'"
}

// parseCountLine parses the digits of a "*n" or "$n" line (line[0] is the
// '*' or '$'; n is the line's length) as Redis's string2ll does: optional
// '-', no '+', no leading zeros, no spaces, within int64.
func parseCountLine(line []byte, n int) (int64, bool) {
	if n > len(line) || n < 2 {
		return 0, false
	}
	return parseRedisInt(line[1:n])
}

// parseRedisInt parses b as Redis's string2ll: an optional '-', then "0" or
// a digit 1-9 followed by digits, nothing else, within int64.
func parseRedisInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// splitInline splits an inline command line as Redis's sdssplitargs does:
// arguments separated by blanks (space, \t, \n, \v, \f, \r); "double
// quotes" with \xHH, \n, \r, \t, \b, \a and \<c> escapes; 'single quotes'
// with \' only; a closing quote must be followed by a blank or the end. ok is
// false for unbalanced quotes.
func splitInline(line []byte) (args [][]byte, ok bool) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	at := func(i int) byte { // the C string's byte at i: 0 past the end
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, true
		}
		cur := []byte{}
		inq, insq := false, false
		for done := false; !done; {
			c := at(i)
			switch {
			case inq:
				switch {
				case c == '\\' && at(i+1) == 'x' && hexDigit(at(i+2)) >= 0 && hexDigit(at(i+3)) >= 0:
					cur = append(cur, byte(hexDigit(at(i+2))*16+hexDigit(at(i+3))))
					i += 3
				case c == '\\' && at(i+1) != 0:
					i++
					e := at(i)
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					cur = append(cur, e)
				case c == '"':
					if n := at(i + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			case insq:
				switch {
				case c == '\\' && at(i+1) == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if n := at(i + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		args = append(args, cur)
	}
}

func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendCommand appends args as a RESP multibulk command.
func appendCommand(b []byte, args [][]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}
