package node

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// ParseArgs builds a Config from the embedded defaults, then the config file
// named by --config (if any), then the other flags, so a flag always wins
// over the file. It does not validate: call Validate.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("ringstore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "read settings from this file (redis.conf syntax: `keyword value` per line)")
	// Flags are registered against a scratch Config and replayed onto cfg
	// after the file, so that file values never override flags.
	type setting struct {
		p     param
		value string
	}
	var set []setting
	for _, p := range params() {
		name := p.name
		switch name {
		case "dir":
			name = "data-dir"
		case "appendfsync":
			name = "fsync"
		}
		fs.Func(name, fmt.Sprintf("%s (default %q)", p.usage, p.get(&cfg)), func(v string) error {
			// Check the value now for a clear flag error; apply later.
			var scratch Config
			if err := p.set(&scratch, v); err != nil {
				return err
			}
			set = append(set, setting{p, v})
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		f, err := os.Open(*configFile)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if err := parseConfigFile(&cfg, f, *configFile); err != nil {
			return cfg, err
		}
	}
	for _, s := range set {
		if err := s.p.set(&cfg, s.value); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// parseConfigFile applies a redis.conf-style file to cfg: one `keyword
// value` per line, `#` comments, values optionally in double quotes. An
// unknown keyword or a bad value stops with the file name and line number.
func parseConfigFile(cfg *Config, r io.Reader, name string) error {
	byName := map[string]param{}
	for _, p := range params() {
		byName[p.name] = p
	}
	sc := bufio.NewScanner(r)
	line := 0
	var errs []error
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		keyword, value, _ := strings.Cut(text, " ")
		keyword = strings.ToLower(keyword)
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		p, ok := byName[keyword]
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: unknown keyword %q", name, line, keyword))
			continue
		}
		if err := p.set(cfg, value); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", name, line, keyword, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return errors.Join(errs...)
}
