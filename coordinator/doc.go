// Package coordinator runs a request's life on one node: it turns a Redis
// command's read or write of a key into reads and writes of that key's
// sibling sets on the replicas that hold it, and it turns their answers back
// into the single value a Redis client expects.
//
// Today every request is served by the local Store (a one-node ring, N=R=W=1);
// the replica fan-out, quorum counting, read repair and hinted handoff build on
// the same entry points, so callers (the RESP layer) do not change when the
// ring grows.
//
// The coordinator declares the Store it needs and never imports pebble or
// memberlist, so it builds and is tested with any Store. It must never write
// to a client connection or parse RESP; and it must never report a write as
// done before the store (and later W replicas) acknowledged it.
package coordinator
