// Package config loads the connector's config.json, applies environment overrides and
// refuses bad values at start with a message that names the key and what is allowed.
//
// The file must be a regular file of at most MaxFileBytes holding exactly one JSON object
// and nothing after it; keys are matched ignoring case, and a key written twice (in any
// case) is refused rather than one copy silently winning. Every problem is an *Error, one
// line that never holds a secret: URLs are shown through Redact.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/shard"
)

// DefaultPaths are searched, in order, when no --config flag is given.
var DefaultPaths = []string{"/vance/config/config.json", "./config.json"}

// Defaults of the optional keys.
const (
	DefaultEndpoint    = "business.aliyuncs.com"
	DefaultPullHour    = 2
	DefaultPullZone    = "Asia/Shanghai"
	DefaultConcurrency = 16
	DefaultCatchupDays = 31
	DefaultSettleDays  = 3
	// MaxDaysBack is how far back the API serves bills (18 months), in days: the most
	// catchup_days may be, and the oldest day a command-line date may name.
	MaxDaysBack = 540

	// DefaultListen is listen: the ops listener on every interface, port 9090.
	DefaultListen = ":9090"

	// DefaultAPIQPS is api_qps: the BSS OpenAPI's documented 10 requests per second per account.
	DefaultAPIQPS = 10.0

	// DefaultRetractMaxFraction is retract_max_fraction: a read that would retract more
	// than a fifth of a bill's day is read once more first.
	DefaultRetractMaxFraction = 0.2
	// DefaultMonthCloseDay is month_close_day: a month's bill is final from 12:00 UTC+8 on
	// the 3rd of the next month.
	DefaultMonthCloseDay = 3
	// DefaultReconcileTolerance is reconcile_tolerance, in the bill's currency.
	DefaultReconcileTolerance = "0.01"
	// DefaultMemoryEvents is memory_events: the events in memory of every account together
	// (budget.DefaultEvents).
	DefaultMemoryEvents = 3_000
	// DefaultMemoryBytes is memory_bytes: the bytes of their data (budget.DefaultBytes).
	DefaultMemoryBytes = 8 << 20

	minMonthCloseDay = 3  // month_close_day: not before the bill is final
	maxMonthCloseDay = 28 // month_close_day: a day every month has

	maxConcurrency = 256 // send_concurrency
	maxAPIQPS      = 100 // api_qps
	maxSettleDays  = 31  // settle_days

	minMemoryEvents = 300     // memory_events: a page
	maxMemoryEvents = 1 << 24 // memory_events
	minMemoryBytes  = 1 << 20 // memory_bytes
	maxMemoryBytes  = 1 << 36 // memory_bytes
)

// DefaultStatePath is where the state file lives unless state_path says otherwise: the
// user's state directory ($XDG_STATE_HOME, else ~/.local/state). The image sets
// STATE_PATH=/var/lib/alicloud-billing-source/state.db, a volume.
func DefaultStatePath(lookup func(string) (string, bool)) string {
	if d, ok := lookup("XDG_STATE_HOME"); ok && d != "" {
		return filepath.Join(d, "alicloud-billing-source", "state.db")
	}
	home, ok := lookup("HOME")
	if !ok || home == "" {
		home = "."
	}
	return filepath.Join(home, ".local", "state", "alicloud-billing-source", "state.db")
}

// Config is the validated configuration of one connector process.
type Config struct {
	Target             *url.URL       // v_target (kafka://: the brokers joined by commas as its host)
	Protocol           Protocol       // v_target's scheme: HTTP, NATS or Kafka
	NATS               NATSConfig     // nats, with a nats:// or tls:// v_target
	Kafka              KafkaConfig    // kafka, with a kafka:// v_target
	Endpoint           Endpoint       // endpoint
	PullHour           int            // pull_hour, 0..23
	PullZone           *time.Location // pull_zone
	Structured         bool           // send_mode == "structured"
	Concurrency        int            // send_concurrency
	StatePath          string         // state_path
	CatchupDays        int            // catchup_days
	SettleDays         int            // settle_days
	RetractMaxFraction float64        // retract_max_fraction, 0..1
	Bills              []bill.Kind    // bills, in bill.Kinds order
	APIQPS             float64        // api_qps
	MonthCloseDay      int            // month_close_day, 3..28
	ReconcileTolerance bill.Amount    // reconcile_tolerance, a decimal of 0 or more
	MemoryEvents       int            // memory_events
	MemoryBytes        int            // memory_bytes
	Listen             string         // listen: the ops listener's host:port, "" for none
	Accounts           []Account      // accounts, or the one account of the top-level credentials (held only here)
	Shard              shard.Spec     // shard (or --shard): the accounts this process runs are shard K of N
	Source             string         // the file the values came from ("" when none)
	Warnings           []string       // unknown keys and other non-fatal findings

	multi bool // accounts was set
}

// Endpoint is where the BSS OpenAPI is reached.
type Endpoint struct {
	Scheme string // "https" unless a full http:// URL was configured
	Host   string // host[:port]
}

