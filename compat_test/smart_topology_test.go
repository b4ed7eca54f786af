package compat_test

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// topology is one node's answer to CLUSTER MYID, INFO, SLOTS, SHARDS and
// NODES, each parsed the way cluster clients parse it: SLOTS and SHARDS by
// go-redis, NODES as redis-cli --cluster and redis-benchmark split it.
type topology struct {
	self  string // CLUSTER MYID
	info  string // CLUSTER INFO
	slots string // CLUSTER SLOTS rendered one range a line, for comparisons

	slotRanges []redis.ClusterSlot
	shards     []redis.ClusterShard
	nodes      []nodesLine
	nodesText  string // CLUSTER NODES as sent

	// bySlot[s] lists the node IDs CLUSTER SLOTS gives for slot s, master
	// first; addr maps every node ID seen in SLOTS to its host:port.
	bySlot [numSlots][]string
	addr   map[string]string
}

// nodesLine is one line of CLUSTER NODES.
type nodesLine struct {
	id, addr, busPort string
	flags             string
	myself, failed    bool
	master            string // "-" for a master
	epoch, link       string
	slots             [][2]int
}

// readTopology asks rdb's node for its topology and parses it; a reply that
// cannot be parsed is an error.
func readTopology(ctx context.Context, rdb *redis.Client) (*topology, error) {
	t := &topology{addr: map[string]string{}}
	var err error
	if t.self, err = rdb.ClusterMyID(ctx).Result(); err != nil {
		return nil, fmt.Errorf("CLUSTER MYID: %v", err)
	}
	if t.info, err = rdb.ClusterInfo(ctx).Result(); err != nil {
		return nil, fmt.Errorf("CLUSTER INFO: %v", err)
	}
	if t.slotRanges, err = rdb.ClusterSlots(ctx).Result(); err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %v", err)
	}
	if t.shards, err = rdb.ClusterShards(ctx).Result(); err != nil {
		return nil, fmt.Errorf("CLUSTER SHARDS: %v", err)
	}
	if t.nodesText, err = rdb.ClusterNodes(ctx).Result(); err != nil {
		return nil, fmt.Errorf("CLUSTER NODES: %v", err)
	}
	if t.nodes, err = parseClusterNodes(t.nodesText); err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, r := range t.slotRanges {
		fmt.Fprintf(&b, "%d-%d", r.Start, r.End)
		for _, n := range r.Nodes {
			fmt.Fprintf(&b, " %s@%s", n.ID, n.Addr)
		}
		b.WriteByte('\n')
	}
	t.slots = b.String()
	return t, nil
}

var hexID = regexp.MustCompile(`^[0-9a-f]{40}$`)

// parseClusterNodes splits CLUSTER NODES into lines of at least eight
// space-separated fields, every line ending in "\n" (redis-py and redis-cli
// rely on it), then slot ranges "a-b" or "a".
func parseClusterNodes(text string) ([]nodesLine, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("CLUSTER NODES does not end in a newline: %q", text)
	}
	var out []nodesLine
	for line := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		f := strings.Split(line, " ")
		if len(f) < 8 || strings.Contains(line, "\r") {
			return nil, fmt.Errorf("CLUSTER NODES line %q: want at least 8 fields and no CR", line)
		}
		addr, bus, ok := strings.Cut(f[1], "@")
		if !ok {
			return nil, fmt.Errorf("CLUSTER NODES line %q: address has no @cport", line)
		}
		bus, _, _ = strings.Cut(bus, ",") // ",hostname" may follow
		l := nodesLine{id: f[0], addr: addr, busPort: bus, flags: f[2], master: f[3], epoch: f[6], link: f[7]}
		for flag := range strings.SplitSeq(f[2], ",") {
			switch flag {
			case "myself":
				l.myself = true
			case "fail", "fail?":
				l.failed = true
			}
		}
		for _, s := range f[8:] {
			lo, hi, isRange := strings.Cut(s, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || a < 0 || b < a || b >= numSlots {
				return nil, fmt.Errorf("CLUSTER NODES line %q: bad slot range %q", line, s)
			}
			l.slots = append(l.slots, [2]int{a, b})
		}
		out = append(out, l)
	}
	return out, nil
}

// complete checks one node's topology on its own: SLOTS covers every slot
// exactly once with well-formed, distinct node IDs and one address per ID;
// SHARDS gives every slot the same nodes in the same order (master first)
// with matching addresses; NODES gives every slot the same master, lists
// this node as myself and each SLOTS node as a connected master; CLUSTER
// INFO says ok for all 16384 slots. It fills bySlot and addr.
func (t *topology) complete() error {
	for _, r := range t.slotRanges {
		if r.Start < 0 || r.End < r.Start || r.End >= numSlots || len(r.Nodes) == 0 {
			return fmt.Errorf("CLUSTER SLOTS range %d-%d with %d nodes", r.Start, r.End, len(r.Nodes))
		}
		var ids []string
		for _, n := range r.Nodes {
			if !hexID.MatchString(n.ID) || slices.Contains(ids, n.ID) {
				return fmt.Errorf("CLUSTER SLOTS range %d-%d: bad or repeated node ID %q", r.Start, r.End, n.ID)
			}
			if a, ok := t.addr[n.ID]; ok && a != n.Addr {
				return fmt.Errorf("CLUSTER SLOTS: node %s at %s and at %s", n.ID, a, n.Addr)
			}
			if _, _, err := net.SplitHostPort(n.Addr); err != nil {
				return fmt.Errorf("CLUSTER SLOTS: node %s address %q: %v", n.ID, n.Addr, err)
			}
			t.addr[n.ID] = n.Addr
			ids = append(ids, n.ID)
		}
		for s := r.Start; s <= r.End; s++ {
			if t.bySlot[s] != nil {
				return fmt.Errorf("CLUSTER SLOTS lists slot %d twice", s)
			}
			t.bySlot[s] = ids
		}
	}
	for s, ids := range t.bySlot {
		if ids == nil {
			return fmt.Errorf("CLUSTER SLOTS does not cover slot %d", s)
		}
	}
	if err := t.checkShards(); err != nil {
		return err
	}
	if err := t.checkNodes(); err != nil {
		return err
	}
	for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_slots_ok:16384"} {
		if !strings.Contains(t.info, want+"\r\n") {
			return fmt.Errorf("CLUSTER INFO lacks %s:\n%s", want, t.info)
		}
	}
	return nil
}

