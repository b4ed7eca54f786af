package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestClusterAnnounceAddress: a node behind NAT or in a container sets
// cluster-announce-ip and cluster-announce-port. Every member then
// publishes that address for it in CLUSTER SLOTS and CLUSTER NODES (what
// cluster clients connect to), and its peers reach it at the announced IP
// too, so the ring still replicates through it. Here node 1 listens on
// every address and announces 127.0.0.2 (loopback, but not the address it
// was started with) and a RESP port it does not listen on.
func TestClusterAnnounceAddress(t *testing.T) {
	const announcedPort = 54321
	started := 0
	tc := startTestClusterWith(t, 2, func(c *Config) {
		if started == 1 {
			c.Bind = "0.0.0.0"
			c.AnnounceIP = "127.0.0.2"
			c.AnnouncePort = announcedPort
		}
		started++
	})
	ctx := context.Background()
	want := net.JoinHostPort("127.0.0.2", strconv.Itoa(announcedPort))

	// Replication goes through the announced IP: a write through node 0 is
	// read back through node 1 and the other way round.
	for i, c := range []int{0, 1} {
		key := fmt.Sprint("announce", i)
		if err := tc.client(c).Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := tc.client(1-c).Get(ctx, key).Result(); err != nil || v != "v" {
			t.Fatalf("%s written through node %d, read through node %d: %q, %v", key, c, 1-c, v, err)
		}
	}

	for i := range tc.nodes {
		c := tc.client(i)
		nodes, err := c.ClusterNodes(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		var line string
		for l := range strings.SplitSeq(nodes, "\n") {
			if strings.HasPrefix(l, tc.ids[1]+" ") {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(f[1], want+"@") {
			t.Fatalf("node %d: CLUSTER NODES line of node 1 is %q, want address %s", i, line, want)
		}
		slots, err := c.ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, r := range slots {
			for _, n := range r.Nodes {
				if n.ID == tc.ids[1] {
					seen++
					if n.Addr != want {
						t.Fatalf("node %d: CLUSTER SLOTS lists node 1 at %s, want %s", i, n.Addr, want)
					}
				}
			}
		}
		if seen == 0 {
			t.Fatalf("node %d: CLUSTER SLOTS never lists node 1: %v", i, slots)
		}
	}
}
