package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/bssopenapi"
	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve runs the fake on a free port until the test ends, and returns its line and an
// SDK client with the keys the line names.
func serve(t *testing.T, now time.Time, args ...string) (string, *bssopenapi.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, clockwork.NewFakeClockAt(now), append([]string{"--listen", "127.0.0.1:0"}, args...), pw, &stderr)
		_ = pw.Close()
		done <- code
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		require.NoError(t, err, "the fake's line; status %d, stderr %s", <-done, stderr.String())
	}
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done, "exit status when stopped")
	})
	m := regexp.MustCompile(`"access_key_id": "([^"]+)", "secret_access_Key": "([^"]+)"`).FindStringSubmatch(line)
	require.NotNil(t, m, "the line names the keys: %s", line)
	c, err := bssopenapi.NewClientWithOptions("cn-hangzhou", sdk.NewConfig().WithScheme("HTTP"),
		credentials.NewAccessKeyCredential(m[1], m[2]))
	require.NoError(t, err)
	return line, c
}

// rows counts a day's rows of both bills at the fake whose line is line.
func rows(t *testing.T, c *bssopenapi.Client, line, day string) (account, instance int) {
	t.Helper()
	host := regexp.MustCompile(`at http://(\S+):`).FindStringSubmatch(line)
	require.NotNil(t, host, line)
	a := bssopenapi.CreateQueryAccountBillRequest()
	a.Scheme, a.Domain = "http", host[1]
	a.BillingCycle, a.BillingDate, a.Granularity = day[:7], day, "DAILY"
	a.IsGroupByProduct, a.PageSize = requests.NewBoolean(true), requests.NewInteger(300)
	ar, err := c.QueryAccountBill(a)
	require.NoError(t, err)
	i := bssopenapi.CreateDescribeInstanceBillRequest()
	i.Scheme, i.Domain = "http", host[1]
	i.BillingCycle, i.BillingDate, i.Granularity = day[:7], day, "DAILY"
	i.IsBillingItem, i.MaxResults = requests.NewBoolean(true), requests.NewInteger(300)
	ir, err := c.DescribeInstanceBill(i)
	require.NoError(t, err)
	return len(ar.Data.Items.Item), len(ir.Data.Items)
}

func TestRun_ServesTheDaysEndingYesterdayInUTC8(t *testing.T) {
	// 23:59:59 in UTC+8 on New Year's Eve: yesterday is 2025-12-30; a second later 12-31.
	line, c := serve(t, time.Date(2025, 12, 31, 15, 59, 59, 0, time.UTC), "--days", "2", "--rows", "7")
	assert.Contains(t, line, "billing days 2025-12-29..2025-12-30 (UTC+8), 7 rows a day")
	for day, want := range map[string]int{"2025-12-28": 0, "2025-12-29": 7, "2025-12-30": 7, "2025-12-31": 0} {
		a, i := rows(t, c, line, day)
		assert.Equal(t, [2]int{want, want}, [2]int{a, i}, "account and instance rows of %s", day)
	}
	line, _ = serve(t, time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC))
	assert.Contains(t, line, "billing days 2025-12-29..2025-12-31 (UTC+8), 5 rows a day", "the defaults: 3 days of 5 rows")
	assert.Equal(t, 1, strings.Count(line, "\n"), "one line")
}

func TestRun_BadFlagsAndAPortInUseAreOneLineAndStatus2(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	for args, want := range map[string]string{
		"--days 0":                          "fake: --days 0 is not in 1..31",
		"--days 32":                         "fake: --days 32 is not in 1..31",
		"--rows -1":                         "fake: --rows -1 is not in 0..10000",
		"--rows many":                       `fake: invalid value "many" for flag -rows`,
		"--seed -1":                         `fake: invalid value "-1" for flag -seed`,
		"--port 1":                          "fake: flag provided but not defined: -port",
		"extra":                             `fake: unexpected argument "extra"`,
		"--listen " + taken.Addr().String(): "fake: --listen " + taken.Addr().String() + ": listen tcp " + taken.Addr().String() + ": bind: address already in use",
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), clockwork.NewFakeClock(), strings.Fields(args), &stdout, &stderr)
		assert.Equal(t, 2, code, args)
		assert.Empty(t, stdout.String(), args)
		assert.True(t, strings.HasPrefix(stderr.String(), want), "%s: %q", args, stderr.String())
		assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "%s: one line", args)
	}
}

func TestRun_HelpSaysWhatToConfigure(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), clockwork.NewFakeClock(), []string{"--help"}, &stdout, &stderr))
	for _, s := range []string{`access_key_id "testid"`, `secret_access_Key "testsecret"`, `(default "127.0.0.1:8082"`,
		"config.example.json", "UTC+8", "SIGINT", "exit status 2", "--days", "--rows", "--seed"} {
		assert.Contains(t, stdout.String(), s)
	}
	assert.Empty(t, stderr.String())
}
