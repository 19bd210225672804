package monthclose

import (
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

func TestFinalAt_NoonUTC8OnTheCloseDayOfTheNextMonth(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err) // time/tzdata is linked in: no skip on a machine without zoneinfo
	assert.True(t, time.Date(2027, 1, 3, 12, 0, 0, 0, sh).Equal(FinalAt(calendar.Month{Year: 2026, Month: time.December}, 3)))
	assert.True(t, time.Date(2026, 3, 28, 4, 0, 0, 0, time.UTC).Equal(FinalAt(calendar.Month{Year: 2026, Month: time.February}, 28)))
}

func TestNamed_SafeShortAndCounted(t *testing.T) {
	assert.Equal(t, "a, b, and 2 more", Named([]string{"a", "b", "c", "d"}, 2))
	assert.Equal(t, "x y", Named([]string{"x\x1b[31m y"}, 5), "no escape sequence reaches a terminal")
}
