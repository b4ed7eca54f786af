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

// differing returns the records that two replicas of a slot do not hold
// alike: present on one side only, or with different digests. Both lists
// must be in (db, key) order, as stores and pages give them. It is a merge
// walk: linear in the two lists, and it keeps the order.
func differing(local, remote []entry) []cursor {
	var out []cursor
	i, j := 0, 0
	for i < len(local) || j < len(remote) {
		switch {
		case j == len(remote):
			out = append(out, cursor{local[i].DB, local[i].Key})
			i++
		case i == len(local):
			out = append(out, cursor{remote[j].DB, remote[j].Key})
			j++
		default:
			l, r := local[i], remote[j]
			switch c := compare(cursor{l.DB, l.Key}, cursor{r.DB, r.Key}); {
			case c < 0:
				out = append(out, cursor{l.DB, l.Key})
				i++
			case c > 0:
				out = append(out, cursor{r.DB, r.Key})
				j++
			default:
				if l.Hash != r.Hash {
					out = append(out, cursor{l.DB, l.Key})
				}
				i++
				j++
			}
		}
	}
	return out
}
