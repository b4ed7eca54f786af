package resp

import (
	"bytes"
	"fmt"
	"sync"
)

// Multi-key commands (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) on a ring of
// several nodes run their keys' quorum operations concurrently: each key
// may live on other replicas, and one after another an MGET of ten keys
// would wait for ten quorum round trips instead of about one. On a one-node
// ring every key is a local store access, so they run in order on the
// connection's goroutine, which is cheaper than starting goroutines.

// maxKeyFanout bounds the goroutines one command starts, so that an MGET of
// a hundred thousand keys does not start a hundred thousand of them.
const maxKeyFanout = 32

// forEachKey runs fn(i) for i in [0, n), concurrently on a multi-node ring,
// and returns the first error (by index) once all have returned. fn must be
// safe to run concurrently with itself for distinct i.
func (srv *Server) forEachKey(n int, fn func(i int) error) error {
	if n <= 1 || !srv.concurrentPipelines() {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	sem := make(chan struct{}, min(n, maxKeyFanout))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// The connection's recover cannot see this goroutine.
			defer func() {
				if r := recover(); r != nil {
					srv.log.Error("panic in a multi-key command", "panic", r)
					errs[i] = fmt.Errorf("internal error: %v", r)
				}
			}()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// lastOccurrences returns, for keys, the indexes of each distinct key's last
// occurrence, in order: what a command that applies its keys in order
// leaves behind is decided by those alone (MSET k 1 k 2 leaves 2; DEL k k
// deletes k once), so only they need to run, and they can run at once.
func lastOccurrences(keys [][]byte, step int) []int {
	idx := make([]int, 0, len(keys)/step+1)
	if len(keys)/step <= 16 {
		for i := 0; i < len(keys); i += step {
			dup := false
			for j := i + step; j < len(keys); j += step {
				if bytes.Equal(keys[i], keys[j]) {
					dup = true
					break
				}
			}
			if !dup {
				idx = append(idx, i)
			}
		}
		return idx
	}
	last := make(map[string]int, len(keys)/step)
	for i := 0; i < len(keys); i += step {
		last[string(keys[i])] = i
	}
	for i := 0; i < len(keys); i += step {
		if last[string(keys[i])] == i {
			idx = append(idx, i)
		}
	}
	return idx
}
