package job

import (
	"math"
	"time"
)

// Revisions come from the clock, not only from the state: the state can be lost (a damaged
// file moved aside, a new pod, a restored backup), and a count kept there would start
// again at 1 under revisions already delivered, so that a receiver keeping the highest
// revision of a subject would keep the old content for ever.
//
// Content that a pull plans for the first time (a new row, or a row whose content changed)
// gets the seconds from revisionEpoch to the pull's start, or one more than the revision
// the state has for the row when that is larger (two changes in one second, or a clock
// that went back). Content planned before keeps its revision, and so its id: a resend, a
// crash and an explicit re-run send it as it was. Revisions of a subject therefore only
// grow, while the state lasts and, as long as the clock moves forward, across its loss;
// they are not consecutive.

// revisionEpoch is where the seconds of TimeRevision start: 2020-01-01T00:00:00Z.
var revisionEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxRevision is the largest revision: a CloudEvents Integer is 32 bits. The seconds since
// revisionEpoch reach it in January 2088.
const MaxRevision = math.MaxInt32

// TimeRevision is the revision of content first planned by a pull that started at t: the
// whole seconds since 2020-01-01T00:00:00Z. A clock before 2020 gives 1, a clock past
// January 2088 gives MaxRevision (content that changes after that keeps MaxRevision, with
// a new id).
func TimeRevision(t time.Time) int {
	s := t.Unix() - revisionEpoch.Unix()
	switch {
	case s < 1:
		return 1
	case s > MaxRevision:
		return MaxRevision
	}
	return int(s)
}

// NextRevision is the revision of new or changed content planned by a pull that started at
// pulled, for a row whose stored revision is stored (0 for a row the state does not know):
// the larger of stored+1 and TimeRevision(pulled), at most MaxRevision.
func NextRevision(stored int, pulled time.Time) int {
	if stored >= MaxRevision {
		return MaxRevision
	}
	return max(stored+1, TimeRevision(pulled))
}

// validRevision: a stored revision that an event can carry. Another one is from a damaged
// file; its row is planned again as changed content.
func validRevision(r int) bool { return r >= 1 && r <= MaxRevision }
