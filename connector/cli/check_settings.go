package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// printSettings writes the effective settings of --check: the configuration as loaded
// (file, environment, defaults), with secrets masked. URLs go through config.Redact,
// secrets through config.Secret (which prints "[redacted]"), AccessKey IDs keep their
// first 4 characters (maskID).
func printSettings(w io.Writer, cfg *config.Config, accts []config.Account) {
	from := cfg.Source
	if from == "" {
		from = "no config file"
	}
	fmt.Fprintf(w, "Settings (from %s, the environment and the defaults; secrets masked):\n", textsafe.Line(from, maxLine))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, textsafe.Line(v, maxLine)) }
	row("v_target", cfg.TargetRedacted())
	mode := "binary"
	if cfg.Structured {
		mode = "structured"
	}
	row("send_mode", mode)
	row("send_concurrency", fmt.Sprint(cfg.Concurrency))
	for _, kv := range brokerSettings(cfg) {
		row(kv[0], kv[1])
	}
	row("endpoint", cfg.Endpoint.String())
	row("bills", strings.Join(billNames(cfg.Bills), ", "))
	row("api_qps", fmt.Sprint(cfg.APIQPS))
	row("pull_hour", fmt.Sprintf("%d in %s", cfg.PullHour, cfg.PullZone))
	row("catchup_days", fmt.Sprint(cfg.CatchupDays))
	row("settle_days", fmt.Sprint(cfg.SettleDays))
	if line := accounts.ShardLine(cfg); line != "" {
		row("shard", strings.TrimPrefix(line, "shard ")+" (the accounts below)")
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "none"
	}
	row("listen", listen+" (the daemon's ops listener; --check opens none)")
	for _, a := range accts {
		row("account "+a.Name, credentialText(a)+"; state in "+cfg.StatePath)
	}
	_ = tw.Flush()
}

// brokerSettings are the keys of the nats or kafka object in effect, as key and value.
func brokerSettings(cfg *config.Config) [][2]string {
	switch cfg.Protocol {
	case config.NATS:
		n := cfg.NATS
		auth := "none"
		switch {
		case n.CredsFile != "":
			auth = "nats.creds_file " + n.CredsFile
		case n.NKeyFile != "":
			auth = "nats.nkey_file " + n.NKeyFile
		case n.User != "":
			auth = fmt.Sprintf("nats.user %s, nats.password %s", n.User, secretText(n.Password))
		}
		return [][2]string{{"nats.stream", n.Stream}, {"nats.create_stream", fmt.Sprint(n.CreateStream)},
			{"nats credentials", auth}, {"nats.ca_file", orNone(n.CAFile)}}
	case config.Kafka:
		k := cfg.Kafka
		sasl := "none"
		if k.SASL.Mechanism != "" {
			sasl = fmt.Sprintf("%s as %s, password %s", k.SASL.Mechanism, k.SASL.User, secretText(k.SASL.Password))
		}
		return [][2]string{{"kafka.acks", string(k.Acks)}, {"kafka.tls", fmt.Sprint(k.TLS)},
			{"kafka.ca_file", orNone(k.CAFile)}, {"kafka.sasl", sasl}}
	}
	return nil
}

// credentialText names how account a signs, with the keys that say it: identifiers
// masked or shown (role ARNs, file names), secrets as "[redacted]".
func credentialText(a config.Account) string {
	c := a.Credentials
	var parts []string
	add := func(key, v string) {
		if v != "" {
			parts = append(parts, key+" "+v)
		}
	}
	add("oidc_provider_arn", c.OIDCProviderARN)
	add("oidc_token_file", c.OIDCTokenFile)
	add("role_arn", c.RoleARN)
	add("ecs_ram_role", c.ECSRAMRole)
	add("access_key_id", maskID(c.AccessKeyID))
	if c.AccessKeyID != "" {
		add("secret_access_Key", secretText(c.AccessKeySecret))
	}
	if c.SecurityToken != "" {
		add("security_token", secretText(c.SecurityToken))
	}
	if c.ExternalID != "" {
		add("external_id", secretText(c.ExternalID))
	}
	if c.Kind() == config.CredDefaultChain {
		parts = append(parts, "the SDK's default chain (ALIBABA_CLOUD_* variables, OIDC, CLI profile, credentials file, ECS instance role)")
	}
	if a.BillOwnerID != 0 {
		parts = append(parts, fmt.Sprintf("bill_owner_id %d", a.BillOwnerID))
	}
	return string(c.Kind()) + ": " + strings.Join(parts, ", ")
}

// maskID shows an AccessKey ID as the connector's errors do: its first 4 characters (the
// kind of key, "LTAI" or "STS."), the rest as '*'; an ID of 8 characters or fewer whole.
func maskID(id string) string {
	const kept, most = 4, 32
	if id == "" {
		return ""
	}
	if len(id) <= 2*kept {
		return strings.Repeat("*", len(id))
	}
	return id[:kept] + strings.Repeat("*", min(len(id)-kept, most))
}

// secretText is "[redacted]" for a secret that is set (config.Secret's own text), else "(not set)".
func secretText(s config.Secret) string {
	if s == "" {
		return "(not set)"
	}
	return fmt.Sprint(s)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
