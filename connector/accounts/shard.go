package accounts

import (
	"fmt"
	"sort"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/shard"
)

// OtherShardError is an --account that names an account of another shard: this process
// does not run it (its owner does, with the account's state).
type OtherShardError struct {
	Name  string
	Owner shard.Spec // the shard that runs the account
	Shard shard.Spec // this process's
}

func (e *OtherShardError) Error() string {
	return fmt.Sprintf("--account %q is an account of shard %s, not of this process's shard %s; run it there, or with --shard %s",
		e.Name, e.Owner, e.Shard, e.Owner)
}

// NeedsConfigFix is true: the command line or shard must change (exit status 2).
func (e *OtherShardError) NeedsConfigFix() bool { return true }

// OwnerOf is the shard of the configuration's N that runs account a: by its caller, so that
// the accounts read with one payer's credentials share a shard (and a pace).
func OwnerOf(cfg *config.Config, a config.Account) shard.Spec {
	n := max(cfg.Shard.N, 1)
	return shard.Spec{K: shard.Owner(billing.Caller(a.Credentials), n), N: n}
}

// Select is the accounts this process runs, in the configuration's order: those of its
// shard (every account without sharding), and of them only those --account names, when it
// names any. An --account that names no account, or one of another shard, is an error.
func Select(cfg *config.Config, only Only) ([]config.Account, error) {
	want := map[string]bool{}
	for _, n := range only {
		a, ok := cfg.Account(n)
		if !ok {
			known := make([]string, 0, len(cfg.Accounts))
			for _, a := range cfg.Accounts {
				known = append(known, a.Name)
			}
			sort.Strings(known)
			return nil, &UnknownError{Name: n, Known: known}
		}
		if !cfg.Shard.Owns(billing.Caller(a.Credentials)) {
			return nil, &OtherShardError{Name: n, Owner: OwnerOf(cfg, a), Shard: cfg.Shard}
		}
		want[n] = true
	}
	var out []config.Account
	for _, a := range cfg.Accounts {
		if cfg.Shard.Owns(billing.Caller(a.Credentials)) && (len(want) == 0 || want[a.Name]) {
			out = append(out, a)
		}
	}
	return out, nil
}

// ShardLine says what this process runs of the accounts, "" without sharding: "shard 1/3:
// 12 of 30 accounts".
func ShardLine(cfg *config.Config) string {
	if !cfg.Shard.Sharded() {
		return ""
	}
	mine := 0
	for _, a := range cfg.Accounts {
		if cfg.Shard.Owns(billing.Caller(a.Credentials)) {
			mine++
		}
	}
	return fmt.Sprintf("shard %s: %d of %d %s", cfg.Shard, mine, len(cfg.Accounts), plural(len(cfg.Accounts), "account"))
}

func plural(n int, what string) string {
	if n == 1 {
		return what
	}
	return what + "s"
}
