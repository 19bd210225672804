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
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
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

	maxConcurrency = 256 // send_concurrency
	maxAPIQPS      = 100 // api_qps
	maxSettleDays  = 31  // settle_days
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
	Target          *url.URL       // v_target (kafka://: the brokers joined by commas as its host)
	Protocol        Protocol       // v_target's scheme: HTTP, NATS or Kafka
	NATS            NATSConfig     // nats, with a nats:// or tls:// v_target
	Kafka           KafkaConfig    // kafka, with a kafka:// v_target
	AccessKeyID     string         // access_key_id
	AccessKeySecret Secret         // secret_access_Key
	SecurityToken   Secret         // security_token (STS), optional
	Endpoint        Endpoint       // endpoint
	PullHour        int            // pull_hour, 0..23
	PullZone        *time.Location // pull_zone
	Structured      bool           // send_mode == "structured"
	Concurrency     int            // send_concurrency
	StatePath       string         // state_path
	CatchupDays     int            // catchup_days
	SettleDays      int            // settle_days
	Bills           []bill.Kind    // bills, in bill.Kinds order
	APIQPS          float64        // api_qps
	Listen          string         // listen: the ops listener's host:port, "" for none
	Accounts        []Account      // accounts, or the one account of the top-level credentials
	Source          string         // the file the values came from ("" when none)
	Warnings        []string       // unknown keys and other non-fatal findings

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
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "config: " + e.Problem
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Problem)
}

// NeedsConfigFix is true: only a change of the configuration fixes it (exit status 2).
func (e *Error) NeedsConfigFix() bool { return true }