// checkShards compares CLUSTER SHARDS with bySlot, slot by slot.
func (t *topology) checkShards() error {
	covered := 0
	for _, sh := range t.shards {
		var ids []string
		for i, n := range sh.Nodes {
			role := "replica"
			if i == 0 {
				role = "master"
			}
			addr := net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			if n.Role != role || n.Health != "online" || addr != t.addr[n.ID] || n.Endpoint != n.IP {
				return fmt.Errorf("CLUSTER SHARDS node %d of a shard: %+v; want role %s, health online, %s", i, n, role, t.addr[n.ID])
			}
			ids = append(ids, n.ID)
		}
		for _, r := range sh.Slots {
			if r.Start < 0 || r.End < r.Start || r.End >= numSlots {
				return fmt.Errorf("CLUSTER SHARDS slot range %d-%d", r.Start, r.End)
			}
			for s := r.Start; s <= r.End; s++ {
				if !slices.Equal(t.bySlot[s], ids) {
					return fmt.Errorf("slot %d: CLUSTER SHARDS gives nodes %v, CLUSTER SLOTS %v", s, ids, t.bySlot[s])
				}
				covered++
			}
		}
	}
	if covered != numSlots {
		return fmt.Errorf("CLUSTER SHARDS covers %d slot positions, want %d", covered, numSlots)
	}
	return nil
}

// checkNodes compares CLUSTER NODES with bySlot and addr.
func (t *topology) checkNodes() error {
	var master [numSlots]string
	myself := 0
	byID := map[string]nodesLine{}
	for _, l := range t.nodes {
		if !hexID.MatchString(l.id) {
			return fmt.Errorf("CLUSTER NODES: bad node ID %q", l.id)
		}
		if _, dup := byID[l.id]; dup {
			return fmt.Errorf("CLUSTER NODES lists %s twice", l.id)
		}
		byID[l.id] = l
		if l.myself {
			myself++
			if l.id != t.self {
				return fmt.Errorf("CLUSTER NODES marks %s as myself; CLUSTER MYID is %s", l.id, t.self)
			}
		}
		if !strings.Contains(","+l.flags+",", ",master,") || l.master != "-" {
			return fmt.Errorf("CLUSTER NODES: %s is not a master (flags %s, master %s)", l.id, l.flags, l.master)
		}
		for _, r := range l.slots {
			for s := r[0]; s <= r[1]; s++ {
				if master[s] != "" {
					return fmt.Errorf("CLUSTER NODES gives slot %d to %s and %s", s, master[s], l.id)
				}
				master[s] = l.id
			}
		}
	}
	if myself != 1 {
		return fmt.Errorf("CLUSTER NODES marks %d nodes as myself", myself)
	}
	for s := range numSlots {
		if master[s] != t.bySlot[s][0] {
			return fmt.Errorf("slot %d: CLUSTER NODES master %q, CLUSTER SLOTS master %q", s, master[s], t.bySlot[s][0])
		}
	}
	for id, addr := range t.addr {
		l, ok := byID[id]
		if !ok || l.addr != addr || l.failed || l.link != "connected" {
			return fmt.Errorf("CLUSTER SLOTS node %s at %s: CLUSTER NODES has %+v", id, addr, l)
		}
	}
	return nil
}

// nodesConfig is CLUSTER NODES without what differs between the nodes of a
// healthy cluster (the myself flag), which redis-cli --cluster check expects
// every node to agree on.
func (t *topology) nodesConfig() string {
	var lines []string
	for _, l := range t.nodes {
		var slots []string
		for _, r := range l.slots {
			slots = append(slots, fmt.Sprintf("%d-%d", r[0], r[1]))
		}
		flags := strings.ReplaceAll(strings.ReplaceAll(l.flags, "myself,", ""), ",myself", "")
		lines = append(lines, strings.Join([]string{l.id, l.addr, l.busPort, flags, l.master, l.epoch, l.link, strings.Join(slots, " ")}, " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum
// Redis Cluster hashes keys with.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// keySlot is Redis Cluster's slot of key: CRC16 of its hash tag (the part
// between the first "{" and the next "}", if not empty) or of all of it.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16([]byte(key)) % numSlots)
}

// keysForEverySlot returns, for each slot, the first key prefix+i (i = 0,
// 1, ...) that hashes to it.
func keysForEverySlot(prefix string) []string {
	keys := make([]string, numSlots)
	left := numSlots
	for i := 0; left > 0; i++ {
		k := prefix + strconv.Itoa(i)
		if s := keySlot(k); keys[s] == "" {
			keys[s] = k
			left--
		}
	}
	return keys
}
