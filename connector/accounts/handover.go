package accounts

import (
	"time"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Taking an account over. The state of an account lives with the process that ran it: an
// account that comes to this process (a shard added or removed, or a new entry of
// accounts) has none here, and the event ids of its rows cannot be made again without it
// (a row's id carries the revision of the pull that first planned its content, from that
// pull's clock: a re-read without the state plans every row as new, under this pull's
// revision, so under new ids). So a process does not re-read the days another delivered:
// it takes the account over from the first day it has not delivered for its own accounts,
// the day after the newest day any of them has complete. That is before yesterday when the
// process was down across pulls (the account is caught up with the others), and today when
// it has already pulled yesterday (so had the old owner). The days before are the old
// owner's. A shard that knows no account at all (a shard added, or the first start of
// them all) cannot tell how far the others got: it takes its accounts over from the first
// day whose pull is still to come (--catch-up-from DAY backfills). Without sharding
// (shard 0/1) nothing changes: an account the state does not know starts as on a first
// start (the scheduler's since, yesterday), so going back to one process is best done
// before pull_hour, when yesterday's pull is still to come. An account whose state
// --import-state brought from its old owner's file is known: it is not taken over, it
// goes on from its own days (state/handover.go).

// TakeOver records, in a sharded process, for each unit whose state does not know its
// account yet, the first day it is responsible for (state.Store.SetSince, which the
// scheduler reads): the day after the newest day that another unit has complete, looking
// back catchup_days from the latest day due at now; with none, the day after the latest
// day due; or catchUpFrom (--catch-up-from, zero: none) when that is earlier. It reads
// the states: call it once they are open, before the schedulers loop.
func TakeOver(units []*Unit, cfg *config.Config, now time.Time, catchUpFrom calendar.Day) error {
	if !cfg.Shard.Sharded() {
		return nil
	}
	var fresh []*Unit
	var newest calendar.Day
	found := false
	for _, u := range units {
		since, ok, err := u.Store.Since()
		if err != nil {
			return err
		}
		if !ok {
			fresh = append(fresh, u)
			continue
		}
		d, ok, err := newestComplete(u, since, u.Scheduler.LatestDue(now), cfg.CatchupDays, cfg.Bills)
		if err != nil {
			return err
		}
		if ok && (!found || newest.Before(d)) {
			newest, found = d, true
		}
	}
	for _, u := range fresh {
		from := newest.AddDays(1)
		if !found { // a shard added, or the first start of them all: from the next pull
			from = u.Scheduler.LatestDue(now).AddDays(1)
		}
		if catchUpFrom != (calendar.Day{}) && catchUpFrom.Before(from) {
			from = catchUpFrom // --catch-up-from asks for more
		}
		if err := u.Store.SetSince(from); err != nil {
			return err
		}
		u.Log.Info("taking the account over", "from", from.String(), "shard", cfg.Shard.String())
	}
	return nil
}

// newestComplete is the newest day from latest back to since (at most catchupDays) that
// u's state has complete for every bill.
func newestComplete(u *Unit, since, latest calendar.Day, catchupDays int, bills []bill.Kind) (calendar.Day, bool, error) {
	d := latest
	for i := 0; i < max(catchupDays, 1) && !d.Before(since); i++ {
		ok, err := u.Store.Complete(d, bills...)
		if err != nil {
			return d, false, err
		}
		if ok {
			return d, true, nil
		}
		d = d.AddDays(-1)
	}
	return d, false, nil
}
