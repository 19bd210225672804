package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
)

// Key is one configuration key: its name, where it is read, its default, how its text is
// parsed and checked, and its help. Keys is the one table of them: Load reads the file and
// the environment through it, and --help and the README's configuration table are written
// from it.
type Key struct {
	// Name is the key as documented: "pull_hour"; a member of an object of the file
	// "nats.stream"; a key of each entry of a list "accounts[].name". Keys are matched
	// ignoring case.
	Name string
	// Also is another spelling the docs name ("secret_access_key"), "" none.
	Also string
	// Fallback is the environment variable read when neither the file nor the key's own
	// variable (Env) sets the key, "" none: the key's default, in effect.
	Fallback string
	// Default is the value when the key is not set, as the docs say it.
	Default string
	// Help says what the key means and what it allows: one paragraph in which `code` is
	// written between backquotes (--help drops them).
	Help string

	// Exactly one of these reads the key's text (value.text is "" when it is not set) and
	// sets its field; it says where the key is read. Only "accounts", the list, has none.
	top   func(*Config, value) error      // a key of the file's top level
	cred  func(*Credentials, value) error // a credential key: at the top level and in each entry of accounts
	acct  func(*Account, value) error     // a key of each entry of accounts
	nats  func(*NATSConfig, value) error  // a member of the "nats" object
	kafka func(*KafkaConfig, value) error // a member of the "kafka" object
	sasl  func(*KafkaSASL, value) error   // a member of the "sasl" object of "kafka"

	list     bool // a JSON array of strings is read as their comma-separated text
	identity bool // a credential key that names who signs (see entryCredentials)
	// emptyEnv: its variable set to "" sets the key to "" (listen: no listener). Other
	// keys' empty variables count as unset (docker run -e KEY= leaves the file's value).
	emptyEnv bool
}

// value is one key's text as read, for the function that parses it.
type value struct {
	key  string // the key as a message names it: "pull_hour", "accounts[2].role_arn", "nats.stream"
	text string // "" when the key is not set
	set  bool   // the file or the environment set the key, perhaps to ""
}

