package compat_test

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// maxReplyBulk bounds a bulk reply the reader accepts, so that a broken
// server cannot make the test allocate without bound.
const maxReplyBulk = 64 << 20

// reply is one RESP reply: its exact bytes on the wire and a parsed form.
type reply struct {
	Raw   []byte
	Kind  byte    // '+', '-', ':', '$', '*', or a RESP3 type byte
	Str   string  // the line for + - : and scalar RESP3 types; the payload for $ (and = !)
	Null  bool    // $-1, *-1 or RESP3 _
	Elems []reply // for * (and the RESP3 aggregates; a map holds 2n elements)
}

// String renders the reply compactly for messages: "+OK", "$3 foo", "*2[...]".
func (r reply) String() string {
	switch r.Kind {
	case '$', '=', '!':
		if r.Null {
			return "$-1"
		}
		return fmt.Sprintf("$%q", r.Str)
	case '*', '%', '~', '|', '>':
		if r.Null {
			return string(r.Kind) + "-1"
		}
		parts := make([]string, len(r.Elems))
		for i, e := range r.Elems {
			parts[i] = e.String()
		}
		return fmt.Sprintf("%c%d[%s]", r.Kind, len(r.Elems), strings.Join(parts, " "))
	case '_':
		return "_"
	}
	return string(r.Kind) + r.Str
}

// Int returns the value of an integer reply.
func (r reply) Int() (int64, error) {
	if r.Kind != ':' {
		return 0, fmt.Errorf("not an integer reply: %s", r)
	}
	return strconv.ParseInt(r.Str, 10, 64)
}

// sortedElems returns the element strings of an array reply, sorted, for
// replies whose order is unspecified (KEYS, SCAN).
func (r reply) sortedElems() []string {
	out := make([]string, len(r.Elems))
	for i, e := range r.Elems {
		out[i] = e.String()
	}
	sort.Strings(out)
	return out
}

// readReply reads exactly one reply, keeping its raw bytes.
func readReply(br *bufio.Reader) (reply, error) {
	var raw bytes.Buffer
	rep, err := readValue(br, &raw)
	rep.Raw = raw.Bytes()
	return rep, err
}

func readValue(br *bufio.Reader, raw *bytes.Buffer) (reply, error) {
	line, err := br.ReadBytes('\n')
	raw.Write(line)
	if err != nil {
		return reply{}, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return reply{}, fmt.Errorf("malformed reply line %q", line)
	}
	rep := reply{Kind: line[0], Str: string(line[1 : len(line)-2])}
	switch rep.Kind {
	case '+', '-', ':', ',', '#', '(':
		return rep, nil
	case '_':
		rep.Null = true
		return rep, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(rep.Str)
		if err != nil || n < -1 || n > maxReplyBulk {
			return rep, fmt.Errorf("bad bulk length in %q", line)
		}
		if n == -1 {
			rep.Null, rep.Str = true, ""
			return rep, nil
		}
		buf := make([]byte, n+2)
		if _, err := readFull(br, buf); err != nil {
			raw.Write(buf)
			return rep, err
		}
		raw.Write(buf)
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return rep, fmt.Errorf("bulk of %d bytes not followed by CRLF", n)
		}
		rep.Str = string(buf[:n])
		return rep, nil
	case '*', '%', '~', '|', '>':
		n, err := strconv.Atoi(rep.Str)
		if err != nil || n < -1 || n > maxReplyBulk {
			return rep, fmt.Errorf("bad aggregate length in %q", line)
		}
		if n == -1 {
			rep.Null = true
			return rep, nil
		}
		if rep.Kind == '%' || rep.Kind == '|' {
			n *= 2
		}
		rep.Elems = make([]reply, 0, min(n, 1024))
		for range n {
			e, err := readValue(br, raw)
			if err != nil {
				return rep, err
			}
			rep.Elems = append(rep.Elems, e)
		}
		return rep, nil
	}
	return rep, fmt.Errorf("unknown reply type in %q", line)
}

func readFull(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// appendCommand appends args encoded as a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
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

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // reply.String()
	}{
		{"+OK\r\n", "+OK"},
		{"-ERR x y\r\n", "-ERR x y"},
		{":-12\r\n", ":-12"},
		{"$-1\r\n", "$-1"},
		{"$0\r\n\r\n", `$""`},
		{"$4\r\na\r\nb\r\n", `$"a\r\nb"`},
		{"*-1\r\n", "*-1"},
		{"*0\r\n", "*0[]"},
		{"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", `*2[$"a" *1[:1]]`},
		{"%1\r\n+k\r\n:2\r\n", "%2[+k :2]"},
		{"_\r\n", "_"},
	} {
		br := bufio.NewReader(strings.NewReader(tc.in + "+NEXT\r\n"))
		rep, err := readReply(br)
		if err != nil {
			t.Errorf("readReply(%q): %v", tc.in, err)
			continue
		}
		if got := rep.String(); got != tc.want {
			t.Errorf("readReply(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if string(rep.Raw) != tc.in {
			t.Errorf("readReply(%q) raw = %q", tc.in, rep.Raw)
		}
		if next, _ := readReply(br); next.String() != "+NEXT" {
			t.Errorf("readReply(%q) consumed too much: next %s", tc.in, next)
		}
	}
	for _, bad := range []string{"", "+OK\n", "$3\r\nab\r\n", "$x\r\n", "$3\r\nabcd\r\n", "?\r\n", "*2\r\n:1\r\n"} {
		if rep, err := readReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("readReply(%q) = %s, want an error", bad, rep)
		}
	}
}

func TestAppendCommand(t *testing.T) {
	got := string(appendCommand(nil, "SET", "", "a\r\nb"))
	want := "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
	if got != want {
		t.Errorf("appendCommand = %q, want %q", got, want)
	}
}
