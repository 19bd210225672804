package job

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// The page decision, row by row: what the state knows of a row (nothing, other content,
// this content pending or delivered, a damaged revision, this pull) and the resend decide
// the count, whether it is sent, its revision and id, and what the state records.
func TestClassify_DecidesEachRowFromWhatTheStateKnows(t *testing.T) {
	pulled := time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)
	now := TimeRevision(pulled)
	r := bill.AccountRow{BillingDate: "2026-11-03", OwnerID: "1", ProductCode: "ecs", PaymentAmount: "1.5"}
	_, hash, err := Body(r)
	require.NoError(t, err)
	id := identities([]bill.Row{r})[0]
	const earlier = 1000 // a revision the state has from an earlier pull
	type want struct {
		counts   counts
		sent     bool
		revision int
		planned  bool // the state's row says Delivered
	}
	for _, tc := range []struct {
		name   string
		known  state.Known
		resend Resend
		want   want
	}{
		{"new", state.Known{}, Incremental, want{counts{new: 1}, true, now, false}},
		{"new, explicit", state.Known{}, Explicit, want{counts{new: 1}, true, now, false}},
		{"changed", state.Known{Found: true, Row: state.Row{Hash: "other", Revision: earlier, Delivered: true}}, Incremental,
			want{counts{changed: 1}, true, now, false}},
		{"changed after a revision above the clock's", state.Known{Found: true, Row: state.Row{Hash: "other", Revision: now + 5}}, Incremental,
			want{counts{changed: 1}, true, now + 6, false}},
		{"pending", state.Known{Found: true, Row: state.Row{Hash: hash, Revision: earlier}}, Incremental,
			want{counts{pending: 1}, true, earlier, false}},
		{"unchanged", state.Known{Found: true, Row: state.Row{Hash: hash, Revision: earlier, Delivered: true}}, Incremental,
			want{counts{unchanged: 1}, false, earlier, true}},
		{"unchanged, explicit", state.Known{Found: true, Row: state.Row{Hash: hash, Revision: earlier, Delivered: true}}, Explicit,
			want{counts{unchanged: 1}, true, earlier, true}},
		{"a damaged revision is changed content", state.Known{Found: true, Row: state.Row{Hash: hash, Revision: 0, Delivered: true}}, Incremental,
			want{counts{changed: 1}, true, now, false}},
		{"a retracted row that comes back is changed content", state.Known{Found: true, Row: state.Row{Hash: hash, Revision: now, Delivered: true, Retracted: true}}, Incremental,
			want{counts{changed: 1}, true, now + 1, false}},
		{"a row whose retraction is pending comes back", state.Known{Found: true, Row: state.Row{Hash: hash, Revision: earlier, Retracted: true}}, Incremental,
			want{counts{changed: 1}, true, now, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := classifier{account: "default", resend: tc.resend, pulled: pulled}
			d, err := c.classify(1, []bill.Row{r}, []string{id}, []state.Known{tc.known})
			require.NoError(t, err)
			assert.Equal(t, tc.want.counts, d.counts)
			planned := d.plan[id]
			assert.Equal(t, hash, planned.Hash)
			assert.Equal(t, tc.want.revision, planned.Revision)
			assert.Equal(t, tc.want.planned, planned.Delivered)
			assert.Equal(t, EventID(id, mustBody(t, r), tc.want.revision), planned.ID)
			if !tc.want.sent {
				assert.Empty(t, d.send)
				assert.Empty(t, d.sendOf)
				return
			}
			require.Len(t, d.send, 1)
			assert.Equal(t, []string{id}, d.sendOf)
			e := d.send[0]
			assert.Equal(t, planned.ID, e.ID(), "the event is what the state plans")
			assert.Equal(t, pulled, e.Time())
			assert.Equal(t, int32(tc.want.revision), e.Extensions()[RevisionExtension])
		})
	}
}

// A page of many rows: the decisions keep the page's order, and the counts add up.
func TestClassify_APageKeepsItsOrderAndCounts(t *testing.T) {
	pulled := time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC)
	rows := []bill.Row{
		bill.AccountRow{BillingDate: "2026-11-03", ProductCode: "a"},
		bill.AccountRow{BillingDate: "2026-11-03", ProductCode: "b"},
		bill.AccountRow{BillingDate: "2026-11-03", ProductCode: "a"}, // the same identity again: "#2"
	}
	ids := identities(rows)
	assert.Equal(t, ids[0]+"#2", ids[2])
	_, hashB, _ := Body(rows[1])
	known := []state.Known{{}, {Found: true, Row: state.Row{Hash: hashB, Revision: 7, Delivered: true}}, {}}
	d, err := classifier{account: "payer", resend: Incremental, pulled: pulled}.classify(3, rows, ids, known)
	require.NoError(t, err)
	assert.Equal(t, counts{new: 2, unchanged: 1}, d.counts)
	assert.Equal(t, []string{ids[0], ids[2]}, d.sendOf)
	assert.Len(t, d.plan, 3)
	for _, e := range d.send {
		assert.Equal(t, "payer", e.Extensions()[AccountExtension], "the account's events")
		assert.Regexp(t, `^payer/2026-11-03/`, e.Subject())
	}
}

// A row that an earlier page of this pull planned: the bill moved under the read. Nothing
// of the page is decided.
func TestClassify_ARowOfThisPullAgainIsAMovedBill(t *testing.T) {
	rows := []bill.Row{bill.AccountRow{BillingDate: "2026-11-03", ProductCode: "a"}, bill.AccountRow{BillingDate: "2026-11-03", ProductCode: "b"}}
	ids := identities(rows)
	d, err := classifier{account: "default"}.classify(2, rows, ids, []state.Known{{}, {Found: true, ThisPull: true}})
	var moved *bill.MovedError
	require.ErrorAs(t, err, &moved)
	assert.Equal(t, 2, moved.Page)
	assert.Contains(t, err.Error(), "came again on page 2")
	assert.Contains(t, err.Error(), ids[1])
	assert.Zero(t, d)
}

func mustBody(t *testing.T, r bill.Row) []byte {
	t.Helper()
	body, _, err := Body(r)
	require.NoError(t, err)
	return body
}

func mustHash(t *testing.T, r bill.Row) string {
	t.Helper()
	_, hash, err := Body(r)
	require.NoError(t, err)
	return hash
}