// Keys are every key the connector reads, in the order --help and the README list them.
var Keys = []Key{
	{Name: "v_target", Default: "(required)", top: setTarget,
		Help: "where events go, by scheme: `http(s)://host[:port][/path]`, a CloudEvents HTTP receiver (an absolute URL with a host and, if given, a port 1..65535; credentials in it, `https://user:pass@host/?token=...`, are sent to the receiver but never printed: logs and errors show `xxxxx:xxxxx@` and `token=redacted`); `nats://host:port/SUBJECT` or `tls://host:port/SUBJECT`, NATS JetStream (see `nats.*`); `kafka://host:port[,host:port...]/TOPIC`, Kafka (see `kafka.*`)"},
	{Name: "access_key_id", Fallback: "ALIBABA_CLOUD_ACCESS_KEY_ID", identity: true, cred: setAccessKeyID,
		Help: "AccessKey ID of a RAM user allowed to read bills (see Credentials). With no credential key at all, the SDK's default chain is used (environment, OIDC/RRSA, CLI profile, credentials file, ECS instance role)"},
	{Name: "secret_access_Key", Also: "secret_access_key", Fallback: "ALIBABA_CLOUD_ACCESS_KEY_SECRET", identity: true,
		cred: func(c *Credentials, v value) error { c.AccessKeySecret = Secret(v.text); return nil },
		Help: "AccessKey secret"},
	{Name: "security_token", Fallback: "ALIBABA_CLOUD_SECURITY_TOKEN", identity: true,
		cred: func(c *Credentials, v value) error { c.SecurityToken = Secret(v.text); return nil },
		Help: "STS token of a temporary AccessKey, for temporary credentials (not refreshed)"},
	{Name: "role_arn", cred: setRoleARN,
		Help: "RAM role to assume (STS `AssumeRole`, refreshed before it expires) with the AccessKey, `ecs_ram_role` or the default chain; with `oidc_*` the role of the OIDC token (see Credentials)"},
	{Name: "role_session_name", Default: DefaultRoleSessionName, cred: setRoleSessionName,
		Help: "session name of `role_arn` (2..64 of A-Z a-z 0-9 . @ _ -)"},
	{Name: "external_id",
		cred: func(c *Credentials, v value) error { c.ExternalID = Secret(v.text); return nil },
		Help: "external ID the role's trust policy asks for (`AssumeRole` only)"},
	{Name: "sts_endpoint", Default: "sts.<region>.aliyuncs.com", cred: setSTSEndpoint,
		Help: "STS host[:port] for `role_arn` and OIDC, over HTTPS; the region is the endpoint's"},
	{Name: "ecs_ram_role", identity: true, cred: setECSRAMRole,
		Help: "the RAM role name of this ECS instance, read from the metadata service in hardened mode (IMDSv2 only)"},
	{Name: "oidc_provider_arn", identity: true,
		cred: func(c *Credentials, v value) error { c.OIDCProviderARN = v.text; return nil },
		Help: "OIDC/RRSA: ARN of the RAM OIDC provider (with `oidc_token_file` and `role_arn`); on ACK the `ALIBABA_CLOUD_*` variables of RRSA are read by the default chain instead"},
	{Name: "oidc_token_file", identity: true,
		cred: func(c *Credentials, v value) error { c.OIDCTokenFile = v.text; return nil },
		Help: "OIDC/RRSA: absolute path of the OIDC token file"},
	{Name: "accounts",
		Help: "many accounts (see Many accounts): `[{\"name\": \"payer\"}, {\"name\": \"shop\", \"bill_owner_id\": \"1234567890123456\"}, {\"name\": \"lab\", \"role_arn\": \"acs:ram::...:role/billing\"}]`; each entry has `name`, `bill_owner_id` and any credential key above; an entry without credentials uses the top-level ones (the payer's)"},
	{Name: "accounts[].name",
		acct: func(a *Account, v value) error { a.Name = v.text; return nil },
		Help: "the account's name, in the events' subject and `account` extension, the logs and `--account`: 1 to 63 of a-z 0-9 - _, starting with a letter or digit; by default the `bill_owner_id`, else the account of the entry's `role_arn`, else `\"default\"` when it is the only entry"},
	{Name: "accounts[].bill_owner_id", acct: setBillOwnerID,
		Help: "a member account whose bill is read with the entry's credentials (the payer's): its account ID, a positive whole number"},
	{Name: "endpoint", Default: DefaultEndpoint,
		top:  func(c *Config, v value) (err error) { c.Endpoint, err = parseEndpoint(v.text); return err },
		Help: "BSS OpenAPI host[:port] (reached over https) or `http(s)://host[:port]` URL without path, query or user: a full URL (`http://127.0.0.1:9000`) sets scheme and port. International site: `business.ap-southeast-1.aliyuncs.com`"},
	{Name: "pull_hour", Default: strconv.Itoa(DefaultPullHour),
		top: func(c *Config, v value) (err error) {
			c.PullHour, err = intIn(v, DefaultPullHour, 0, 23, "hour")
			return err
		},
		Help: "hour of the day (0..23, a JSON number or a numeric string) at which yesterday's bill is pulled"},
	{Name: "pull_zone", Default: DefaultPullZone, top: setPullZone,
		Help: "IANA time zone of `pull_hour` and of \"yesterday\" (Alibaba Cloud's billing day is UTC+8)"},
	{Name: "send_mode", Default: "binary", top: setSendMode,
		Help: "CloudEvents content mode, for HTTP, NATS and Kafka alike: `binary` (attributes in headers) or `structured` (`application/cloudevents+json`)"},
	{Name: "send_concurrency", Default: strconv.Itoa(DefaultConcurrency),
		top: func(c *Config, v value) (err error) {
			c.Concurrency, err = intIn(v, DefaultConcurrency, 1, maxConcurrency, "number")
			return err
		},
		Help: "events in flight at once (1.." + strconv.Itoa(maxConcurrency) + ")"},
	{Name: "state_path", Default: "~/.local/state/alicloud-billing-source/state.db",
		top:  func(c *Config, v value) error { c.StatePath = v.text; return nil },
		Help: "the state file: what was delivered, per day (see Delivery guarantees); a relative path is relative to the config file. The image sets `/var/lib/alicloud-billing-source/state.db`, a volume"},
	{Name: "catchup_days", Default: strconv.Itoa(DefaultCatchupDays),
		top: func(c *Config, v value) (err error) {
			c.CatchupDays, err = intIn(v, DefaultCatchupDays, 0, MaxDaysBack, "number")
			return err
		},
		Help: "after downtime the daemon pulls the days it missed, at most this many back (0.." + strconv.Itoa(MaxDaysBack) + "; never beyond the API's 18 months)"},
	{Name: "settle_days", Default: strconv.Itoa(DefaultSettleDays),
		top: func(c *Config, v value) (err error) {
			c.SettleDays, err = intIn(v, DefaultSettleDays, 0, maxSettleDays, "number")
			return err
		},
		Help: "each daily run also re-pulls this many earlier days, for late corrections (0.." + strconv.Itoa(maxSettleDays) + ")"},
	{Name: "retract_max_fraction", Default: strconv.FormatFloat(DefaultRetractMaxFraction, 'f', -1, 64), top: setRetractMaxFraction,
		Help: "a row delivered before that a complete read of its day's bill no longer has is retracted (see Delivery guarantees); a read that would retract more than this fraction (0..1) of the day's rows, or all of them, is read once more first, and the rows are retracted only when the second read agrees (else the day fails and is read again later)"},
	{Name: "memory_events", Default: strconv.Itoa(DefaultMemoryEvents),
		top: func(c *Config, v value) (err error) {
			c.MemoryEvents, err = intIn(v, DefaultMemoryEvents, minMemoryEvents, maxMemoryEvents, "number")
			return err
		},
		Help: "the most events in memory, rows read and events queued or in flight, of every account, bill and day together (" + strconv.Itoa(minMemoryEvents) + ".." + strconv.Itoa(maxMemoryEvents) + "): a page is asked for once there is room for it, and the accounts that wait are served in turn; a slow receiver slows every account and does not grow memory"},
	{Name: "memory_bytes", Default: strconv.Itoa(DefaultMemoryBytes),
		top: func(c *Config, v value) (err error) {
			c.MemoryBytes, err = intIn(v, DefaultMemoryBytes, minMemoryBytes, maxMemoryBytes, "number of bytes")
			return err
		},
		Help: "the most bytes of event data in memory, of every account together (" + strconv.Itoa(minMemoryBytes) + ".." + strconv.Itoa(maxMemoryBytes) + "), as `memory_events` counts events"},
	{Name: "month_close_day", Default: strconv.Itoa(DefaultMonthCloseDay),
		top: func(c *Config, v value) (err error) {
			c.MonthCloseDay, err = intIn(v, DefaultMonthCloseDay, minMonthCloseDay, maxMonthCloseDay, "day of the month")
			return err
		},
		Help: "the daemon closes a month on this day of the next month (" + strconv.Itoa(minMonthCloseDay) + ".." + strconv.Itoa(maxMonthCloseDay) + "), at 12:00 Asia/Shanghai, or at its first run after that: it re-reads every day of the month (Alibaba's bill of a month is final from 12:00 UTC+8 on the 3rd of the next), sends what changed, and sends an `alicloud.billing.month_closed` event that reconciles the month with `QueryBillOverview`. `--close-month` refuses a month before then"},
	{Name: "reconcile_tolerance", Default: DefaultReconcileTolerance, top: setReconcileTolerance,
		Help: "the largest difference, in the bill's currency, between the sum of a product's daily rows and the month's overview that still counts as reconciled (a decimal number, 0 or more)"},
	{Name: "bills", Default: `["account"]`, list: true,
		top:  func(c *Config, v value) (err error) { c.Bills, err = parseBills(v.text); return err },
		Help: "which bills to deliver: `\"account\"` (`QueryAccountBill` grouped by product, type `alicloud.account_billing.daily`), `\"instance\"` (`DescribeInstanceBill` by billing item, type `alicloud.instance_billing.daily`) and `\"focus\"` (the instance bill's rows as FOCUS 1.2 rows, amortized, type `alicloud.focus_billing.daily`), any combination; a JSON array, or a comma-separated string (`BILLS=account,instance,focus`). Each bill of a day is delivered and recorded on its own; a day is done when every configured bill of it is. With `instance` and `focus` both, the instance bill is read once a day for both"},
	{Name: "listen", Default: DefaultListen, top: setListen, emptyEnv: true,
		Help: "`host:port` of the daemon's ops listener (`/healthz`, `/readyz`, `/metrics`, see Health and metrics); `\"\"` (or `LISTEN=`) turns it off. `--once`, `--from/--to` and `--dry-run` open none unless their command line asks (`--listen`). A port already taken stops the start with exit status 2"},
	{Name: "api_qps", Default: strconv.FormatFloat(DefaultAPIQPS, 'f', -1, 64), top: setAPIQPS,
		Help: "the most BSS API requests per second (0.1.." + strconv.Itoa(maxAPIQPS) + "), per account. The connector starts there (the API's documented 10 per second per account), halves its pace on every `Throttling*` answer and wins it back over about 20 answers"},

	{Name: "shard", Default: "0/1", top: setShard,
		Help: "this process's share of the accounts, `\"K/N\"` (0 <= K < N <= 1000): each account goes to exactly one of N processes by rendezvous hashing of its caller (the accounts read with one payer's credentials stay together, under one pace), and this process runs those of shard K; `\"0/1\"`: every account. `\"ordinal/N\"` takes K from a StatefulSet pod's ordinal: the `POD_INDEX` variable (the label `apps.kubernetes.io/pod-index`, through the downward API), else the number that ends `HOSTNAME` (`NAME-2`). `--shard K/N` wins over it. Changing N moves only the accounts whose owner changed. With N above 1, a process takes an account it has no state for over from the day after the newest day it delivered for its other accounts, and a shard that knows no account yet (the first start, a shard added) from the next pull (`--catch-up-from` backfills): it never reads again a day another process delivered, which would send its rows under new ids, unless it was given that account's state: `--import-state FILE` (the old owner's state file, repeatable) gives each account this process has sent nothing for yet FILE's state, so a moved account keeps its ids and revisions (see Shards)"},

	{Name: "nats.stream", Default: "(required for nats://)", nats: setStream,
		Help: "with a nats:// or tls:// `v_target`: the JetStream stream that captures its subject; events carry `Nats-Msg-Id` = event id, so the stream drops re-sends within its duplicate window"},
	{Name: "nats.create_stream", Default: "false",
		nats: func(n *NATSConfig, v value) (err error) { n.CreateStream, err = boolValue(v); return err },
		Help: "create the stream when it is missing (file storage, the subject, a duplicate window of `settle_days`+1 days); false: a missing stream stops the run (exit 2)"},
	{Name: "nats.creds_file",
		nats: func(n *NATSConfig, v value) error { n.CredsFile = v.text; return nil },
		Help: "a .creds file (user JWT and NKey seed); or `nats.nkey_file`, or `nats.user` and `nats.password`: at most one kind of credentials"},
	{Name: "nats.nkey_file",
		nats: func(n *NATSConfig, v value) error { n.NKeyFile = v.text; return nil },
		Help: "a file holding an NKey seed (SU...)"},
	{Name: "nats.user",
		nats: func(n *NATSConfig, v value) error { n.User = v.text; return nil },
		Help: "user name, with `nats.password`"},
	{Name: "nats.password",
		nats: func(n *NATSConfig, v value) error { n.Password = Secret(v.text); return nil },
		Help: "password of `nats.user`; never printed"},
	{Name: "nats.ca_file",
		nats: func(n *NATSConfig, v value) error { n.CAFile = v.text; return nil },
		Help: "PEM CAs that sign the server's certificate (implies TLS); tls:// asks for TLS with the system's CAs"},

	{Name: "kafka.sasl.mechanism", sasl: setMechanism,
		Help: "SASL to the brokers: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, in `\"sasl\": {\"mechanism\": ..., \"user\": ..., \"password\": ...}`; all three are required when `sasl` is set"},
	{Name: "kafka.sasl.user", sasl: setSASLUser,
		Help: "SASL user name"},
	{Name: "kafka.sasl.password", sasl: setSASLPassword,
		Help: "SASL password; never printed"},
	{Name: "kafka.tls", Default: "false",
		kafka: func(k *KafkaConfig, v value) (err error) { k.TLS, err = boolValue(v); return err },
		Help:  "TLS to the brokers (with the system's CAs, or `kafka.ca_file`)"},
	{Name: "kafka.ca_file", kafka: setKafkaCAFile,
		Help: "PEM CAs that sign the brokers' certificates (implies `kafka.tls`)"},
	{Name: "kafka.acks", Default: string(AcksAll), kafka: setAcks,
		Help: "`all`: a record is delivered when every in-sync replica has it (idempotent producer on); `leader`: when the partition leader has it (idempotent producer off)"},
}

