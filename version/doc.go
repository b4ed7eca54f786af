// Package version holds what a key is made of in a Dynamo-style store: a set of
// sibling versions, each stamped with a vector clock, and the pure rules that
// merge them.
//
// A Version is one write: a vector clock (which writes it has seen), an HLC
// timestamp (when, for last-writer-wins presentation), the writing node, an
// expiry, a tombstone flag and the value. A Siblings set holds versions none of
// which descends from another; Merge combines two sets so that the result is the
// same whatever the order, grouping or repetition of merges (commutative,
// associative, idempotent), which is what lets replicas converge by exchanging
// sets in any order.
//
// Clocks are truncated past MaxClockEntries, dropping the least recently
// updated entry first, as in Dynamo; this can only make two versions look
// concurrent that were not, never hide a concurrent one.
//
// The package is pure: no I/O, no goroutines, no clocks. Time and node IDs are
// arguments. It must never read the wall clock or hold state between calls,
// except the node ID strings a caller's Decoder remembers to save
// allocations, which must never change a result.
package version