// Keys documents every key the connector reads, for --help and the README.
var Keys = []struct{ Name, Default, Help string }{
	{"v_target", "(required)", "where events go, by scheme: http(s)://host[:port][/path] (a CloudEvents HTTP receiver, port 1..65535; a user, password or query values in it are never printed), nats://host:port/SUBJECT or tls://host:port/SUBJECT (NATS JetStream, see nats.*), kafka://host:port[,host:port...]/TOPIC (Kafka, see kafka.*)"},
	{"access_key_id", "", "AccessKey ID of a RAM user allowed to read bills; or ALIBABA_CLOUD_ACCESS_KEY_ID. With no credential key at all, the SDK's default chain is used (environment, OIDC/RRSA, CLI profile, credentials file, ECS instance role)"},
	{"secret_access_Key", "", "AccessKey secret (also secret_access_key); or ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
	{"security_token", "", "STS token of a temporary AccessKey (not refreshed); or ALIBABA_CLOUD_SECURITY_TOKEN"},
	{"role_arn", "", "RAM role to assume (STS AssumeRole, refreshed before it expires) with the AccessKey, ecs_ram_role or the default chain; with oidc_* the role of the OIDC token"},
	{"role_session_name", DefaultRoleSessionName, "session name of role_arn (2..64 of A-Z a-z 0-9 . @ _ -)"},
	{"external_id", "", "external ID the role's trust policy asks for (AssumeRole only)"},
	{"sts_endpoint", "sts.<region>.aliyuncs.com", "STS host[:port] for role_arn and OIDC, over HTTPS; the region is the endpoint's"},
	{"ecs_ram_role", "", "RAM role of this ECS instance, read from the metadata service in hardened mode (IMDSv2 only)"},
	{"oidc_provider_arn", "", "OIDC/RRSA: ARN of the RAM OIDC provider (with oidc_token_file and role_arn); on ACK the ALIBABA_CLOUD_* variables of RRSA are read by the default chain instead"},
	{"oidc_token_file", "", "OIDC/RRSA: absolute path of the OIDC token file"},
	{"accounts", "", `many accounts: [{"name": "payer"}, {"name": "shop", "bill_owner_id": "1234567890123456"}, {"name": "lab", "role_arn": "acs:ram::...:role/billing"}]; each entry has name, bill_owner_id and any credential key above; an entry without credentials uses the top-level ones (the payer's)`},
	{"endpoint", DefaultEndpoint, "BSS OpenAPI host[:port] (https) or http(s)://host[:port] URL without path, query or user; international: business.ap-southeast-1.aliyuncs.com"},
	{"pull_hour", strconv.Itoa(DefaultPullHour), "hour of the day (0..23) at which yesterday's bill is pulled"},
	{"pull_zone", DefaultPullZone, "IANA time zone of pull_hour and of \"yesterday\""},
	{"send_mode", "binary", "CloudEvents content mode, for HTTP, NATS and Kafka alike: binary (attributes in headers) or structured (application/cloudevents+json)"},
	{"send_concurrency", strconv.Itoa(DefaultConcurrency), "events in flight at once (1.." + strconv.Itoa(maxConcurrency) + ")"},
	{"state_path", "~/.local/state/alicloud-billing-source/state.db", "the state file: what was delivered, per day (the image: /var/lib/alicloud-billing-source/state.db)"},
	{"catchup_days", strconv.Itoa(DefaultCatchupDays), "after downtime the daemon pulls the missed days, at most this many back (0.." + strconv.Itoa(MaxDaysBack) + ", the API's 18 months)"},
	{"settle_days", strconv.Itoa(DefaultSettleDays), "each daily run re-pulls this many earlier days for late corrections (0.." + strconv.Itoa(maxSettleDays) + ")"},
	{"bills", `["account"]`, `which bills to deliver: "account" (QueryAccountBill by product, type alicloud.account_billing.daily) and/or "instance" (DescribeInstanceBill by billing item, type alicloud.instance_billing.daily); a JSON array, or a comma-separated string (BILLS=account,instance)`},
	{"listen", DefaultListen, `host:port of the ops listener (/healthz, /readyz, /metrics); "" turns it off`},
	{"api_qps", "10", "most BSS API requests per second (0.1.." + strconv.Itoa(maxAPIQPS) + "); the connector starts there, halves on throttling and recovers"},
	{"nats.stream", "(required for nats://)", "the JetStream stream that captures v_target's subject; events carry Nats-Msg-Id = event id, so the stream drops re-sends within its duplicate window"},
	{"nats.create_stream", "false", "create the stream when it is missing (file storage, the subject, a duplicate window of settle_days+1 days); false: a missing stream stops the run (exit 2)"},
	{"nats.creds_file", "", "a .creds file (user JWT and NKey seed); or nats.nkey_file, or nats.user and nats.password"},
	{"nats.nkey_file", "", "a file holding an NKey seed (SU...)"},
	{"nats.user", "", "user name, with nats.password"},
	{"nats.password", "", "password of nats.user; never printed"},
	{"nats.ca_file", "", "PEM CAs that sign the server's certificate (implies TLS); tls:// asks for TLS with the system's CAs"},
	{"kafka.sasl", "", `SASL: {"mechanism": "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512", "user": ..., "password": ...}; the password is never printed`},
	{"kafka.tls", "false", "TLS to the brokers (with the system's CAs, or kafka.ca_file)"},
	{"kafka.ca_file", "", "PEM CAs that sign the brokers' certificates (implies kafka.tls)"},
	{"kafka.acks", "all", "all: a record is delivered when every in-sync replica has it (idempotent producer on); leader: when the partition leader has it (idempotent producer off)"},
}

// Source says where to read from: an explicit path (from --config) and the environment.
type Source struct {
	Path   string                          // "" searches DefaultPaths
	Lookup func(key string) (string, bool) // environment; os.LookupEnv when nil
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
	cfg := &Config{Source: path}
	values := map[string]string{}           // canonical key -> value as text
	var entries []map[string]string         // accounts
	objects := map[string]json.RawMessage{} // nats, kafka
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		canon, ok := knownKey(k)
		if !ok {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("unknown key %q in %s is ignored (known keys: %s)", k, path, keyList()))
			continue
		}
		if canon == "nats" || canon == "kafka" {
			if string(bytes.TrimSpace(raw[k])) != "null" {
				objects[canon] = raw[k]
			}
			continue
		}
		if canon == "accounts" {
			if string(bytes.TrimSpace(raw[k])) == "null" {
				continue
			}
			if entries, err = parseAccounts(raw[k]); err != nil {
				return nil, err
			}
			continue
		}
		v, err := scalar(canon, raw[k])
		if err != nil {
			return nil, err
		}
		values[canon] = v
	}
	// Environment: the key in upper case, then the standard Alibaba Cloud variables.
	for _, k := range Keys {
		if k.Name == "accounts" || strings.Contains(k.Name, ".") {
			continue // a list, an object's member: in the file only
		}
		if v, ok := lookup(strings.ToUpper(k.Name)); ok && v != "" {
			values[k.Name] = v
		}
	}
	for env, key := range map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     "access_key_id",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret_access_Key",
		"ALIBABA_CLOUD_SECURITY_TOKEN":    "security_token",
	} {
		if v, ok := lookup(env); ok && v != "" {
			if _, set := values[key]; !set {
				values[key] = v
			}
		}
	}
	if err := cfg.apply(values); err != nil {
		return nil, err
	}
	if err := cfg.applyTargetObjects(objects); err != nil {
		return nil, err
	}
	if err := cfg.buildAccounts(values, entries); err != nil {
		return nil, err
	}
	cfg.multi = entries != nil
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

// knownKey maps a key as written in the file to its name in Keys, ignoring case. The
// members of an object ("nats.stream") make the object's key ("nats") known.
func knownKey(k string) (string, bool) {
	for _, kk := range Keys {
		name, _, _ := strings.Cut(kk.Name, ".")
		if strings.EqualFold(name, k) {
			return name, true
		}
	}
	return "", false
}

