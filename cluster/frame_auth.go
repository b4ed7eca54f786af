package cluster

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// Handshake, before any frame. The server speaks first:
//
//	server: magic "RNGP" version:u8 nonceS[32]
//	client: magic "RNGP" version:u8 idLen:u8 clientID nonceC[32] macC[32]
//	server: 0x00 idLen:u8 serverID macS[32]   (accepted)
//	        0x01                              (rejected; the server closes)
//
//	macC = HMAC-SHA256(secret, "ringstore peer client" nonceS nonceC idLen clientID)
//	macS = HMAC-SHA256(secret, "ringstore peer server" nonceC nonceS idLen serverID)
//
// The server checks macC in constant time before it reads a frame; the client
// checks macS, and that serverID is the node it meant to dial, before it sends
// one. Fresh nonces on both sides make a recorded handshake useless on a new
// connection.
const (
	authMagic = "RNGP"
	// authVersion is the peer protocol's version. 2: records travel in
	// version's record format 2, which a node of version 1 cannot read, so
	// such a pair refuses each other at the handshake instead of failing
	// every replica call after it.
	authVersion = 2
	nonceLen    = 32
	macLen      = sha256.Size
	maxIDLen    = 255

	authAccepted = 0
	authRejected = 1
)

// ErrAuth is wrapped by the error of a call to a peer that refused this
// node's proof of the cluster secret, or could not prove its own: the two
// nodes were probably started with different cluster secrets.
var ErrAuth = errors.New("cluster: peer authentication failed")

func authMAC(secret []byte, label string, first, second []byte, id string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(first)
	m.Write(second)
	m.Write([]byte{byte(len(id))})
	m.Write([]byte(id))
	return m.Sum(nil)
}

func newNonce() []byte {
	b := make([]byte, nonceLen)
	rand.Read(b) // never fails (crypto/rand documents a crash instead)
	return b
}

// serverHello is the server's first message.
func serverHello(nonce []byte) []byte {
	b := append([]byte(authMagic), authVersion)
	return append(b, nonce...)
}

// clientAuth reads the server's hello and writes the client's proof.
func clientAuth(r *bufio.Reader, w io.Writer, secret []byte, id string) (nonceS, nonceC []byte, err error) {
	hello := make([]byte, len(authMagic)+1+nonceLen)
	if _, err := io.ReadFull(r, hello); err != nil {
		return nil, nil, fmt.Errorf("reading server hello: %w", err)
	}
	if string(hello[:len(authMagic)]) != authMagic {
		return nil, nil, fmt.Errorf("%w: not a ringstore peer port", errProtocol)
	}
	if v := hello[len(authMagic)]; v != authVersion {
		return nil, nil, fmt.Errorf("%w: the peer speaks peer protocol version %d, this node %d: run one ringstore release on every node", errProtocol, v, authVersion)
	}
	nonceS = hello[len(authMagic)+1:]
	nonceC = newNonce()
	msg := append([]byte(authMagic), authVersion, byte(len(id)))
	msg = append(msg, id...)
	msg = append(msg, nonceC...)
	msg = append(msg, authMAC(secret, "ringstore peer client", nonceS, nonceC, id)...)
	if _, err := w.Write(msg); err != nil {
		return nil, nil, fmt.Errorf("sending authentication: %w", err)
	}
	return nonceS, nonceC, nil
}

// clientVerify reads the server's verdict and proof, returning the server's
// node ID.
func clientVerify(r *bufio.Reader, secret, nonceS, nonceC []byte) (string, error) {
	status, err := r.ReadByte()
	if err != nil {
		return "", fmt.Errorf("reading authentication verdict: %w", noEOF(err))
	}
	switch status {
	case authAccepted:
	case authRejected:
		return "", fmt.Errorf("%w: the peer rejected this node's proof of the cluster secret", ErrAuth)
	default:
		return "", fmt.Errorf("%w: bad authentication verdict %#x", errProtocol, status)
	}
	id, err := readID(r)
	if err != nil {
		return "", err
	}
	mac := make([]byte, macLen)
	if _, err := io.ReadFull(r, mac); err != nil {
		return "", fmt.Errorf("reading server proof: %w", noEOF(err))
	}
	if !hmac.Equal(mac, authMAC(secret, "ringstore peer server", nonceC, nonceS, id)) {
		return "", fmt.Errorf("%w: the peer could not prove it knows the cluster secret", ErrAuth)
	}
	return id, nil
}

// serverAuth reads and checks a client's proof, returning the client's node
// ID. It writes nothing: the caller answers with serverAccept or
// authRejected.
func serverAuth(r *bufio.Reader, secret, nonceS []byte) (id string, nonceC []byte, err error) {
	head := make([]byte, len(authMagic)+1)
	if _, err := io.ReadFull(r, head); err != nil {
		return "", nil, noEOF(err)
	}
	if string(head[:len(authMagic)]) != authMagic {
		return "", nil, fmt.Errorf("%w: bad handshake magic", errProtocol)
	}
	if v := head[len(authMagic)]; v != authVersion {
		return "", nil, fmt.Errorf("%w: the peer speaks peer protocol version %d, this node %d: run one ringstore release on every node", errProtocol, v, authVersion)
	}
	if id, err = readID(r); err != nil {
		return "", nil, err
	}
	rest := make([]byte, nonceLen+macLen)
	if _, err := io.ReadFull(r, rest); err != nil {
		return "", nil, noEOF(err)
	}
	nonceC, mac := rest[:nonceLen], rest[nonceLen:]
	if !hmac.Equal(mac, authMAC(secret, "ringstore peer client", nonceS, nonceC, id)) {
		return id, nil, ErrAuth
	}
	return id, nonceC, nil
}

// serverAccept is the server's answer to a client whose proof it accepted.
func serverAccept(secret, nonceS, nonceC []byte, id string) []byte {
	b := append([]byte{authAccepted, byte(len(id))}, id...)
	return append(b, authMAC(secret, "ringstore peer server", nonceC, nonceS, id)...)
}

func readID(r *bufio.Reader) (string, error) {
	n, err := r.ReadByte()
	if err != nil {
		return "", noEOF(err)
	}
	if n == 0 {
		return "", fmt.Errorf("%w: empty node ID", errProtocol)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", noEOF(err)
	}
	return string(b), nil
}
