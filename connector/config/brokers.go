package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Protocol is how events reach v_target; its scheme chooses it.
type Protocol string

// The protocols.
const (
	HTTP  Protocol = "http"  // http://, https://: a CloudEvents HTTP receiver
	NATS  Protocol = "nats"  // nats://, tls://: a NATS JetStream stream
	Kafka Protocol = "kafka" // kafka://: a Kafka topic
)

// NATSConfig is the "nats" object: the JetStream stream that v_target's subject is in,
// and how to authenticate. The subject is v_target's path.
type NATSConfig struct {
	Subject      string // from v_target: nats://host:4222/SUBJECT
	Stream       string // nats.stream
	CreateStream bool   // nats.create_stream: create the stream when it is missing
	CredsFile    string // nats.creds_file: a user JWT and its NKey seed (.creds)
	NKeyFile     string // nats.nkey_file: an NKey seed file
	User         string // nats.user
	Password     Secret // nats.password
	CAFile       string // nats.ca_file: PEM CAs that sign the server's certificate
	TLS          bool   // tls:// or ca_file: the connection must be TLS
}

// KafkaConfig is the "kafka" object; brokers and topic come from v_target.
type KafkaConfig struct {
	Brokers []string  // from v_target: kafka://b1:9092,b2:9092/TOPIC
	Topic   string    // from v_target
	SASL    KafkaSASL // kafka.sasl
	TLS     bool      // kafka.tls (implied by ca_file)
	CAFile  string    // kafka.ca_file
	Acks    KafkaAcks // kafka.acks
}

// KafkaSASL is kafka.sasl; an empty Mechanism means no SASL.
type KafkaSASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	User      string
	Password  Secret
}

// KafkaAcks is kafka.acks: which acknowledgement makes a record delivered.
type KafkaAcks string

// The values of kafka.acks.
const (
	AcksAll    KafkaAcks = "all"    // every in-sync replica (idempotent producer on)
	AcksLeader KafkaAcks = "leader" // the partition leader only (idempotent producer off)
)

// DuplicateWindow is how long a JetStream stream must remember message ids for the
// connector's re-sends to be dropped: settle_days re-pulls plus the day itself.
func (c *Config) DuplicateWindow() time.Duration {
	return time.Duration(c.SettleDays+1) * 24 * time.Hour
}

var (
	saslMechs = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

	// A stream name: no white space, '.', '*', '>', path separators or control characters.
	streamName = regexp.MustCompile(`^[^\s.*>/\\\x00-\x1f\x7f]{1,255}$`)
	// A Kafka topic name: Kafka's own rule.
	topicName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
)

const (
	natsAllowed  = `allowed: nats://host:port/SUBJECT or tls://host:port/SUBJECT, e.g. "nats://localhost:4222/billing.daily"`
	kafkaAllowed = `allowed: kafka://host:port[,host:port...]/TOPIC, e.g. "kafka://broker1:9092,broker2:9092/billing"`
)

// parseNATSTarget validates a nats:// or tls:// v_target and returns its subject.
func parseNATSTarget(s string, u *url.URL) (string, error) {
	bad := func(problem string) error {
		return &Error{Key: "v_target", Problem: fmt.Sprintf("%q %s; %s", RedactString(s), problem, natsAllowed)}
	}
	switch {
	case u.Opaque != "":
		return "", bad("is not an absolute URL")
	case u.User != nil:
		return "", bad("carries a user or password; put them in nats.user and nats.password (or nats.creds_file, nats.nkey_file)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", bad("has a query or fragment")
	}
	if problem := authorityProblem(u); problem != "" {
		return "", bad(problem)
	}
	subject := strings.TrimPrefix(u.Path, "/")
	if subject == "" {
		return "", bad("has no subject: the path is the subject events are published on")
	}
	if problem := subjectProblem(subject); problem != "" {
		return "", bad(problem)
	}
	return subject, nil
}

// subjectProblem checks a NATS subject to publish on: tokens separated by '.', none empty,
// no wild cards, no white space.
func subjectProblem(s string) string {
	if len(s) > 1024 {
		return "has a subject longer than 1024 characters"
	}
	for _, reserved := range []string{"$JS.", "$SYS.", "$KV.", "$O.", "_INBOX."} {
		if strings.HasPrefix(s, reserved) {
			return fmt.Sprintf("has subject %q, which NATS reserves (%s...)", s, reserved)
		}
	}
	for _, tok := range strings.Split(s, ".") {
		switch {
		case tok == "":
			return fmt.Sprintf("has subject %q with an empty token (two dots, or a dot at an end)", s)
		case tok == "*" || tok == ">":
			return fmt.Sprintf("has subject %q with a wild card; events are published on one subject", s)
		case strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == '*' || r == '>' }) >= 0:
			return fmt.Sprintf("has subject %q; a subject holds no white space, '/', '*' or '>'", s)
		}
	}
	return ""
}

