package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestHandshakeRefusesOtherVersions checks that a node of another peer
// protocol version (an older release, whose records this node's peers could
// not read) is refused at the handshake, on either side, with an error that
// says so.
func TestHandshakeRefusesOtherVersions(t *testing.T) {
	old := byte(authVersion - 1)

	// This node dials an older one, which sends its hello.
	hello := append([]byte(authMagic), old)
	hello = append(hello, newNonce()...)
	var sent bytes.Buffer
	_, _, err := clientAuth(bufio.NewReader(bytes.NewReader(hello)), &sent, testSecret, "a")
	if !errors.Is(err, errProtocol) || !strings.Contains(err.Error(), "protocol version 1, this node 2") {
		t.Fatalf("clientAuth of an older server's hello: %v", err)
	}
	if sent.Len() != 0 {
		t.Fatalf("the client answered an older server: %q", sent.Bytes())
	}

	// An older node dials this one: its reply to the hello carries its version.
	msg := append([]byte(authMagic), old, 1, 'b')
	msg = append(msg, make([]byte, nonceLen+macLen)...)
	_, _, err = serverAuth(bufio.NewReader(bytes.NewReader(msg)), testSecret, newNonce())
	if !errors.Is(err, errProtocol) || !strings.Contains(err.Error(), "protocol version 1, this node 2") {
		t.Fatalf("serverAuth of an older client: %v", err)
	}

	// The same exchanges at this version get past the version check.
	hello[len(authMagic)] = authVersion
	if _, _, err := clientAuth(bufio.NewReader(bytes.NewReader(hello)), &sent, testSecret, "a"); err != nil {
		t.Fatalf("clientAuth at this version: %v", err)
	}
	msg[len(authMagic)] = authVersion
	if _, _, err := serverAuth(bufio.NewReader(bytes.NewReader(msg)), testSecret, newNonce()); err == nil || strings.Contains(err.Error(), "version") {
		t.Fatalf("serverAuth at this version, with a wrong MAC: %v, want a MAC error", err)
	}
}
