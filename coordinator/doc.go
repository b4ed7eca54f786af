// Package coordinator runs a request's life on one node: it turns a Redis
// command's read or write of a key into reads and writes of that key's
// sibling sets on the replicas that hold it, and it turns their answers back
// into the single value a Redis client expects.
//
// A key's request goes to the first N healthy nodes of its slot's
// preference list (a plan, computed once per topology snapshot and slot),
// this node's own copy through the Store and the others through the
// Transport, and returns after R reads or W acknowledgements. Replica calls
// are asynchronous: the request's goroutine sends them all and waits once;
// answers that come after the quorum are handled where they are delivered
// (hints for failed writes, read repair), so no goroutine is parked per call.
// A one-node ring is served by the local Store alone.
//
// The coordinator declares the Store it needs and never imports pebble or
// memberlist, so it builds and is tested with any Store. It must never write
// to a client connection or parse RESP; and it must never report a write as
// done before the store (and later W replicas) acknowledged it.
package coordinator
