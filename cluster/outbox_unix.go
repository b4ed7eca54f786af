//go:build unix

package cluster

import "syscall"

const canTryWrite = true

// writeDirect is the syscall.RawConn write function of a direct write: one
// write(2) of o.direct that does not wait for room in the socket. It sets
// o.directN to the bytes written; an error counts as none written, and the
// writer goroutine, which takes over the rest, meets and reports it. (A
// connection whose write deadline has passed fails in RawConn.Write before
// calling this, which also leaves the work to the writer, which sets a new
// deadline.) The caller holds the write token.
func (o *outbox) writeDirect(fd uintptr) bool {
	n, err := syscall.Write(int(fd), o.direct)
	if err == nil && n > 0 {
		o.directN = n
	}
	return true // never wait for the socket: that is the writer's job
}
