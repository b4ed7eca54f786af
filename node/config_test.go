package node

import (
	"io"
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
