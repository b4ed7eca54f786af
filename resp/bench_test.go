package resp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// Benchmarks of the command path over the in-memory store:
//
//	go test -run XXX -bench 'Execute|Serve' -benchmem ./resp/
//
// BenchmarkExecute* measure execute alone (lookup, checks, handler,
// reply); BenchmarkServe* add the connection loop, the protocol guard and
// a loopback socket, with 16 commands per round trip as redis-benchmark
// -P 16 sends;
// BenchmarkServeRing* do so against a three-node ring, where a pipeline's
// commands run concurrently (pipeline.go).

func benchServer(b *testing.B) (*Server, *Session) {
	srv := newExecServer(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	return srv, srv.testSession()
}

func benchExecute(b *testing.B, args [][]byte) {
	srv, s := benchServer(b)
	var w Writer
	srv.execute(context.Background(), s, &w, [][]byte{[]byte("SET"), []byte("key:000000000001"), []byte(strings.Repeat("x", 100))})
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		srv.execute(srv.deadlines.context(srv.nanotime()), s, &w, args)
	}
}

func BenchmarkExecuteGet(b *testing.B) {
	benchExecute(b, [][]byte{[]byte("GET"), []byte("key:000000000001")})
}

func BenchmarkExecuteSet(b *testing.B) {
	benchExecute(b, [][]byte{[]byte("SET"), []byte("key:000000000001"), []byte(strings.Repeat("x", 100))})
}

func BenchmarkExecutePing(b *testing.B) {
	benchExecute(b, [][]byte{[]byte("PING")})
}

func benchServe(b *testing.B, cmd string, pipeline int) {
	srv := newExecServer(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	benchServeAt(b, ln.Addr().String(), strings.Repeat(cmd, pipeline), pipeline)
}

// benchServeAt sends batch, which holds n commands each answered by a
// status, an integer or a 100-byte bulk, once per iteration.
func benchServeAt(b *testing.B, addr, batch string, n int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for i := range 16 {
		fmt.Fprintf(c, "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n%s\r\n", i, strings.Repeat("x", 100))
		r.ReadString('\n')
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if _, err := io.WriteString(c, batch); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i++ {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if line[0] == '$' && line[1] != '-' {
				r.Discard(100 + 2)
			}
		}
	}
	b.StopTimer()
	io.WriteString(c, "QUIT\r\n")
}

// benchRing is benchServeAt against node 0 of a three-node in-memory ring,
// where a pipeline's commands run concurrently: 16 commands on 16
// different keys, so that none waits for another.
func benchRing(b *testing.B, format string) {
	var batch strings.Builder
	for i := range 16 {
		fmt.Fprintf(&batch, format, i)
	}
	benchServeAt(b, startRingServer(b), batch.String(), 16)
}

const (
	benchGet = "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n"
	benchSet = "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$100\r\n" + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + "\r\n"
)

func BenchmarkServeGetP1(b *testing.B)  { benchServe(b, benchGet, 1) }
func BenchmarkServeGetP16(b *testing.B) { benchServe(b, benchGet, 16) }
func BenchmarkServeSetP16(b *testing.B) { benchServe(b, benchSet, 16) }

func BenchmarkServeRingGetP16(b *testing.B) {
	benchRing(b, "*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n")
}

func BenchmarkServeRingSetP16(b *testing.B) {
	benchRing(b, "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n"+strings.Repeat("x", 100)+"\r\n")
}

// BenchmarkExecuteForwardedGet is the receiving side of a command another
// node forwarded.
func BenchmarkExecuteForwardedGet(b *testing.B) {
	srv, s := benchServer(b)
	var w Writer
	srv.execute(context.Background(), s, &w, [][]byte{[]byte("SET"), []byte("key:000000000001"), []byte(strings.Repeat("x", 100))})
	args := [][]byte{[]byte("GET"), []byte("key:000000000001")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		srv.ExecuteForwarded(ctx, 0, args)
	}
}
