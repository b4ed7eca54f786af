package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/engine"
)

func TestDefaultsAreValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ringstore.conf")
	os.WriteFile(file, []byte("# a comment\nport 7000\nappendfsync always\ndir \"/tmp/x y\"\nproto-max-bulk-len 2mb\ntimeout 30\n"), 0o644)
	cfg, err := ParseArgs([]string{"--config", file, "--port", "7001"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 7001 || cfg.Fsync != engine.FsyncAlways || cfg.DataDir != "/tmp/x y" || cfg.ProtoMaxBulkLen != 2<<20 || cfg.Timeout != 30*time.Second {
		t.Fatalf("%+v", cfg)
	}
}

func TestBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--port", "abc"},
		{"--fsync", "sometimes"},
		{"--proto-max-bulk-len", "12q"},
		{"stray"},
	} {
		if _, err := ParseArgs(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	for _, args := range [][]string{{"--port", "70000"}, {"--databases", "0"}, {"--bind", "nowhere"}, {"--loglevel", "loud"}} {
		cfg, err := ParseArgs(args, io.Discard)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("%v passed validation", args)
		}
	}
}

func TestConfigFileErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.conf")
	os.WriteFile(file, []byte("port 7000\nbogus 1\nport x\n"), 0o644)
	_, err := ParseArgs([]string{"--config", file}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bad.conf:2: unknown keyword \"bogus\"") || !strings.Contains(err.Error(), "bad.conf:3: port") {
		t.Fatalf("err = %v", err)
	}
}

// TestStartFailureReportsTheError: a port in use is an error, not a panic.
func TestStartFailureReportsTheError(t *testing.T) {
	first := DefaultConfig()
	first.Port = 0
	first.DataDir = t.TempDir()
	n, err := Start(first, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	second := DefaultConfig()
	_, port, _ := strings.Cut(n.Addr(), ":")
	second.Port, _ = strconv.Atoi(port)
	second.DataDir = t.TempDir()
	if _, err := Start(second, io.Discard); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second node on a used port: %v", err)
	}
}

// TestConfigSetOnANode: CONFIG SET loglevel changes what the node logs; the
// persistence parameters accept the value they have (the usual test-suite
// set-up) and refuse any other with the reason.
func TestConfigSetOnANode(t *testing.T) {
	ctx := context.Background()
	tc := startTestCluster(t, 1)
	c := tc.client(0)
	nd := tc.nodes[0]
	if nd.log.Enabled(ctx, slog.LevelDebug) {
		t.Fatal("debug enabled at notice")
	}
	if err := c.ConfigSet(ctx, "loglevel", "DEBUG").Err(); err != nil {
		t.Fatal(err)
	}
	if !nd.log.Enabled(ctx, slog.LevelDebug) {
		t.Error("CONFIG SET loglevel debug: debug still disabled")
	}
	if got := c.ConfigGet(ctx, "loglevel").Val(); got["loglevel"] != "debug" {
		t.Errorf("CONFIG GET loglevel: %v", got)
	}
	if err := c.ConfigSet(ctx, "loglevel", "warning").Err(); err != nil || nd.log.Enabled(ctx, slog.LevelInfo) {
		t.Errorf("CONFIG SET loglevel warning: %v; info enabled %v", err, nd.log.Enabled(ctx, slog.LevelInfo))
	}
	for _, step := range []struct{ name, value, err string }{
		{"loglevel", "loud", "ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning"},
		{"save", "", ""},
		{"save", " ", "ERR CONFIG SET failed (possibly related to argument 'save') - ringstore takes no RDB snapshots: every write is already on disk"},
		{"save", "900 1", "ERR CONFIG SET failed (possibly related to argument 'save') - ringstore takes no RDB snapshots: every write is already on disk"},
		{"appendonly", "YES", ""},
		{"appendonly", "no", "ERR CONFIG SET failed (possibly related to argument 'appendonly') - ringstore always logs writes (its write-ahead log is its append-only file)"},
		{"appendonly", "maybe", "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"},
		{"maxmemory", "0gb", ""},
		{"maxmemory", "1gb", "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - ringstore has no memory limit: its data lives on disk"},
		{"maxmemory", "lots", "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"},
	} {
		err := c.ConfigSet(ctx, step.name, step.value).Err()
		if (step.err == "" && err != nil) || (step.err != "" && (err == nil || err.Error() != step.err)) {
			t.Errorf("CONFIG SET %s %q: %v, want %q", step.name, step.value, err, step.err)
		}
	}
	got := c.ConfigGet(ctx, "*").Val()
	if got["save"] != "" || got["appendonly"] != "yes" || got["maxmemory"] != "0" || got["loglevel"] != "warning" {
		t.Errorf("CONFIG GET after the sets: save %q appendonly %q maxmemory %q loglevel %q", got["save"], got["appendonly"], got["maxmemory"], got["loglevel"])
	}
}