// MaxBrokers bounds the seed brokers of a kafka:// v_target.
const MaxBrokers = 32

// parseKafkaTarget validates kafka://b1:9092,b2:9092/TOPIC. It is parsed by hand: a list of
// hosts is not a URL authority that net/url accepts.
func parseKafkaTarget(s string) (*url.URL, []string, string, error) {
	bad := func(problem string) error {
		return &Error{Key: "v_target", Problem: fmt.Sprintf("%q %s; %s", RedactString(s), problem, kafkaAllowed)}
	}
	rest := s[len("kafka://"):]
	hosts, topic, ok := strings.Cut(rest, "/")
	if strings.ContainsAny(rest, "?#") {
		return nil, nil, "", bad("has a query or fragment")
	}
	if strings.Contains(rest, "@") { // anywhere: a password may hold a '/' before its '@'
		return nil, nil, "", bad("carries a user or password; put them in kafka.sasl")
	}
	if hosts == "" {
		return nil, nil, "", bad("has no broker")
	}
	var brokers []string
	for _, b := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			return nil, nil, "", bad(fmt.Sprintf("has broker %q, not host:port", b))
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
			return nil, nil, "", bad(fmt.Sprintf("has broker %q with port %q, not a whole number from 1 to 65535", b, port))
		}
		if host == "" || (strings.Contains(host, ":") && net.ParseIP(host) == nil) || (!strings.Contains(host, ":") && !validHostName(host)) {
			return nil, nil, "", bad(fmt.Sprintf("has broker %q without a valid host", b))
		}
		hp := net.JoinHostPort(host, port)
		if contains(brokers, hp) {
			return nil, nil, "", bad(fmt.Sprintf("names broker %q twice", b))
		}
		if len(brokers) == MaxBrokers {
			return nil, nil, "", bad(fmt.Sprintf("names more than %d brokers; a few seed brokers are enough", MaxBrokers))
		}
		brokers = append(brokers, hp)
	}
	switch {
	case !ok || topic == "":
		return nil, nil, "", bad("has no topic: the path is the topic")
	case !topicName.MatchString(topic) || topic == "." || topic == "..":
		return nil, nil, "", bad(fmt.Sprintf("has topic %q; a topic name is 1 to 249 of a-z A-Z 0-9 . _ - (not \".\" or \"..\")", topic))
	}
	return &url.URL{Scheme: "kafka", Host: strings.Join(brokers, ","), Path: "/" + topic}, brokers, topic, nil
}

// object reads the object at where ("nats", "kafka.sasl") strictly: a JSON object, each key
// once, every key one of its members in Keys (ignoring case; unknown keys are refused, all
// named in one line). It returns the scalar members as text and the members that are
// objects themselves as JSON (null as absent), by their names in Keys.
func object(where string, raw json.RawMessage) (texts, map[string]json.RawMessage, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, nil, &Error{Key: where, Problem: "must be a JSON object"}
	}
	obj, err := decodeObject(where, raw)
	if err != nil {
		return nil, nil, err
	}
	known := members(where + ".")
	canon := map[string]string{} // as written -> as in Keys
	var unknown []string
	for k := range obj {
		for _, kk := range known {
			if sameKey(kk, k) {
				canon[k] = kk
			}
		}
		if canon[k] == "" {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, &Error{Key: where, Problem: fmt.Sprintf("unknown key %s (%s has: %s)", strings.Join(unknown, ", "), where, strings.Join(known, ", "))}
	}
	v, nested := texts{}, map[string]json.RawMessage{}
	for _, k := range sortedNames(canon) {
		switch name := canon[k]; {
		case len(members(where+"."+name+".")) > 0: // an object itself
			if string(bytes.TrimSpace(obj[k])) != "null" {
				nested[name] = obj[k]
			}
		default:
			if v[name], err = scalar(where+"."+name, obj[k], false); err != nil {
				return nil, nil, err
			}
		}
	}
	return v, nested, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readableFile checks that a file the connector reads (credentials, CAs) is a regular
// file it can open; the message never shows its content.
func readableFile(key, p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return &Error{Key: key, Problem: fmt.Sprintf("cannot read %s: %v", p, unwrapPath(err))}
	}
	if !fi.Mode().IsRegular() {
		return &Error{Key: key, Problem: fmt.Sprintf("%s is not a regular file", p)}
	}
	f, err := os.Open(p)
	if err != nil {
		return &Error{Key: key, Problem: fmt.Sprintf("cannot read %s: %v", p, unwrapPath(err))}
	}
	return f.Close()
}

