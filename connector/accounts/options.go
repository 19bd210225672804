package accounts

import (
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/monthclose"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/connector/scheduler"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
)

// The options of every package, built from the loaded configuration here and nowhere
// else: billing, sender, ops, job and scheduler never see a *config.Config, only the few
// values they use. The cli provides the shared ones to the application; New builds the
// per-account ones for each account.

// BillingOptions are the BSS clients' endpoint and pace (every account's).
func BillingOptions(c *config.Config) billing.Options {
	return billing.Options{Endpoint: c.Endpoint, APIQPS: c.APIQPS}
}

// SenderOptions are v_target and how events go there (one sender for every account).
func SenderOptions(c *config.Config) sender.Options {
	return sender.Options{Target: c.Target, Protocol: c.Protocol, Structured: c.Structured, Concurrency: c.Concurrency,
		NATS: c.NATS, Kafka: c.Kafka, DuplicateWindow: c.DuplicateWindow()}
}

// BudgetOptions bound the events in memory of every account together (one budget).
func BudgetOptions(c *config.Config) budget.Options {
	return budget.Options{Events: c.MemoryEvents, Bytes: int64(c.MemoryBytes)}
}

// OpsOptions are the ops listener's.
func OpsOptions(c *config.Config) ops.Options { return ops.Options{Listen: c.Listen, Name: "listen"} }

// jobOptions are the options of account a's job.
func jobOptions(c *config.Config, a config.Account) job.Options {
	return job.Options{Bills: c.Bills, Account: a.Name, RetractMaxFraction: c.RetractMaxFraction}
}

// schedulerOptions are the options of account a's daemon.
func schedulerOptions(c *config.Config, a config.Account) scheduler.Options {
	return scheduler.Options{PullHour: c.PullHour, PullZone: c.PullZone, CatchupDays: c.CatchupDays,
		SettleDays: c.SettleDays, Bills: c.Bills, Account: a.Name}
}

// closeOptions are the options of account a's month close.
func closeOptions(c *config.Config, a config.Account) monthclose.Options {
	return monthclose.Options{Account: a.Name, Bills: c.Bills, CloseDay: c.MonthCloseDay, Tolerance: c.ReconcileTolerance}
}
