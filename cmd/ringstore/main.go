// Command ringstore runs one ringstore node: a Redis-protocol server backed
// by pebble. Flags (or --config FILE in redis.conf syntax) configure it;
// SIGINT or SIGTERM shut it down cleanly.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ringstore/ringstore/node"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := node.ParseArgs(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ringstore: %v\n", err)
		return 2
	}
	n, err := node.Start(cfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ringstore: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "ringstore: %v received, shutting down\n", s)
	case err := <-n.Done():
		if err != nil {
			fmt.Fprintf(os.Stderr, "ringstore: %v\n", err)
			n.Close()
			return 1
		}
	}
	if err := n.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "ringstore: shutdown: %v\n", err)
		return 1
	}
	return 0
}
