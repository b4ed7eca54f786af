package antientropy

import "bytes"

// compare orders cursors as a store orders a slot's records: by database,
// then key bytes.
func compare(a, b cursor) int {
	if a.DB != b.DB {
		if a.DB < b.DB {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.Key, b.Key)
}

// digests is a slot's record digests in (db, key) order, read a page at
// a time, so that comparing a slot holds two pages, not two slots.
type digests struct {
	page  func(after cursor) ([]entry, bool, error) // the page after a cursor, and whether more follow
	buf   []entry
	i     int
	after cursor // where the next page starts; Key nil: at the start
	more  bool   // another page may follow buf
}

func newDigests(page func(after cursor) ([]entry, bool, error)) *digests {
	return &digests{page: page, more: true}
}

// peek returns the next entry; ok is false at the end.
func (d *digests) peek() (e entry, ok bool, err error) {
	for d.i == len(d.buf) {
		if !d.more {
			return entry{}, false, nil
		}
		if d.buf, d.more, err = d.page(d.after); err != nil {
			return entry{}, false, err
		}
		d.i = 0
		if len(d.buf) > 0 {
			last := d.buf[len(d.buf)-1]
			d.after = cursor{DB: last.DB, Key: last.Key}
		}
	}
	return d.buf[d.i], true, nil
}

func (d *digests) pop() { d.i++ }

// walkDiff calls fn for each record that the two replicas' digests do not
// hold alike: present on one side only, or with different digests. It is a
// merge walk of the two ordered streams, in their order.
func walkDiff(local, remote *digests, fn func(c cursor) error) error {
	for {
		l, lok, err := local.peek()
		if err != nil {
			return err
		}
		r, rok, err := remote.peek()
		if err != nil {
			return err
		}
		var c cursor
		switch {
		case !lok && !rok:
			return nil
		case !rok:
			c = cursor{l.DB, l.Key}
			local.pop()
		case !lok:
			c = cursor{r.DB, r.Key}
			remote.pop()
		default:
			switch o := compare(cursor{l.DB, l.Key}, cursor{r.DB, r.Key}); {
			case o < 0:
				c = cursor{l.DB, l.Key}
				local.pop()
			case o > 0:
				c = cursor{r.DB, r.Key}
				remote.pop()
			default:
				local.pop()
				remote.pop()
				if l.Hash == r.Hash {
					continue
				}
				c = cursor{l.DB, l.Key}
			}
		}
		if err := fn(c); err != nil {
			return err
		}
	}
}

// onePage serves es as a single page.
func onePage(es []entry) func(cursor) ([]entry, bool, error) {
	return func(cursor) ([]entry, bool, error) { return es, false, nil }
}
