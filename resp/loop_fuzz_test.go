package resp

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzConnectionLoop sends arbitrary bytes, in arbitrary pieces, through the
// whole connection path (the loop, the protocol guard, the parser and every
// command), then hangs up. The connection must answer or close within a
// bound, never hang, and the server must still answer a new client: no
// input can panic a node or wedge it. (A panic in a command is recovered per
// command; one in the loop would kill the test binary.)
func FuzzConnectionLoop(f *testing.F) {
	srv := newExecServer(f, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(ln)
	f.Cleanup(func() { srv.Close() })
	fuzzConnection(f, ln.Addr().String())
}

// FuzzConnectionLoopRing is FuzzConnectionLoop on node 0 of a three-node
// in-memory ring, where a read's commands are copied and pipelines run
// concurrently on the worker pool.
func FuzzConnectionLoopRing(f *testing.F) {
	fuzzConnection(f, startRingServer(f))
}

func fuzzConnection(f *testing.F, addr string) {
	f.Add([]byte("*1\r\n$4\r\nPING\r\n"), uint8(0))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\nMGET k k x\r\n"), uint8(3))
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$100\r\nshort\r\n"), uint8(5))
	f.Add([]byte("SET k v\r\nQUIT\r\nGET k\r\n"), uint8(1))
	f.Add([]byte("*-1\r\n*0\r\n$5\r\nhello\r\n*1\r\n$-1\r\n"), uint8(2))
	f.Add([]byte("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"), uint8(7))
	f.Add([]byte("*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\nSELECT 99\r\nINCRBYFLOAT k 1e400\r\n"), uint8(9))
	f.Add([]byte("SET a 1\r\nINCR a\r\nGET a\r\nDEL a a b\r\nMSET a 1 a 2\r\nEXISTS a a\r\n"), uint8(4))

	f.Fuzz(func(t *testing.T, stream []byte, piece uint8) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// Read concurrently: a server that answers a long pipeline must not
		// block on a client that is still writing.
		drained := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, c)
			drained <- err
		}()
		size := int(piece)%64 + 1
		for rest := stream; len(rest) > 0; {
			n := min(size, len(rest))
			if _, err := c.Write(rest[:n]); err != nil {
				break // the server closed the connection: allowed
			}
			rest = rest[n:]
		}
		c.(*net.TCPConn).CloseWrite()
		if err := <-drained; err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server neither answered nor closed within 10 s of the client hanging up")
			}
		}
		// The server still serves.
		c2, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("server gone: %v", err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Write([]byte("PING\r\n")); err != nil {
			t.Fatalf("server gone: %v", err)
		}
		if _, err := bufio.NewReader(c2).ReadString('\n'); err != nil {
			t.Fatalf("no reply to PING after the fuzz input: %v", err)
		}
	})
}
