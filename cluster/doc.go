// Package cluster connects the nodes of a ring: it carries the coordinator's
// node-to-node calls (the peer transport) and, beside it, the gossip
// membership that decides which nodes exist and which are up.
//
// # Peer transport
//
// A Transport is one node's client side of the peer protocol; a PeerServer is
// its server side, listening on a dedicated peer port that never shares a
// listener with the RESP port, so a Redis client connection can never run a
// peer command. Transport implements coordinator.Transport (Read, Write,
// Forward) and PeerServer calls a coordinator.PeerHandler.
//
// Calls are multiplexed: every request frame carries a request ID, so many
// calls share one TCP connection, the server runs them concurrently, and
// replies come back in whatever order they finish. Per peer node a Transport
// keeps a small pool of connections (TransportConfig.ConnsPerPeer), dialled
// lazily. Each connection has one writer goroutine that sends everything
// queued since its last write in one system call (group commit of frames) and
// one reader goroutine that hands each reply to its waiting caller. A caller
// waits for its reply or for its context, whichever comes first; a reply that
// arrives after its caller gave up is dropped. The client's remaining time is
// sent with the request, and the server runs the handler under that deadline.
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
// reserved for anti-entropy and handoff, and 0x40-0x7f for later use. A new
// call is a generic Transport.Call on the client and a PeerServer.Handle
// registration on the server.
//
// Bad input from the network never panics a node and never makes it allocate
// much more than the bytes it actually received: frame lengths are checked
// against MaxFrame before reading, payloads are read incrementally, and every
// decoder checks each length against the bytes that remain.
package cluster
