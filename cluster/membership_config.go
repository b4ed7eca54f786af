package cluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultGossipPort is the gossip port DefaultMembershipConfig uses
// (memberlist's own default).
const DefaultGossipPort = 7946

// MembershipConfig configures StartMembership. Zero fields take the default
// their comment names; DefaultMembershipConfig fills the ones whose zero
// value means something else.
type MembershipConfig struct {
	// NodeID is this node's identity, 40 lowercase hex digits, generated once
	// by the caller and kept in the data dir. It is the memberlist node name
	// and the node's name in the ring log. Required.
	NodeID string
	// BindAddr is the IP address gossip listens on (UDP and TCP). Zero:
	// "127.0.0.1".
	BindAddr string
	// GossipPort is the gossip port. 0 picks a free port (tests); GossipAddr
	// reports the real one. DefaultMembershipConfig sets DefaultGossipPort.
	GossipPort int
	// AdvertiseAddr is the IP address other nodes reach our gossip at. Zero:
	// BindAddr, or when that is unspecified (0.0.0.0, ::), a private address
	// memberlist picks.
	AdvertiseAddr string
	// RESPAddr is the host:port clients reach this node's RESP server at,
	// announced to every node (CLUSTER SLOTS, forwarding). Required.
	RESPAddr string
	// PeerAddr is the host:port of this node's peer transport, announced to
	// every node (Resolve). Required.
	PeerAddr string
	// Secret is the cluster secret. When set, gossip is encrypted and
	// authenticated with AES-GCM under a key derived from it, and a node with
	// another secret (or none) cannot join. Zero: gossip in the clear.
	Secret []byte
	// Join lists gossip addresses (host:port) to join at start. Zero: start
	// alone; a node with an empty ring log then forms a one-node ring.
	Join []string
	// ClusterName labels every gossip packet and stream; nodes with
	// different names ignore each other, so two rings (or two test clusters
	// reusing each other's ports) never merge by accident. At most 255
	// bytes. Zero: "ringstore".
	ClusterName string
	// Meta is where the ring log and the address book are kept. Required.
	Meta MetaStore
	// DownAfter, when positive, removes a ring member that has been down
	// this long, as RING FORGET would. Zero: never (membership is explicit).
	DownAfter time.Duration
	// Local selects fast failure detection for loopback tests: probes every
	// 200 ms instead of every second (see gossipConfig for the rest).
	Local bool
	// Logger receives membership changes (Info) and memberlist's own lines
	// at their level. Zero: discard.
	Logger *slog.Logger
	// Now is the clock for event stamps and state times. Zero: time.Now.
	Now func() time.Time

	// tweak, if set, adjusts the memberlist configuration last (tests).
	tweak func(*memberlist.Config)
}

// DefaultMembershipConfig returns a configuration with every default filled
// in; the caller still sets NodeID, RESPAddr, PeerAddr and Meta.
func DefaultMembershipConfig() MembershipConfig {
	return MembershipConfig{BindAddr: "127.0.0.1", GossipPort: DefaultGossipPort}
}

// DefaultLocalMembershipConfig returns a configuration for in-process
// clusters on loopback: an ephemeral gossip port and fast failure detection
// (Local).
func DefaultLocalMembershipConfig() MembershipConfig {
	c := DefaultMembershipConfig()
	c.GossipPort = 0
	c.Local = true
	return c
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c MembershipConfig) withDefaults() MembershipConfig {
	if c.BindAddr == "" {
		c.BindAddr = "127.0.0.1"
	}
	if c.AdvertiseAddr == "" {
		if ip := net.ParseIP(c.BindAddr); ip != nil && !ip.IsUnspecified() {
			c.AdvertiseAddr = c.BindAddr
		}
	}
	if c.ClusterName == "" {
		c.ClusterName = "ringstore"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem with c at once. Empty fields that have a
// default are not problems.
func (c MembershipConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("cluster: "+format, args...))
	}
	if !validNodeID(c.NodeID) {
		bad("node id %q is not 40 lowercase hex digits", c.NodeID)
	}
	if c.BindAddr != "" && net.ParseIP(c.BindAddr) == nil {
		bad("bind address %q is not an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		bad("advertise address %q is not an IP address", c.AdvertiseAddr)
	}
	if c.GossipPort < 0 || c.GossipPort > 65535 {
		bad("gossip port %d is out of range", c.GossipPort)
	}
	for _, a := range []struct{ name, addr string }{{"RESP", c.RESPAddr}, {"peer", c.PeerAddr}} {
		if err := checkHostPort(a.addr); err != nil {
			bad("%s address %q: %v", a.name, a.addr, err)
		} else if len(a.addr) > maxAddrLen {
			bad("%s address is longer than %d bytes", a.name, maxAddrLen)
		}
	}
	for _, j := range c.Join {
		if err := checkHostPort(j); err != nil {
			bad("join address %q: %v", j, err)
		}
	}
	if len(c.ClusterName) > memberlist.LabelMaxSize {
		bad("cluster name is longer than %d bytes", memberlist.LabelMaxSize)
	}
	if c.Meta == nil {
		bad("no meta store")
	}
	if c.DownAfter < 0 {
		bad("down-after %v is negative", c.DownAfter)
	}
	return errors.Join(errs...)
}

func validNodeID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("missing")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return errors.New("bad port")
	}
	return nil
}

// gossipKey derives the memberlist encryption key from the cluster secret:
// SHA-256 over a label and the secret, so the gossip key is not the key the
// peer transport's HMAC uses even though both come from one secret.
func gossipKey(secret []byte) []byte {
	h := sha256.New()
	io.WriteString(h, "ringstore gossip key\x00")
	h.Write(secret)
	return h.Sum(nil)
}

// gossipConfig returns the memberlist configuration for c (defaults filled).
//
// LAN (the default) keeps memberlist's DefaultLANConfig: probes every
// second, a member is suspected after a failed probe and declared dead
// SuspicionMult(4) * max(1, log10 n) probe intervals later (4 s below ten
// nodes, shortened by confirmations from other members in bigger rings), so
// a crashed node is down everywhere after about 5-6 s; the coordinator's
// ReportUnreachable is the fast path. Local probes every 200 ms and gives up
// on a suspect after 0.6-1.2 s, which is about 1-2 s end to end on loopback.
func (c MembershipConfig) gossipConfig() *memberlist.Config {
	var mc *memberlist.Config
	if c.Local {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.GossipInterval = 50 * time.Millisecond
		mc.SuspicionMult = 3
		mc.SuspicionMaxTimeoutMult = 2
		mc.PushPullInterval = 2 * time.Second
		mc.GossipToTheDeadTime = 5 * time.Second
	} else {
		mc = memberlist.DefaultLANConfig()
	}
	mc.Name = c.NodeID
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.GossipPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.GossipPort
	// A restarted node may come back at another address (a new container
	// IP); once the old address is dead, let it reclaim its name at once.
	mc.DeadNodeReclaimTime = mc.ProbeInterval
	mc.Label = c.ClusterName
	if len(c.Secret) > 0 {
		mc.SecretKey = gossipKey(c.Secret)
	}
	mc.LogOutput = nil
	mc.Logger = log.New(gossipLogWriter{c.Logger.With("component", "memberlist")}, "", 0)
	if c.tweak != nil {
		c.tweak(mc)
	}
	return mc
}
