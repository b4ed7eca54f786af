// Package cluster connects the nodes of a ring: it carries the coordinator's
// node-to-node calls (the peer transport) and, beside it, the gossip
// membership that decides which nodes exist and which are up.
//
// # Peer transport
//
// A Transport is one node's client side of the peer protocol; a PeerServer is
// its server side, listening on a dedicated peer port that never shares a
// listener with the RESP port, so a Redis client connection can never run a
// peer command. Transport implements coordinator.Transport (SendRead,
// SendWrite, Forward) and PeerServer calls a coordinator.PeerHandler.
//
// Calls are multiplexed: every request frame carries a request ID, so many
// calls share one TCP connection, the server runs them concurrently, and
// replies come back in whatever order they finish. Per peer node a Transport
// keeps a small pool of connections (TransportConfig.ConnsPerPeer), dialled
// lazily. Each connection has one writer goroutine that sends everything
// queued since its last write in one system call (group commit of frames),
// though a frame that is the connection's only traffic is written by its
// sender, sparing a goroutine wake-up (outbox.go), and one reader goroutine
// that hands each reply to its caller. A synchronous
// call (Call, Read, Write, Forward) waits for its reply or for its context,
// whichever comes first. An asynchronous one (SendRead, SendWrite: the
// coordinator's replica calls) has no goroutine waiting: the reader delivers
// its answer to the caller's coordinator.Replies, and a per-connection timer
// fails it when its deadline passes unanswered. A reply that arrives after
// its caller gave up, or after its deadline, is dropped. The client's remaining time is
// sent with the request: the server skips a request whose time ran out
// while it waited for a worker, and runs Forward and registered ops under
// that deadline (a Forward runs a whole command, fan-out included). Each
// server connection runs at most MaxInflight requests at once; past that it
// stops reading, and TCP pushes back on the client.
//
// Failures are fast and shared: when a connection breaks, every call in
// flight on it fails at once with an error wrapping coordinator.ErrUnreachable;
// the next call redials, and after a failed dial the connection slot refuses
// calls for a short, growing backoff instead of making each caller wait for a
// dial timeout. An error returned by the remote handler is not an
// unreachable node: it comes back as a *RemoteError carrying the remote
// message.
//
// Authentication: on connect the server sends a random nonce; the client
// answers with its node ID, its own nonce and HMAC-SHA256(secret, ...) over
// both nonces and its ID; the server checks it in constant time before it
// reads any request, then proves knowledge of the secret the same way over
// the client's nonce and its own node ID, which the client checks against
// the node it meant to reach. A wrong secret on either side closes the
// connection, and the client's calls fail with ErrAuth. Frames after the
// handshake are neither encrypted nor individually authenticated: the peer
// port belongs on a trusted network (loopback or a private LAN), like
// Redis's own replication link.
//
// The wire format is in frame.go. Calls are identified by an Op; the
// coordinator's three calls and a Ping are built in, ops 0x10-0x3f are
// reserved for anti-entropy and handoff (0x10 is OpSlotPage, below), and
// 0x40-0x7f for later use. A new
// call is a generic Transport.Call on the client and a PeerServer.Handle
// registration on the server.
//
// Bad input from the network never panics a node and never makes it allocate
// much more than the bytes it actually received: frame lengths are checked
// against MaxFrame before reading, payloads are read incrementally, and every
// decoder checks each length against the bytes that remain.
//
// # Membership
//
// A Membership (StartMembership) keeps ring membership durable and explicit
// and takes liveness from hashicorp/memberlist. Membership is a ring log: a
// grow-only set of ring.Events (Join, Leave) stamped with a hybrid logical
// clock, written to the MetaStore before it is gossiped, spread as
// broadcasts and by memberlist's push/pull, and repaired when the log digest
// every node announces in its node meta differs from ours; the slot table is
// ring.Build of that set, so nodes that have seen the same events place keys
// identically. A node that stops is Down and keeps its slots (served by
// sloppy quorum) until RING LEAVE (Leave), RING FORGET (Forget) or the
// optional DownAfter removes it; a restarted node reloads its log and rejoins
// with its ID, without a second Join. Health is memberlist's failure
// detection (Down about 5-6 s after a crash with the LAN defaults) plus the
// coordinator's evidence: ReportUnreachable makes a node Suspect, which is
// not Up, at once, and a ping it answers later, a rejoin, or ReportReachable
// makes it Up again. Readers take an immutable Snapshot (table, members,
// states, addresses) from an atomic pointer; Subscribe hands out only the
// newest one, so a slow reader never holds up gossip.
//
// # Range transfer
//
// When the ring changes, a node that now appears in slots' preference lists
// it was not in pulls those slots' records (Transfers, driven by
// Subscribe). It compares each new table with the one it last planned for,
// groups the slots it gained into runs with the same candidate sources (the
// slots' previous holders, then their current ones), and pulls one run at
// a time with OpSlotPage: pages of at most TransferConfig.PageBytes, in
// (database, slot, key) order, one page per PageInterval, so that a join
// under load takes a bounded share of disk and network. Each record is
// merged with the Store's sibling merge, which is idempotent and
// commutative: a page pulled twice, or racing a live write of the same key
// (the newcomer receives writes from the moment it is in the table), is
// harmless. A failed page is asked of the next source that is up; when all
// have failed the run waits RetryInterval. Progress is in memory only, but
// each time a node is synced it records the slots it holds
// (TransferConfig.Held, transfer_held.go): a node that restarts pulls only
// the slots it gained while down, and leaves what it missed in the others
// to hinted handoff and anti-entropy. A node with no such record, or that
// knew of no other member before (its first start, or its own one-node
// ring merging with another), pulls every slot it holds.
//
// Until a node has pulled what it gained it must not be the node that
// lists those slots' keys (KEYS, SCAN, DBSIZE, and what CLUSTER SLOTS calls
// the master), or a cluster client scanning every master would miss keys.
// The rule: when its runs are done a node announces, in its gossip meta,
// the digest of the ring log it finished (Membership.SetSynced); a member
// is Ready in a Snapshot when that digest is the Snapshot's own Log. A
// slot's master is the first healthy node of its preference list that is
// Ready, or the first healthy one when none is (coordinator.Topology.Serving,
// which decides both Master and what CLUSTER SLOTS publishes). A Ready node
// holds every slot of its lists in that table, so whatever it lists is
// whole; when a join shifts a slot to a newcomer, the old holders keep
// listing it until the newcomer is Ready. Every node applies the rule to
// the same gossiped state, so they agree once gossip has spread; in the
// moment between a ring change and the members' announcements no one is
// Ready and the plain first-healthy rule applies, as it did before range
// transfer existed.
//
// What range transfer does not do: it pulls from one source per run, so a
// record that source lacks (a write it missed and whose hint is still on
// its way) arrives by hinted handoff or read repair instead. It does not
// push data out on leave: with N replicas, the remaining N-1 holders of
// each slot are the sources of the node that takes the leaver's place in
// the list.
//
// # Purge
//
// A node that left a slot's preference list drops its copy (the purge,
// TransferConfig.Dropper), so that the space comes back and a stale copy
// cannot bring a deleted key back if the node regains the slot after the
// key's tombstone was purged elsewhere. It drops only slots it held in a
// table it planned for and lost since, and only when every ring member is
// Ready in the current Snapshot (each has pulled what it gained, possibly
// from this node, and announced the same log, so no one's view is older or
// newer), every member of the slot's list is Up (else this node may be a
// sloppy-quorum stand-in whose copy reads need), and both have held, with
// no page served by this node, for PurgeDelay. A down member that has not
// announced the current log blocks every purge until it does or is
// forgotten. See transfer_purge.go.
package cluster
