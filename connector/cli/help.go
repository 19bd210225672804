package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// printHelp writes --help: the usage, the config keys (from config.Keys), the limits (from
// the constants that enforce them) and what the exit statuses and signals mean.
func printHelp(w io.Writer) {
	// The numbers of the text come from the constants that enforce them.
	text := strings.NewReplacer("{max_days_back}", strconv.Itoa(config.MaxDaysBack),
		"{max_config}", size(config.MaxFileBytes))
	_, _ = text.WriteString(w, helpUsage)
	printKeys(w)
	printLimits(w)
	_, _ = text.WriteString(w, helpAfterLimits)
}

// printKeys writes the Config keys block: a line for each key of config.Keys, its name,
// default and help (without the backquotes of its `code`).
func printKeys(w io.Writer) {
	fmt.Fprint(w, helpKeys)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, k := range config.Keys {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.Name, k.Shown(), strings.ReplaceAll(k.Doc(), "`", ""))
	}
	_ = tw.Flush()
}

// helpKeys heads the Config keys block.
const helpKeys = `Config keys (config.json; keys are case-insensitive; each top-level key can be overridden
by the environment variable of its name in upper case, e.g. V_TARGET, PULL_HOUR; the keys
of nats, kafka and accounts are read from the file only; $VARIABLE: the default is the
variable's value):
`

// helpUsage is --help up to the Config keys.
const helpUsage = `connector - the AliCloud Billing Source: pulls the daily Alibaba Cloud account bill
(BSS OpenAPI QueryAccountBill, grouped by product, every page) and delivers each row as a
CloudEvent (source cloud.alicloud.billing, type alicloud.account_billing.daily) to v_target.

Usage:
  connector [--config PATH]                        daemon: every day at pull_hour in pull_zone,
                                                   pull yesterday's bill; stops on SIGINT,
                                                   SIGTERM or SIGHUP
  connector --once [--date YYYY-MM-DD]             pull one day (default: yesterday in pull_zone)
  connector --from YYYY-MM-DD --to YYYY-MM-DD      pull every day of the range, oldest first
  connector --close-month YYYY-MM                  close a month now: re-read its days, reconcile
                                                   them with QueryBillOverview, send month_closed
  connector --check [--config PATH]                check the config, the credentials and
                                                   v_target before a first run; send nothing

The daemon remembers what it delivered (state_path), catches up on the days it missed
while down (catchup_days), re-pulls the settle_days before each day for late corrections
(a changed row is sent again with a new id, the same subject and a higher revision: the
seconds since 2020 of the pull that found the new content, so it stays higher after a
lost state file; not consecutive), and retries a failed day on a backoff until it is
delivered. It closes each month once its bill is final (month_close_day; the days of a
closed month are not pulled again by the daemon). --once and --from/--to send every row asked for, even when the state says it
was delivered (unchanged rows with the same ids and revisions), and update it.

Flags:
  --config PATH   config.json to read (default: /vance/config/config.json, then ./config.json)
  --once          pull one day and exit
  --date DAY      the day for --once
  --from, --to    the first and last day of a range
                  (--date, --from, --to, --catch-up-from: not after today in pull_zone and
                  at most {max_days_back} days back, the 18 months that the API keeps)
  --dry-run       with --once or --from/--to: fetch and print counts (new, changed, pending
                  delivery, already delivered; the log adds would_send, the events a run
                  would send); with --close-month: re-read and reconcile the month and
                  print it; send nothing, write no state
  --close-month MONTH   re-read every day of MONTH (YYYY-MM) for each configured bill, send
                  what changed, read the month's QueryBillOverview and send one
                  alicloud.billing.month_closed event (subject ACCOUNT/MONTH); print a line
                  per account with its totals and differences. Refused (exit 2) before the
                  month's bill is final (12:00 UTC+8 on month_close_day of the next month);
                  exit 1 when a difference is above reconcile_tolerance
  --catch-up-from DAY   daemon: also pull the days from DAY on that the state has not delivered
  --check         validate the config and print it (secrets masked), make one signed
                  read-only API call per account and bill (yesterday, one row) and probe
                  v_target (HTTP: OPTIONS; NATS: the stream; Kafka: the topic), each
                  within seconds; print OK or FAIL with the fix, one line each; exit 0 when
                  all is good, 2 when something needs fixing. No ops listener, no state
                  file, no event
  --account NAME  run only this account of accounts (repeatable, or NAME,NAME); default all
  --shard K/N     run only the accounts of shard K of N (over the key shard; "ordinal/N"
                  takes K from a StatefulSet pod's ordinal); an --account of another shard
                  is refused
  --import-state FILE   at start, give each account of this process that its state file has
                  sent nothing of yet the state it has in FILE, another process's state file
                  (repeatable): after a shard layout change, a moved account keeps its ids
                  and revisions. Read as a dry run reads (a copy, no lock); a dry run
                  imports into its own copy only
  --listen ADDR   the ops listener (/healthz, /readyz, /metrics) on host:port ADDR, "" none;
                  without it only the daemon opens one, on the config's listen
  --verbose       debug logs, including fx's start-up events
  --version       print the version
  --help          this text

`

// helpAfterLimits is --help after the Limits block.
const helpAfterLimits = `
Credentials, per account (the first that applies): oidc_provider_arn + oidc_token_file +
role_arn (OIDC/RRSA); role_arn (STS AssumeRole on top of the AccessKey, ecs_ram_role or the
default chain); ecs_ram_role (ECS instance role, IMDSv2); access_key_id + secret_access_Key
(+ security_token). With none of them, the SDK's default chain: ALIBABA_CLOUD_ACCESS_KEY_ID/
_SECRET/_SECURITY_TOKEN, ALIBABA_CLOUD_ROLE_ARN + _OIDC_PROVIDER_ARN + _OIDC_TOKEN_FILE (RRSA on
ACK), the CLI profile, ~/.alibabacloud/credentials, the ECS instance role. Temporary
credentials are renewed before they expire. Secrets and tokens are never printed.

Many accounts: "accounts": [{"name": "payer"}, {"name": "shop", "bill_owner_id": "123..."}];
an entry without credentials uses the top-level ones. Each account has its own state file
(state.NAME.db beside state_path), pacing, retries and catch-up; its events carry it in the
subject (NAME/...) and the "account" extension.

Signals:
  SIGINT, SIGTERM and SIGHUP stop the connector cleanly, in every mode: the day in flight
  is abandoned (logged as "day abandoned at shutdown"; what was acknowledged is recorded),
  a one-off run exits 1 unless every row was delivered, the daemon exits 0. SIGHUP does
  not reload the configuration: restart the connector to change it. Under nohup (SIGHUP
  ignored) SIGHUP stays ignored.

Exit status:
  0  every row delivered (daemon: stopped by SIGINT, SIGTERM or SIGHUP)
  1  some rows were not delivered, or the API kept failing (with accounts: also one
     account refused while others delivered); --close-month: the month does not reconcile
  2  what only a change of configuration fixes: bad configuration or usage, credentials
     the API refused, a TLS certificate that is not trusted, an endpoint or receiver that
     redirects (301/302/303), a problem with the state file

config.json must be a regular file of at most {max_config} holding one JSON object, each key
once (two spellings of a key that differ only in case are refused).

Logs are JSON lines on stderr; --from/--to also print one progress line per day on stdout
(with accounts, one per account per day, --once too).
`
