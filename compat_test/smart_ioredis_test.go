package compat_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSmartIORedis runs testdata/ioredis_cluster.js (ioredis 6's Cluster
// client, installed into compat_test/node_modules by .ci/run) against three
// nodes: a SET and GET in every slot, then a load of SET/GET during which
// this test kills a node when the script prints KILL. The script checks that
// its calls recover and that no acknowledged write is lost.
func TestSmartIORedis(t *testing.T) {
	node := requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("node_modules", "ioredis")); err != nil {
		missing(t, "ioredis is not installed (npm ci --prefix compat_test)")
	}
	r := startSmartRing(t, 3, smartOptions{})
	var ports []string
	for _, i := range r.Live() {
		ports = append(ports, strconv.Itoa(r.Node(i).Port))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "ioredis_cluster.js"), strings.Join(ports, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const victim = 1
	var out strings.Builder
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if line == "KILL" && !killed {
			r.Kill(victim)
			killed = true
			io.WriteString(stdin, "killed\n")
			t.Logf("node %d killed with SIGKILL", victim)
		}
	}
	err = cmd.Wait()
	t.Logf("ioredis_cluster.js output:\n%s", out.String())
	if s := stderr.String(); s != "" {
		t.Logf("stderr:\n%s", s)
	}
	if err != nil {
		t.Fatalf("node ioredis_cluster.js: %v", err)
	}
	if !killed {
		t.Error("the script never asked for the kill")
	}
	if !strings.Contains(out.String(), "ioredis cluster ok") {
		t.Error("the script did not finish its checks")
	}
}
