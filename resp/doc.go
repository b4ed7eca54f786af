// Package resp is ringstore's Redis front end: it speaks RESP2 to clients
// (redis-cli, redis-benchmark, go-redis, ioredis, Jedis, redis-py), turns
// each command into calls of the coordinator, and writes the reply and the
// error texts redis-server 7 would write.
//
// A Server serves client connections on tidwall/redcon. Every connection is
// read through a protocol guard (guard.go): a small state machine over the
// bytes as they arrive that applies Redis's limits (proto-max-bulk-len, the
// multibulk count, the length of inline and length lines, the unauthenticated
// limits, a query buffer cap) before redcon buffers anything, answers a
// broken limit with Redis's "Protocol error" text after the commands before
// it ran, and closes only that connection. It also gives redcon the stream
// as Redis understands it: inline commands split as Redis splits them,
// empty commands dropped.
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
