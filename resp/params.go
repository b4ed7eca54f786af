package resp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Param is one CONFIG parameter.
type Param struct {
	// Name is the redis.conf name, lower case, as CONFIG GET prints it.
	Name string
	// Value is the current value as CONFIG GET prints it.
	Value string
	// Set validates a new value, applies it, and returns the value to
	// store (normalised: "1gb" becomes "1073741824"). An error's text is
	// what Redis prints after the dash of "CONFIG SET failed (possibly
	// related to argument 'name') - <text>"; the helpers IntParam,
	// MemoryParam, BoolParam and EnumParam give Redis's texts. nil makes
	// the parameter immutable ("can't set immutable config").
	Set func(value string) (string, error)
}

// Params is a registry of CONFIG parameters. It is safe for concurrent
// use. Set functions and watchers run under the registry's lock, one
// CONFIG SET at a time, and must not call back into the registry.
type Params struct {
	mu     sync.Mutex
	list   []*param          // guarded by mu: in registration order
	byName map[string]*param // guarded by mu: by lower-case name
}

type param struct {
	Param
	watchers []func(value string)
}

// NewParams returns an empty registry.
func NewParams() *Params { return &Params{byName: map[string]*param{}} }

// Register adds parameters. A name registered twice, or empty, is an error
// and nothing is added.
func (p *Params) Register(ps ...Param) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	for _, q := range ps {
		name := strings.ToLower(q.Name)
		if name == "" || p.byName[name] != nil || seen[name] {
			return fmt.Errorf("resp: config parameter %q registered twice or empty", q.Name)
		}
		seen[name] = true
	}
	for _, q := range ps {
		q.Name = strings.ToLower(q.Name)
		e := &param{Param: q}
		p.list = append(p.list, e)
		p.byName[q.Name] = e
	}
	return nil
}

// Get returns a parameter's current value.
func (p *Params) Get(name string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.byName[strings.ToLower(name)]
	if e == nil {
		return "", false
	}
	return e.Value, true
}

// Has reports whether name is registered.
func (p *Params) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// Set changes one parameter as CONFIG SET does and returns the same errors
// (without the "ERR " prefix).
func (p *Params) Set(name, value string) error {
	return p.setMany([][2]string{{name, value}})
}

// Watch calls fn with the new value after every successful change of the
// named parameter (which must be registered).
func (p *Params) Watch(name string, fn func(value string)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.byName[strings.ToLower(name)]
	if e == nil {
		return fmt.Errorf("resp: watching unknown config parameter %q", name)
	}
	e.watchers = append(e.watchers, fn)
	return nil
}

// match returns the name/value pairs CONFIG GET answers for patterns: a
// pattern without glob characters is looked up by name (case-insensitive)
// and reported under the name as given; a glob matches names
// case-insensitively. Each parameter appears once.
func (p *Params) match(patterns [][]byte) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	seen := map[*param]bool{}
	for _, pat := range patterns {
		if !strings.ContainsAny(string(pat), "[*?") {
			e := p.byName[strings.ToLower(string(pat))]
			if e != nil && !seen[e] {
				seen[e] = true
				out = append(out, string(pat), e.Value)
			}
			continue
		}
		g := compileGlob([]byte(strings.ToLower(string(pat))))
		for _, e := range p.list {
			if !seen[e] && g.match([]byte(e.Name)) {
				seen[e] = true
				out = append(out, e.Name, e.Value)
			}
		}
	}
	return out
}

// errUnknownParam carries the name for Redis's unknown-option text.
type errUnknownParam string

func (e errUnknownParam) Error() string {
	return "Unknown option or number of arguments for CONFIG SET - '" + string(e) + "'"
}

// setMany applies name/value pairs as Redis 7's CONFIG SET does: every
// name must exist (the first unknown one is reported), none may be
// immutable or given twice, then each is set in order; if one fails, those
// already set get their old values back.
func (p *Params) setMany(pairs [][2]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kv := range pairs {
		if p.byName[strings.ToLower(kv[0])] == nil {
			return errUnknownParam(kv[0])
		}
	}
	targets := make([]*param, len(pairs))
	for i, kv := range pairs {
		e := p.byName[strings.ToLower(kv[0])]
		if e.Set == nil {
			return setFailed(kv[0], "can't set immutable config")
		}
		for _, t := range targets[:i] {
			if t == e {
				return setFailed(kv[0], "duplicate parameter")
			}
		}
		targets[i] = e
	}
	old := make([]string, len(targets))
	for i, e := range targets {
		old[i] = e.Value
		v, err := e.Set(pairs[i][1])
		if err != nil {
			for j := i - 1; j >= 0; j-- {
				if _, rerr := targets[j].Set(old[j]); rerr == nil {
					targets[j].Value = old[j]
					notify(targets[j])
				}
			}
			return setFailed(e.Name, err.Error())
		}
		e.Value = v
		notify(e)
	}
	return nil
}

func notify(e *param) {
	for _, fn := range e.watchers {
		fn(e.Value)
	}
}

func setFailed(name, why string) error {
	return errors.New("CONFIG SET failed (possibly related to argument '" + name + "') - " + why)
}

// IntParam validates an integer in [lo, hi] as Redis's numeric configs do.
func IntParam(lo, hi int64) func(string) (string, error) {
	return func(v string) (string, error) {
		n, ok := parseRedisInt([]byte(v))
		if !ok {
			return "", errors.New("argument couldn't be parsed into an integer")
		}
		if n < lo || n > hi {
			return "", fmt.Errorf("argument must be between %d and %d inclusive", lo, hi)
		}
		return strconv.FormatInt(n, 10), nil
	}
}

