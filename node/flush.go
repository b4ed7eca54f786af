package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/version"
)

// A ring-wide flush (resp.RingFlusher). Deleting one replica's records
// would not last: the others' copies come back by read repair and
// anti-entropy. So FLUSHALL and FLUSHDB on a ring of several nodes take a
// barrier from this node's clock and send it to every member (OpFlush);
// each one observes it (its later writes are stamped after it), records it
// (its store drops any version written before it that a merge brings in:
// replica writes that raced the flush, hints, repairs), deletes the
// records and drops its pending hints of those databases. A flush is
// refused while a member is down, whose copies would come back when it
// returns. Members flush concurrently: a write that races the flush may
// be dropped or survive, as with a write just before or after it.

// FlushRing implements resp.RingFlusher.
func (n *Node) FlushRing(ctx context.Context, db int) (bool, error) {
	s := n.members.Snapshot()
	if s.Table == nil || s.Table.Len() <= 1 {
		return false, nil
	}
	name := "FLUSHALL"
	if db >= 0 {
		name = "FLUSHDB"
	}
	var others []string
	for _, id := range s.Table.Members() {
		if id == n.id {
			continue
		}
		if !s.Up(id) {
			return true, fmt.Errorf("ERR %s needs every ring member up, and %s is down: its copies would come back", name, id)
		}
		others = append(others, id)
	}
	barrier := n.coord.Timestamp()
	payload := cluster.EncodeFlush(db, uint64(barrier))
	errs := make([]error, len(others)+1)
	var wg sync.WaitGroup
	for i, id := range others {
		wg.Go(func() {
			if _, err := n.transport.Call(ctx, id, cluster.OpFlush, payload); err != nil {
				errs[i] = fmt.Errorf("%s: %w", id, err)
			}
		})
	}
	errs[len(others)] = n.flushLocal(db, barrier)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		n.log.Warn("ring-wide flush incomplete", "db", db, "err", err)
		return true, fmt.Errorf("ERR %s did not complete on every ring member: %s", name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	n.log.Info("ring-wide flush", "db", db, "members", len(others)+1)
	return true, nil
}

// flushLocal is one member's part of a ring-wide flush.
func (n *Node) flushLocal(db int, barrier version.HLC) error {
	n.coord.Observe(barrier)
	return errors.Join(n.store.FlushBefore(db, barrier), n.coord.DropHints(db))
}

// serveFlush is the OpFlush handler.
func (n *Node) serveFlush(_ context.Context, _ string, p []byte) ([]byte, error) {
	db, barrier, err := cluster.DecodeFlush(p)
	if err != nil {
		return nil, err
	}
	if db >= n.cfg.Databases {
		return nil, fmt.Errorf("flush: db %d out of range [0, %d)", db, n.cfg.Databases)
	}
	return nil, n.flushLocal(db, version.HLC(barrier))
}