// Env is the environment variable that sets the key over the file: its name in upper
// case; "" for the members of objects and lists, which are read from the file only.
func (k Key) Env() string {
	if k.top == nil && k.cred == nil {
		return ""
	}
	return strings.ToUpper(k.Name)
}

// Shown is the default as --help and the README show it: Default, or the Fallback
// variable ("$ALIBABA_CLOUD_ACCESS_KEY_ID") that stands in for it.
func (k Key) Shown() string {
	if k.Default == "" && k.Fallback != "" {
		return "$" + k.Fallback
	}
	return k.Default
}

// Doc is the help as --help and the README show it: Help, and the other spelling.
func (k Key) Doc() string {
	if k.Also != "" {
		return k.Help + " (also `" + k.Also + "`)"
	}
	return k.Help
}

// member is the key's name in its object or entry: "stream" for "nats.stream".
func (k Key) member() string { return k.Name[strings.LastIndexByte(k.Name, '.')+1:] }

// head is the top-level key that holds the key: "nats" for "nats.stream", "accounts" for
// "accounts[].name", the key itself for a top-level key.
func (k Key) head() string {
	name, _, _ := strings.Cut(k.Name, ".")
	return strings.TrimSuffix(name, "[]")
}

// sameKey reports that written names the key name: equal ignoring case, as the file's
// duplicate check compares (strings.ToLower, no Unicode folding: "ſ" is not "s").
func sameKey(name, written string) bool { return strings.ToLower(name) == strings.ToLower(written) }