// MemoryParam validates a memory amount ("512mb", "1gb", "100") in
// [lo, hi] as Redis's memory configs do, and normalises it to bytes.
func MemoryParam(lo, hi int64) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := ParseMemory(v)
		if err != nil {
			return "", errors.New("argument must be a memory value")
		}
		if n < lo || n > hi {
			return "", fmt.Errorf("argument must be between %d and %d inclusive", lo, hi)
		}
		return strconv.FormatInt(n, 10), nil
	}
}

// BoolParam validates yes/no (any case) and normalises to lower case.
func BoolParam() func(string) (string, error) {
	return func(v string) (string, error) {
		switch strings.ToLower(v) {
		case "yes":
			return "yes", nil
		case "no":
			return "no", nil
		}
		return "", errors.New("argument must be 'yes' or 'no'")
	}
}

// EnumParam validates one of values (any case) and normalises to lower case.
func EnumParam(values ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		for _, ok := range values {
			if strings.EqualFold(v, ok) {
				return ok, nil
			}
		}
		return "", errors.New("argument(s) must be one of the following: " + strings.Join(values, ", "))
	}
}

// ParseMemory parses a memory amount as redis.conf does: digits followed by
// nothing or b (bytes), k (1000), kb (1024), m, mb, g or gb, in any case.
func ParseMemory(s string) (int64, error) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	var mul uint64
	switch strings.ToLower(s[i:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	default:
		return 0, fmt.Errorf("invalid memory value %q", s)
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid memory value %q", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, fmt.Errorf("memory value %q out of range", s)
	}
	return int64(n * mul), nil
}

// bindParams registers the parameters the server applies (when the
// registry lacks them) and watches them. With no registry from the Config
// it also registers databases, save and appendonly (read-only), which
// redis-benchmark asks for.
func (srv *Server) bindParams(defaults bool) error {
	cfg := srv.cfg
	own := []struct {
		name  string
		value string
		set   func(string) (string, error)
		apply func(string) error
		same  func() bool // the applied value is the Config's
	}{
		{"requirepass", cfg.RequirePass, func(v string) (string, error) { return v, nil },
			func(v string) error { srv.requirePass.Store(&v); return nil },
			func() bool { return srv.password() == cfg.RequirePass }},
		{"maxclients", strconv.Itoa(cfg.MaxClients), IntParam(1, math.MaxInt32),
			func(v string) error { return applyInt(v, &srv.maxClients, 1) },
			func() bool { return srv.maxClients.Load() == int64(cfg.MaxClients) }},
		{"timeout", strconv.FormatInt(int64(cfg.IdleTimeout/time.Second), 10), IntParam(0, math.MaxInt32),
			func(v string) error {
				err := applyInt(v, &srv.idle, int64(time.Second))
				srv.resetIdleDeadlines()
				return err
			},
			func() bool { return srv.idle.Load() == int64(cfg.IdleTimeout/time.Second*time.Second) }},
		{"proto-max-bulk-len", strconv.FormatInt(cfg.ProtoMaxBulkLen, 10), MemoryParam(minProtoMaxBulkLen, math.MaxInt64),
			func(v string) error { return applyMemory(v, &srv.maxBulk) },
			func() bool { return srv.maxBulk.Load() == cfg.ProtoMaxBulkLen }},
	}
	var errs []error
	for _, o := range own {
		if cur, ok := srv.params.Get(o.name); ok {
			// Registered by the caller: it must agree with the Config.
			if err := o.apply(cur); err != nil || !o.same() {
				errs = append(errs, fmt.Errorf("resp: config parameter %s is %q, which does not match the server Config", o.name, cur))
				continue
			}
		} else if err := srv.params.Register(Param{Name: o.name, Value: o.value, Set: o.set}); err != nil {
			errs = append(errs, err)
			continue
		}
		apply, name := o.apply, o.name
		srv.params.Watch(name, func(v string) {
			if err := apply(v); err != nil {
				srv.log.Warn("config parameter not applied", "name", name, "value", v, "err", err)
			}
		})
	}
	// The Config's values are what the server starts with (the timeout's
	// sub-second part included).
	pass := cfg.RequirePass
	srv.requirePass.Store(&pass)
	srv.maxClients.Store(int64(cfg.MaxClients))
	srv.idle.Store(int64(cfg.IdleTimeout))
	srv.maxBulk.Store(cfg.ProtoMaxBulkLen)
	if !srv.params.Has("databases") {
		errs = append(errs, srv.params.Register(Param{Name: "databases", Value: strconv.Itoa(srv.coord.Databases())}))
	}
	if defaults {
		errs = append(errs, srv.params.Register(Param{Name: "save", Value: ""}, Param{Name: "appendonly", Value: "no"}))
	}
	return errors.Join(errs...)
}

func applyInt(v string, dst interface{ Store(int64) }, unit int64) error {
	n, ok := parseRedisInt([]byte(v))
	if !ok || n < 0 || n > math.MaxInt64/unit {
		return fmt.Errorf("not an integer: %q", v)
	}
	dst.Store(n * unit)
	return nil
}

func applyMemory(v string, dst interface{ Store(int64) }) error {
	n, err := ParseMemory(v)
	if err != nil {
		return err
	}
	if n < minProtoMaxBulkLen {
		return fmt.Errorf("below %d", minProtoMaxBulkLen)
	}
	dst.Store(n)
	return nil
}
