// Package resp is ringstore's Redis front end: it speaks RESP2 to clients
// (redis-cli, redis-benchmark, go-redis, ioredis, Jedis, redis-py), turns
// each command into calls of the coordinator, and writes the reply and the
// error texts redis-server 7 would write.
//
// A Server runs its own connection loop (loop.go) and uses tidwall/redcon
// only as the RESP parser: each connection reads into a buffer of its own,
// redcon.ReadNextCommand cuts the whole commands out of it without copying
// (the arguments are slices of the buffer, collected in a slice the
// connection keeps), the commands run in order, or as a concurrent batch on a
// ring, and their replies go out in one write once the read's commands are
// done. The loop is ours because redcon's server loop copies every command's
// bytes and allocates an argument slice per command and a slice of commands
// per read, 2-3 allocations per command that were 8-22% of a node's CPU
// profile, while the command path after it allocates nothing. Owning the
// loop also lets the pipelined batch be the read's parsed commands directly,
// and puts accept, maxclients, QUIT and Close in one place. What redcon still
// does for us is the parsing itself: frames, bulk lengths, and the
// incomplete command at the end of a read (left for the next one).
//
// Because arguments alias the read buffer, they are only valid until the
// buffer is reused after the read's commands ran. Handlers copy whatever
// they keep, and on a ring of more than one node, where the coordinator may
// still use a key and value after answering (a late replica's hint, read
// repair), a read's commands are parsed from a copy of their own bytes.
//
// Every connection is read through a protocol guard (guard.go): a small
// state machine over the bytes as they arrive that applies Redis's limits
// (proto-max-bulk-len, the multibulk count, the length of inline and length
// lines, the unauthenticated limits, a query buffer cap) before the loop
// buffers anything, answers a broken limit with Redis's "Protocol error"
// text after the commands before it ran, and closes only that connection. It
// also gives the parser the stream as Redis understands it: inline commands
// split as Redis splits them, empty commands dropped. Its limits are what
// bound the loop's buffer, which grows for a large command and shrinks back
// once drained.
//
// Every command then goes through Server.execute, the single entry point
// that connections, peer forwarding and the tests share: a table lookup in
// any letter case (unknown command and unknown subcommand errors as Redis
// words them), the arity check, the AUTH gate, then the command's handler.
// Each handler is one small method of Server that checks its arguments,
// makes one coordinator call and writes one reply into a Writer; execute
// never lets a handler's panic take the server down, but the fuzz test runs
// without that net, so no input may rely on it. Coordinator errors become
// Redis error replies in one place (Server.writeError), with prefixes chosen
// for what clients do with them: TRYAGAIN and NOREPLICAS are retried, ERR is
// final.
//
// Replies are built per command in a Writer and copied to the connection in
// request order, which is what lets a pipelined batch run its keyed commands
// concurrently (pipeline.go). The dispatch path itself allocates nothing:
// sessions and writers live with the connection, names are lowered on the
// stack, and each command's deadline comes from a context shared by the
// commands that start within the same few milliseconds.
//
// What differs from Redis on purpose: RESP3 is not spoken (HELLO 3 answers
// NOPROTO, which every client takes as "use RESP2"); SELECT accepts the
// configured databases although the server reports cluster mode; COMMAND
// sends no tips; COMMAND DOCS is empty; MULTI, EVAL, pub/sub and the other
// unsupported commands answer the unknown-command error.
package resp