// members are the names of the keys inside the object at prefix ("nats."), in Keys order:
// the first segment after the prefix, once ("sasl" for the "kafka.sasl.*" keys).
func members(prefix string) []string {
	var out []string
	for _, k := range Keys {
		if rest, ok := strings.CutPrefix(k.Name, prefix); ok {
			name, _, _ := strings.Cut(rest, ".")
			if !contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// intIn reads a whole number from lo to hi ("" is def); unit is what the number counts.
func intIn(v value, def, lo, hi int, unit string) (int, error) {
	if v.text == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v.text)
	if err != nil || n < lo || n > hi {
		return 0, &Error{Key: v.key, Problem: fmt.Sprintf("%q is not a whole %s from %d to %d", v.text, unit, lo, hi)}
	}
	return n, nil
}

func boolValue(v value) (bool, error) {
	switch strings.ToLower(v.text) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, &Error{Key: v.key, Problem: fmt.Sprintf("%q is not true or false", v.text)}
}

// setTarget reads v_target; its scheme chooses the protocol.
func setTarget(c *Config, v value) error {
	if v.text == "" {
		return &Error{Key: v.key, unset: true, Problem: "is required: the absolute http(s) URL of the CloudEvents receiver, e.g. \"http://localhost:8081\", or a nats:// or kafka:// URL (or set V_TARGET)"}
	}
	u, err := parseTarget(v.text)
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
	return nil
}

func setPullZone(c *Config, v value) error {
	zone := v.text
	if zone == "" {
		zone = DefaultPullZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not an IANA time zone name such as \"Asia/Shanghai\" or \"UTC\"", zone)}
	}
	c.PullZone = loc
	return nil
}