// applyNATS reads the "nats" object (nil when absent) for a nats:// or tls:// target.
func (c *Config) applyNATS(raw json.RawMessage) error {
	if raw == nil {
		return &Error{Key: "nats.stream", Problem: `is required with a nats:// or tls:// v_target: the JetStream stream of the subject, e.g. "nats": {"stream": "BILLING", "create_stream": true}`}
	}
	v, _, err := object("nats", raw)
	if err != nil {
		return err
	}
	n := &c.NATS
	if err := apply(n, v, "nats.", func(k Key) func(*NATSConfig, value) error { return k.nats }); err != nil {
		return err
	}
	switch {
	case n.Password != "" && n.User == "":
		return &Error{Key: "nats.user", Problem: "is required with nats.password"}
	case n.User != "" && n.Password == "":
		return &Error{Key: "nats.password", Problem: "is required with nats.user"}
	}
	kinds := 0
	for _, set := range []bool{n.CredsFile != "", n.NKeyFile != "", n.User != ""} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return &Error{Key: "nats", Problem: "set one kind of credentials: creds_file, nkey_file, or user and password"}
	}
	for _, f := range [][2]string{{"nats.creds_file", n.CredsFile}, {"nats.nkey_file", n.NKeyFile}, {"nats.ca_file", n.CAFile}} {
		if f[1] != "" {
			if err := readableFile(f[0], f[1]); err != nil {
				return err
			}
		}
	}
	n.TLS = c.Target.Scheme == "tls" || n.CAFile != ""
	return nil
}

func setStream(n *NATSConfig, v value) error {
	n.Stream = v.text
	switch {
	case v.text == "":
		return &Error{Key: v.key, Problem: "is required with a nats:// or tls:// v_target: the JetStream stream of the subject"}
	case !streamName.MatchString(v.text):
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not a stream name (1 to 255 characters, no white space, '.', '*', '>', '/' or '\\')", v.text)}
	}
	return nil
}

// applyKafka reads the "kafka" object (nil when absent) for a kafka:// target.
func (c *Config) applyKafka(raw json.RawMessage) error {
	v, nested := texts{}, map[string]json.RawMessage{}
	if raw != nil {
		var err error
		if v, nested, err = object("kafka", raw); err != nil {
			return err
		}
	}
	k := &c.Kafka
	if err := apply(k, v, "kafka.", func(k Key) func(*KafkaConfig, value) error { return k.kafka }); err != nil {
		return err
	}
	sasl, ok := nested["sasl"]
	if !ok {
		return nil
	}
	sv, _, err := object("kafka.sasl", sasl)
	if err != nil {
		return err
	}
	return apply(&k.SASL, sv, "kafka.sasl.", func(k Key) func(*KafkaSASL, value) error { return k.sasl })
}

func setKafkaCAFile(k *KafkaConfig, v value) error {
	if k.CAFile = v.text; v.text != "" {
		if err := readableFile(v.key, v.text); err != nil {
			return err
		}
		k.TLS = true
	}
	return nil
}

func setAcks(k *KafkaConfig, v value) error {
	switch strings.ToLower(v.text) {
	case "", "all", "-1":
		k.Acks = AcksAll
	case "leader", "1":
		k.Acks = AcksLeader
	default:
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not one of: all (every in-sync replica, the default), leader; a record counts as delivered only when the broker acknowledges it", v.text)}
	}
	return nil
}

func setMechanism(s *KafkaSASL, v value) error {
	for _, m := range saslMechs {
		if strings.EqualFold(m, v.text) {
			s.Mechanism = m
			return nil
		}
	}
	return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not one of: %s", v.text, strings.Join(saslMechs, ", "))}
}

func setSASLUser(s *KafkaSASL, v value) error {
	if s.User = v.text; v.text == "" {
		return &Error{Key: v.key, Problem: "is required with kafka.sasl"}
	}
	return nil
}

func setSASLPassword(s *KafkaSASL, v value) error {
	if s.Password = Secret(v.text); v.text == "" {
		return &Error{Key: v.key, Problem: "is required with kafka.sasl"}
	}
	return nil
}
