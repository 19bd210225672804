// Package accounts makes, for each configured Alibaba Cloud account, the parts that work
// for it alone: its BSS client (its credentials, its pacing under its own requests per
// second, its retries), its state (its bucket in the process's one state file), its job
// and its scheduler (its catch-up). What they share is the sender (one v_target, one
// send_concurrency), the state file, the clock and the metrics, whose series carry the
// account's name. One account refused or down never stops another.
package accounts

import (
	"fmt"
	"log/slog"
	"strings"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/monthclose"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/scheduler"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Unit is one account's parts.
type Unit struct {
	Account   config.Account
	Client    *billing.Client
	Store     *state.Store
	Job       *job.Job
	Closer    *monthclose.Closer
	Scheduler *scheduler.Scheduler
	Log       *slog.Logger // the process's logger with the account's name
}

// Only names the accounts to run (--account); empty: all of them.
type Only []string

// Params are the inputs of New.
type Params struct {
	fx.In
	Config    *config.Config
	Clock     clock.Clock
	Logger    *slog.Logger
	Billing   *billing.Factory
	Opener    *state.Opener
	Publisher job.Publisher
	Metrics   *ops.Metrics   `optional:"true"`
	Only      Only           `optional:"true"`
	Budget    *budget.Budget `optional:"true"` // shared by every account's job; none: the defaults'
}

// UnknownError is an --account that names no configured account.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("--account %q is not a configured account; the accounts are: %s", e.Name, strings.Join(e.Known, ", "))
}

// NeedsConfigFix is true: the command line or accounts must change (exit status 2).
func (e *UnknownError) NeedsConfigFix() bool { return true }

// New makes the units of the selected accounts, in the configuration's order.
func New(p Params) ([]*Unit, error) {
	mine, err := Select(p.Config, p.Only)
	if err != nil {
		return nil, err
	}
	if c := p.Config; c.Shard.Sharded() {
		p.Logger.Info("running the accounts of this shard", "shard", c.Shard.String(), "accounts", len(mine), "configured", len(c.Accounts))
	}
	shared := p.Budget
	if shared == nil {
		shared = budget.New(BudgetOptions(p.Config))
	}
	var units []*Unit
	for _, a := range mine {
		log := p.Logger
		if p.Config.MultiAccount() {
			log = log.With("account", a.Name)
		}
		client, err := p.Billing.For(a)
		if err != nil {
			return nil, err
		}
		store := p.Opener.Account(p.Config.StatePath, a.Name, a.StatePath)
		j := job.New(job.Params{Options: jobOptions(p.Config, a), Fetcher: client, Publisher: p.Publisher, State: store,
			Clock: p.Clock, Logger: log, Metrics: p.Metrics, Budget: shared})
		closer, err := monthclose.New(monthclose.Params{Options: closeOptions(p.Config, a), Job: j, API: client, State: store,
			Publisher: p.Publisher, Clock: p.Clock, Logger: log, Metrics: p.Metrics})
		if err != nil {
			return nil, err
		}
		s := scheduler.New(scheduler.Params{Options: schedulerOptions(p.Config, a), Runner: j, State: store, Clock: p.Clock,
			Logger: log, Metrics: p.Metrics, Closer: closer})
		units = append(units, &Unit{Account: a, Client: client, Store: store, Job: j, Closer: closer, Scheduler: s, Log: log})
	}
	return units, nil
}

// Module provides the []*Unit.
var Module = fx.Module("accounts", fx.Provide(New))
