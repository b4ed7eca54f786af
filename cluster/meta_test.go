package cluster

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/memberlist"
)

// memMeta is an in-memory MetaStore with a fail switch and a write counter.
type memMeta struct {
	mu   sync.Mutex
	vals map[string][]byte
	puts int
	fail error // PutMeta returns it when set
}

func newMemMeta() *memMeta { return &memMeta{vals: make(map[string][]byte)} }

func (s *memMeta) GetMeta(name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[name]
	return append([]byte(nil), v...), ok, nil
}

func (s *memMeta) PutMeta(name string, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.puts++
	s.vals[name] = append([]byte(nil), val...)
	return nil
}

func (s *memMeta) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func TestNodeMetaFitsAndRoundTrips(t *testing.T) {
	long := strings.Repeat("h", maxAddrLen-6) + ":65535"
	nm := nodeMeta{ID: strings.Repeat("f", 40), RESPAddr: long, PeerAddr: long, Log: LogDigest{Count: 1<<64 - 1, Hash: 1<<64 - 1}}
	b := nm.appendBinary(nil)
	if len(b) > memberlist.MetaMaxSize {
		t.Fatalf("largest meta is %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
	got, err := decodeNodeMeta(b)
	if err != nil || got != nm {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := range len(b) {
		if _, err := decodeNodeMeta(b[:i]); !errors.Is(err, errBadMeta) {
			t.Fatalf("prefix of %d bytes: err %v", i, err)
		}
	}
	// With a synced digest: the largest meta still fits, and a truncated
	// digest is an error while a missing one is not.
	noSynced := len(b)
	nm.Synced = LogDigest{Count: 1<<64 - 1, Hash: 1<<64 - 1}
	b = nm.appendBinary(nil)
	if len(b) > memberlist.MetaMaxSize {
		t.Fatalf("largest meta is %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
	if got, err := decodeNodeMeta(b); err != nil || got != nm {
		t.Fatalf("round trip with synced: %+v %v", got, err)
	}
	for i := noSynced + 1; i < len(b); i++ {
		if _, err := decodeNodeMeta(b[:i]); !errors.Is(err, errBadMeta) {
			t.Fatalf("prefix of %d bytes: err %v", i, err)
		}
	}
}

func TestBookRoundTrips(t *testing.T) {
	book := []nodeAddrs{
		{ID: "b", GossipAddr: "127.0.0.1:2", RESPAddr: "127.0.0.1:20", PeerAddr: "127.0.0.1:200"},
		{ID: "a", GossipAddr: "127.0.0.1:1"},
	}
	b := appendBook(nil, book)
	got, err := decodeBook(b)
	if err != nil || len(got) != 2 || got[0] != book[1] || got[1] != book[0] {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := range len(b) {
		if _, err := decodeBook(b[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
}

func TestLoadStateRejectsCorruptLog(t *testing.T) {
	meta := newMemMeta()
	meta.PutMeta(metaRingLog, []byte{1, 5})
	if _, _, err := loadState(meta); !errors.Is(err, errBadLog) {
		t.Fatalf("loadState of a corrupt log: %v", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	err := MembershipConfig{NodeID: "xyz", BindAddr: "localhost", GossipPort: -1, RESPAddr: "nohost", DownAfter: -1}.Validate()
	if err == nil {
		t.Fatal("a bad config validated")
	}
	for _, want := range []string{"node id", "bind address", "gossip port", "RESP address", "peer address", "meta store", "down-after"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	good := DefaultMembershipConfig()
	good.NodeID, good.RESPAddr, good.PeerAddr, good.Meta = strings.Repeat("0a", 20), "127.0.0.1:6379", "127.0.0.1:16379", newMemMeta()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}