func setSendMode(c *Config, v value) error {
	switch strings.ToLower(v.text) {
	case "", "binary":
	case "structured":
		c.Structured = true
	default:
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not one of: binary, structured", v.text)}
	}
	return nil
}

// setListen reads listen: unset is the default, "" no listener.
func setListen(c *Config, v value) error {
	c.Listen = DefaultListen
	if !v.set {
		return nil
	}
	if l := v.text; l != "" {
		host, port, err := net.SplitHostPort(l)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 0 || n > 65535 || strings.ContainsAny(host, "/ ") {
			return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not host:port (\":9090\", \"127.0.0.1:9090\"), or \"\" for no listener", l)}
		}
	}
	c.Listen = v.text
	return nil
}

func setRetractMaxFraction(c *Config, v value) error {
	c.RetractMaxFraction = DefaultRetractMaxFraction
	if v.text == "" {
		return nil
	}
	f, err := strconv.ParseFloat(v.text, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not a number from 0 to 1 (a fraction of a day's rows)", v.text)}
	}
	c.RetractMaxFraction = f
	return nil
}

// setReconcileTolerance reads reconcile_tolerance: a decimal number, 0 or more, kept as
// its text (never a float64).
func setReconcileTolerance(c *Config, v value) error {
	c.ReconcileTolerance = DefaultReconcileTolerance
	if v.text == "" {
		return nil
	}
	a, err := bill.ParseAmount([]byte(v.text))
	if err != nil || strings.HasPrefix(string(a), "-") || strings.ContainsAny(v.text, "\"") {
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not a decimal number of 0 or more (\"0.01\")", v.text)}
	}
	c.ReconcileTolerance = a
	return nil
}

func setAPIQPS(c *Config, v value) error {
	c.APIQPS = DefaultAPIQPS
	if v.text == "" {
		return nil
	}
	f, err := strconv.ParseFloat(v.text, 64)
	if err != nil || math.IsNaN(f) || f < 0.1 || f > maxAPIQPS {
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not a number from 0.1 to %d (requests per second)", v.text, maxAPIQPS)}
	}
	c.APIQPS = f
	return nil
}