func keyList() string {
	var n []string
	for _, k := range Keys {
		name, _, _ := strings.Cut(k.Name, ".")
		if len(n) == 0 || n[len(n)-1] != name {
			n = append(n, name)
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

// scalar turns a JSON string, number or bool into text; other shapes are refused.
func scalar(key string, m json.RawMessage) (string, error) {
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
		if key != "bills" {
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
			return "", &Error{Key: key, Problem: `is an empty list; name at least one bill: ["account"], ["instance"] or both`}
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

func (c *Config) apply(v map[string]string) error {
	// v_target
	t := v["v_target"]
	if t == "" {
		return &Error{Key: "v_target", Problem: "is required: the absolute http(s) URL of the CloudEvents receiver, e.g. \"http://localhost:8081\", or a nats:// or kafka:// URL (or set V_TARGET)"}
	}
	u, err := parseTarget(t)
	if err != nil {
		return err
	}
	c.Target = u
	switch u.Scheme {
	case "nats", "tls":
		c.Protocol = NATS
		c.NATS.Subject = strings.TrimPrefix(u.Path, "/")
	case "kafka":
		c.Protocol = Kafka
		c.Kafka.Brokers = strings.Split(u.Host, ",")
		c.Kafka.Topic = strings.TrimPrefix(u.Path, "/")
	default:
		c.Protocol = HTTP
	}

	// credentials (checked with the accounts)
	c.AccessKeyID = v["access_key_id"]
	c.AccessKeySecret = Secret(v["secret_access_Key"])
	c.SecurityToken = Secret(v["security_token"])

	// endpoint
	ep, err := parseEndpoint(v["endpoint"])
	if err != nil {
		return err
	}
	c.Endpoint = ep

	// pull_hour
	c.PullHour = DefaultPullHour
	if h, ok := v["pull_hour"]; ok && h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > 23 {
			return &Error{Key: "pull_hour", Problem: fmt.Sprintf("%q is not a whole hour from 0 to 23", h)}
		}
		c.PullHour = n
	}

	// pull_zone
	zone := v["pull_zone"]
	if zone == "" {
		zone = DefaultPullZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return &Error{Key: "pull_zone", Problem: fmt.Sprintf("%q is not an IANA time zone name such as \"Asia/Shanghai\" or \"UTC\"", zone)}
	}
	c.PullZone = loc

	// send_mode
	switch m := strings.ToLower(v["send_mode"]); m {
	case "", "binary":
	case "structured":
		c.Structured = true
	default:
		return &Error{Key: "send_mode", Problem: fmt.Sprintf("%q is not one of: binary, structured", v["send_mode"])}
	}

	// send_concurrency
	c.Concurrency = DefaultConcurrency
	if s, ok := v["send_concurrency"]; ok && s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxConcurrency {
			return &Error{Key: "send_concurrency", Problem: fmt.Sprintf("%q is not a whole number from 1 to %d", s, maxConcurrency)}
		}
		c.Concurrency = n
	}

	c.StatePath = v["state_path"]
	var err2 error
	if c.CatchupDays, err2 = intIn(v, "catchup_days", DefaultCatchupDays, 0, MaxDaysBack); err2 != nil {
		return err2
	}
	if c.SettleDays, err2 = intIn(v, "settle_days", DefaultSettleDays, 0, maxSettleDays); err2 != nil {
		return err2
	}
	if c.Bills, err2 = parseBills(v["bills"]); err2 != nil {
		return err2
	}
	c.Listen = DefaultListen
	if l, ok := v["listen"]; ok {
		if l != "" {
			host, port, err := net.SplitHostPort(l)
			n, perr := strconv.Atoi(port)
			if err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, "/ ") {
				return &Error{Key: "listen", Problem: fmt.Sprintf("%q is not host:port (\":9090\", \"127.0.0.1:9090\"), or \"\" for no listener", l)}
			}
		}
		c.Listen = l
	}
	c.APIQPS = DefaultAPIQPS
	if q, ok := v["api_qps"]; ok && q != "" {
		f, err := strconv.ParseFloat(q, 64)
		if err != nil || math.IsNaN(f) || f < 0.1 || f > maxAPIQPS {
			return &Error{Key: "api_qps", Problem: fmt.Sprintf("%q is not a number from 0.1 to %d (requests per second)", q, maxAPIQPS)}
		}
		c.APIQPS = f
	}
	return nil
}

func intIn(v map[string]string, key string, def, lo, hi int) (int, error) {
	s, ok := v[key]
	if !ok || s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &Error{Key: key, Problem: fmt.Sprintf("%q is not a whole number from %d to %d", s, lo, hi)}
	}
	return n, nil
}