func (e Endpoint) String() string { return e.Scheme + "://" + e.Host }

// Secret is a string that never prints itself.
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return "[redacted]" }
func (Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte("[redacted]")) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }

// Reveal returns the secret itself, for the one place that signs requests with it.
func (s Secret) Reveal() string { return string(s) }

// Error is a configuration problem; the process exits with status 2.
type Error struct {
	Key     string // the offending key, "" for file-level problems
	Problem string

	unset bool // a required key that nothing set (see noFile)
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "config: " + e.Problem
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Problem)
}

// NeedsConfigFix is true: only a change of the configuration fixes it (exit status 2).
func (e *Error) NeedsConfigFix() bool { return true }

// Source says where to read from: an explicit path (from --config) and the environment.
type Source struct {
	Path   string                          // "" searches DefaultPaths
	Lookup func(key string) (string, bool) // environment; os.LookupEnv when nil
	Shard  string                          // --shard, over the file and the environment; "" none
}

// Load reads, overrides and validates the configuration.
func Load(src Source) (*Config, error) {
	lookup := src.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	raw, path, err := readFile(src.Path)
	if err != nil {
		return nil, err
	}
	cfg, err := build(raw, path, lookup)
	if e, ok := err.(*Error); ok && e.unset && path == "" {
		return nil, noFile(e)
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.resolveShard(src.Shard, lookup); err != nil {
		return nil, err
	}
	return cfg, nil
}

// noFile is a required key unset when no config file was found: the environment alone may
// configure the connector, but more likely the file is not where it was looked for. The
// line names the paths tried (a relative one as the directory it meant) and --config.
func noFile(unset *Error) *Error {
	tried := make([]string, len(DefaultPaths))
	for i, p := range DefaultPaths {
		tried[i] = p
		if abs, err := filepath.Abs(p); err == nil && abs != p {
			tried[i] += " (" + abs + ")"
		}
	}
	return &Error{Problem: fmt.Sprintf("no config file: there is none at %s; name one with --config PATH, or set %s and the other keys in the environment",
		strings.Join(tried, " or "), strings.ToUpper(unset.Key))}
}

// FromValues validates a configuration given as keys and values, what a config.json would
// hold (strings, numbers, bools, lists and maps of them), through the same checks as Load
// but without a file or the environment: for the tools and tests that need a *Config.
func FromValues(values map[string]any) (*Config, error) {
	raw := map[string]json.RawMessage{}
	first := map[string]string{} // as decodeObject: a key once, in any case
	for _, k := range sortedNames(values) {
		if prev, dup := first[strings.ToLower(k)]; dup {
			return nil, duplicateKey(prev, k, "the values")
		}
		first[strings.ToLower(k)] = k
		v := values[k]
		if s, ok := v.(Secret); ok {
			v = s.Reveal() // a Secret writes itself as "[redacted]"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &Error{Key: k, Problem: "cannot be written as JSON"}
		}
		raw[k] = b
	}
	none := func(string) (string, bool) { return "", false }
	cfg, err := build(raw, "", none)
	if err != nil {
		return nil, err
	}
	if err := cfg.resolveShard("", none); err != nil { // "ordinal/N": no pod here, refused
		return nil, err
	}
	return cfg, nil
}

// build validates the keys of the file (raw, read from path, "" for none) with the
// environment's over them.
func build(raw map[string]json.RawMessage, path string, lookup func(string) (string, bool)) (*Config, error) {
	cfg := &Config{Source: path}
	f, err := cfg.sortKeys(raw)
	if err != nil {
		return nil, err
	}
	f.top.environment(lookup)
	if err := apply(cfg, f.top, "", func(k Key) func(*Config, value) error { return k.top }); err != nil {
		return nil, err
	}
	if err := cfg.applyTargetObjects(f.objects); err != nil {
		return nil, err
	}
	if err := cfg.buildAccounts(f.top, f.entries); err != nil {
		return nil, err
	}
	cfg.multi = f.entries != nil
	if cfg.StatePath == "" {
		cfg.StatePath = DefaultStatePath(lookup)
	} else if !filepath.IsAbs(cfg.StatePath) && path != "" {
		// A relative state_path is relative to the config file, wherever the process runs.
		cfg.StatePath = filepath.Join(filepath.Dir(path), cfg.StatePath)
	}
	if err := cfg.accountStatePaths(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// texts are the keys of one place of the configuration (the top level, an entry of
// accounts, an object) as text, by their names there.
type texts map[string]string

// get is the key name of the place where ("", "accounts[2].", "nats.") as its parser reads it.
func (t texts) get(where, name string) value {
	s, ok := t[name]
	return value{key: where + name, text: s, set: ok}
}

// environment sets the keys of the top level from the environment: a key's own variable
// wins over the file, its Fallback counts only when neither sets the key. An empty
// variable counts as unset, but for the keys where "" means something (emptyEnv).
func (t texts) environment(lookup func(string) (string, bool)) {
	get := func(env string, empty bool) (string, bool) {
		if env == "" {
			return "", false
		}
		v, ok := lookup(env)
		return v, ok && (v != "" || empty)
	}
	for _, k := range Keys {
		if v, ok := get(k.Env(), k.emptyEnv); ok {
			t[k.Name] = v
		}
		if _, set := t[k.Name]; !set && k.Fallback != "" {
			if v, ok := get(k.Fallback, false); ok {
				t[k.Name] = v
			}
		}
	}
}

// apply runs the parser that pick chooses of every key that has one on the place v, whose
// keys are named where+name in messages, in Keys order: the first problem stops it.
func apply[T any](into *T, v texts, where string, pick func(Key) func(*T, value) error) error {
	for _, k := range Keys {
		if parse := pick(k); parse != nil {
			if err := parse(into, v.get(where, k.member())); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileKeys are the keys of the file, by how they are read.
type fileKeys struct {
	top     texts                      // the scalars of the top level, by their names in Keys
	entries []texts                    // the entries of accounts; nil when it is not set
	objects map[string]json.RawMessage // "nats", "kafka"
}

// sortKeys sorts the keys of the file; an unknown one is a warning.
func (c *Config) sortKeys(raw map[string]json.RawMessage) (fileKeys, error) {
	f := fileKeys{top: texts{}, objects: map[string]json.RawMessage{}}
	for _, k := range sortedNames(raw) {
		key, ok := knownKey(k)
		if !ok {
			c.Warnings = append(c.Warnings, fmt.Sprintf("unknown key %q in %s is ignored (known keys: %s)", k, c.Source, keyList()))
			continue
		}
		null := string(bytes.TrimSpace(raw[k])) == "null"
		switch name := key.head(); {
		case name == accountsKey && !null:
			entries, err := parseAccounts(raw[k])
			if err != nil {
				return f, err
			}
			f.entries = entries
		case key.Name != name: // a member of an object
			if !null {
				f.objects[name] = raw[k]
			}
		case name != accountsKey:
			s, err := scalar(name, raw[k], key.list)
			if err != nil {
				return f, err
			}
			f.top[name] = s
		}
	}
	return f, nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// knownKey is the first key of Keys that a top-level key as written in the file names,
// ignoring case: the key itself, or the first member of the object or list it is ("nats"
// gives "nats.stream").
func knownKey(k string) (Key, bool) {
	for _, kk := range Keys {
		if sameKey(kk.head(), k) {
			return kk, true
		}
	}
	return Key{}, false
}

// keyList names the top-level keys, for the warning about an unknown one.
func keyList() string {
	var n []string
	for _, k := range Keys {
		if !contains(n, k.head()) {
			n = append(n, k.head())
		}
	}
	return strings.Join(n, ", ")
}

// applyTargetObjects reads the "nats" and "kafka" objects: the one of v_target's protocol;
// the other is refused, so that a v_target left at another scheme is not a silent mistake.
func (c *Config) applyTargetObjects(objects map[string]json.RawMessage) error {
	for name, p := range map[string]Protocol{"nats": NATS, "kafka": Kafka} {
		if _, set := objects[name]; set && c.Protocol != p {
			return &Error{Key: name, Problem: fmt.Sprintf("is set but v_target %q is not a %s URL; remove it or change v_target", c.TargetRedacted(), name)}
		}
	}
	switch c.Protocol {
	case NATS:
		return c.applyNATS(objects["nats"])
	case Kafka:
		return c.applyKafka(objects["kafka"])
	}
	return nil
}

// scalar turns a JSON string, number or bool into text; other shapes are refused, but for
// a list key (bills), whose array of strings becomes their comma-separated text.
func scalar(key string, m json.RawMessage, list bool) (string, error) {
	var v interface{}
	dec := json.NewDecoder(bytes.NewReader(m))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", &Error{Key: key, Problem: "not valid JSON"}
	}
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t), nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	case nil:
		return "", nil
	case []interface{}:
		if !list {
			break
		}
		parts := make([]string, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok || strings.Contains(s, ",") {
				return "", &Error{Key: key, Problem: "must be an array of bill names (strings without commas)"}
			}
			parts[i] = strings.TrimSpace(s)
		}
		if len(parts) == 0 {
			return "", &Error{Key: key, Problem: `is an empty list; name at least one bill: "account", "instance", "focus" or several`}
		}
		return strings.Join(parts, ","), nil
	}
	return "", &Error{Key: key, Problem: "must be a string or a number, not an object or array"}
}

// parseBills reads bills: comma-separated names, each once.
func parseBills(s string) ([]bill.Kind, error) {
	if strings.TrimSpace(s) == "" {
		return []bill.Kind{bill.Account}, nil
	}
	want := map[bill.Kind]bool{}
	for _, p := range strings.Split(s, ",") {
		k, err := bill.ParseKind(strings.TrimSpace(p))
		if err != nil {
			return nil, &Error{Key: "bills", Problem: err.Error()}
		}
		if want[k] {
			return nil, &Error{Key: "bills", Problem: fmt.Sprintf("%q is listed twice", k)}
		}
		want[k] = true
	}
	var out []bill.Kind
	for _, k := range bill.Kinds {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}
