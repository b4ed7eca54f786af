package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

// Benchmarks of peer calls over loopback. Run with -cpu 2 to match the
// target machine, e.g.
//
//	go test -run XXX -bench . -benchmem -cpu 2 ./cluster/
//
// calls/s is the aggregate throughput of all callers; ns/op is per call.
// "callers" is the number of goroutines calling concurrently (the
// coordinator's fan-out across many client connections looks like this).

const benchValueLen = 100

func benchSetup(b *testing.B) (*Transport, *testNode) {
	h := newFakeHandler()
	n := startNode(b, "b", testSecret, h, "", func(c *PeerServerConfig) { c.Logger = nil })
	book := &addrBook{}
	book.set("b", n.addr)
	cfg := DefaultTransportConfig()
	cfg.NodeID, cfg.Secret, cfg.Resolve = "a", testSecret, book.resolve
	tr, err := NewTransport(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Close() })
	ctx := context.Background()
	for _, k := range benchKeys {
		v := sib("a", string(make([]byte, benchValueLen)), 1)
		if err := tr.Write(ctx, "b", 0, k, v, ""); err != nil {
			b.Fatal(err)
		}
	}
	return tr, n
}

// runParallel runs f b.N times from callers goroutines and reports calls/s
// and the process's CPU time per call (client and server together), which
// other load on the machine disturbs less than wall time.
func runParallel(b *testing.B, callers int, f func(ctx context.Context, i int) error) {
	b.ReportAllocs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	if callers == 1 {
		for range b.N {
			if err := f(ctx, 0); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// RunParallel starts parallelism*GOMAXPROCS goroutines.
		b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1))
			for pb.Next() {
				if err := f(ctx, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchKeys are the keys benchSetup writes; caller i uses benchKeys[i%64].
var benchKeys = func() (k [64][]byte) {
	for i := range k {
		k[i] = []byte(fmt.Sprint("key", i))
	}
	return k
}()

func BenchmarkTransport(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("read/callers=%d", callers), func(b *testing.B) {
			tr, _ := benchSetup(b)
			runParallel(b, callers, func(ctx context.Context, i int) error {
				_, err := tr.Read(ctx, "b", 0, benchKeys[i%64])
				return err
			})
		})
		b.Run(fmt.Sprintf("write/callers=%d", callers), func(b *testing.B) {
			tr, _ := benchSetup(b)
			v := sib("a", string(make([]byte, benchValueLen)), 1)
			runParallel(b, callers, func(ctx context.Context, i int) error {
				return tr.Write(ctx, "b", 0, benchKeys[i%64], v, "")
			})
		})
	}
}

// BenchmarkOneAtATime is the baseline the transport must beat: the same
// server and the same number of connections, but each connection carries one
// call at a time (send, flush, wait for the reply), as a forwarding hop
// without pipelining does.
func BenchmarkOneAtATime(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("read/callers=%d", callers), func(b *testing.B) {
			_, n := benchSetup(b)
			cl := newSerialClient(b, n.addr, DefaultConnsPerPeer)
			runParallel(b, callers, func(ctx context.Context, i int) error {
				return cl.call(OpRead, appendReadReq(nil, 0, benchKeys[i%64]))
			})
		})
	}
}

// serialClient speaks the peer protocol one call at a time per connection.
type serialClient struct {
	next  atomic.Uint32
	conns []*serialConn
}

type serialConn struct {
	mu sync.Mutex
	p  *rawPeer
	w  *bufio.Writer
	id uint64
}

func newSerialClient(b *testing.B, addr string, n int) *serialClient {
	c := &serialClient{}
	for range n {
		p := dialRaw(b, addr, testSecret, "a")
		_ = p.nc.SetDeadline(time.Time{})
		c.conns = append(c.conns, &serialConn{p: p, w: bufio.NewWriter(p.nc)})
	}
	return c
}

func (c *serialClient) call(op Op, payload []byte) error {
	sc := c.conns[int(c.next.Add(1))%len(c.conns)]
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.id++
	sc.w.Write(appendHeader(nil, header{length: len(payload), kind: uint8(op), id: sc.id}))
	sc.w.Write(payload)
	if err := sc.w.Flush(); err != nil {
		return err
	}
	var hb [headerLen]byte
	h, err := readHeader(sc.p.r, &hb, DefaultMaxFrame)
	if err != nil {
		return err
	}
	if _, err := readPayload(sc.p.r, h.length); err != nil {
		return err
	}
	if h.kind != kindOK || h.id != sc.id {
		return fmt.Errorf("bad reply %+v", h)
	}
	return nil
}

// BenchmarkFanout is the remote part of a quorum write as the coordinator
// makes it: two writes to replicas, waiting for both. "goroutines" is the
// old way, a goroutine per call blocked in Write; "async" sends both with
// SendWrite and waits once. (Both replicas are the same server here.)
func BenchmarkFanout(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("goroutines/callers=%d", callers), func(b *testing.B) {
			tr, _ := benchSetup(b)
			v := sib("a", string(make([]byte, benchValueLen)), 1)
			runParallel(b, callers, func(ctx context.Context, i int) error {
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				errs := make(chan error, 2)
				for range 2 {
					go func() { errs <- tr.Write(ctx, "b", 0, benchKeys[i%64], v, "") }()
				}
				return errors.Join(<-errs, <-errs)
			})
		})
		b.Run(fmt.Sprintf("async/callers=%d", callers), func(b *testing.B) {
			tr, _ := benchSetup(b)
			v := sib("a", string(make([]byte, benchValueLen)), 1)
			runParallel(b, callers, func(_ context.Context, i int) error {
				w := &benchWait{}
				w.wg.Add(2)
				deadline := time.Now().Add(time.Second)
				for j := range 2 {
					tr.SendWrite("b", 0, benchKeys[i%64], v, "", deadline, w, j)
				}
				w.wg.Wait()
				return errors.Join(w.errs[0], w.errs[1])
			})
		})
	}
}

// benchWait collects the answers of two asynchronous calls.
type benchWait struct {
	wg   sync.WaitGroup
	errs [2]error
}

func (w *benchWait) Reply(i int, _ version.Siblings, err error) {
	w.errs[i] = err
	w.wg.Done()
}
