// Package ring decides which nodes own a key.
//
// A key maps to one of NumSlots (16384) hash slots exactly as in Redis
// Cluster (Slot), so CLUSTER KEYSLOT and every cluster client agree with the
// server. The slots are Dynamo's "strategy 3" partitions: fixed, equal-sized,
// and assigned to nodes by a slot table. A Table is a pure function of the
// membership log, a set of stamped Join and Leave events that nodes gossip as
// a grow-only set: Build replays the set in a canonical order, so every node
// holding the same events computes the same Table, whatever order it learned
// them in, with no coordinator. A Table never changes after Build and can be
// shared freely between goroutines; when membership changes, build a new one.
//
// # Primaries
//
// The first node to join takes every slot. A join moves slots to the
// newcomer from every member, in proportion, until each member holds the
// floor or ceiling of NumSlots/members; a leave hands the leaver's slots to
// the others, those holding the fewest first. So primaries are balanced to
// within one slot (max/mean at most 1+n/16384 for n nodes), and only the slots
// the newcomer takes or the leaver held change primary: 1/n of them, the
// least any balanced placement can move. Which slots move is chosen to keep
// the table in long runs of one primary (Ranges, and the entries of CLUSTER
// SLOTS): the newcomer takes the end of one member's run and the start of the
// next where two members it takes from meet, a leaver's run goes first to the
// owners on either side of it, and runs are handed over whole where the
// counts allow. That gives about n*n/4 ranges for n nodes joined one by one
// (measured 3, 8, 71-73 and 1,020-1,055 for 3, 5, 16 and 64 nodes, some 16
// per node at 64), settling near 0.4*n*n (1,400 to 1,700 at 64 nodes) under
// long join/leave churn. Dynamo's own strategy 3 would need about 1,300
// fixed partitions to meet the same balance bar (1.05) at 64 nodes, so this
// is the same order.
//
// # Replicas
//
// The members sorted by ID form a ring. A slot's preference list is its
// primary followed by the next members around that ring, and Walk continues
// around the ring through every member: a sloppy quorum that skips a down
// node takes the next healthy node on the ring. This is chained
// declustering, chosen because:
//
//   - Replica load follows primary load: a node is in the n-node preference
//     list of exactly the slots of itself and its n-1 predecessors, so it is
//     as balanced as the primaries are.
//   - It moves little. With 3-node lists, a join changes at most the 3
//     members of each slot the newcomer takes plus one member of each slot
//     of its two predecessors: at most 5/3 of the minimum, the newcomer's own
//     memberships (measured up to 1.64 times). A leave likewise.
//   - The preference list depends only on the primary, so a range of one
//     primary is a range of one preference list: CLUSTER SLOTS gets no more
//     entries than Ranges. The table stores one member index per slot, and
//     PreferenceList is O(n) without allocating.
//
// The alternative of walking the slots clockwise to the next distinct
// primaries, as a token ring does, measured badly on these tables: runs
// differ in length, so at 64 nodes one node was in the preference lists of
// 5.5 times the mean number of slots, and a join changed 5.5 times the
// minimum number of memberships. The price of chaining is that a down node's
// work falls on its successors on the ring rather than spreading across the
// cluster, as when a Redis Cluster master fails over to its replica.
//
// # What the package must never do
//
// Package ring is pure: it imports only the standard library, does no I/O,
// reads no clock and no randomness, starts no goroutines, does not log, and
// keeps no mutable package-level state. A Table's answers must depend only on
// the set of events Build was given: never on their order, on map iteration
// order, or on anything outside the log. Slot, and PreferenceList and Walk
// given room in dst, must not allocate: they are on every request's path.
// Every node in a cluster must compute the same table, so any change to the
// placement rules here (tie-breaks included) moves slots in a running cluster
// and must be rolled out as a protocol change, not as a refactoring.
package ring
