package billing_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// childEnv makes the test binary run sdkDebugChild instead of the tests.
const childEnv = "BILLING_TEST_SDK_DEBUG_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(sdkDebugChild())
	}
	os.Exit(m.Run())
}

// sdkDebugChild reads a day with an STS token, then has a request refused with
// SignatureDoesNotMatch (whose message quotes the signed string), in a process whose
// environment holds DEBUG=sdk. It says what it did on stdout, the SDK's debug output's
// destination.
func sdkDebugChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	f := bssfake.New(bssfake.Options{Keys: map[string]string{stsID: stsSecret}})
	if err := f.Start("127.0.0.1:0"); err != nil {
		return fail(err)
	}
	defer func() { _ = f.Close() }()
	f.SetDay(day.String(), bssfake.SampleDay(day.String(), 5, 17))
	c, err := buildClient(clientOpts{endpoint: f.URL(), id: stsID, secret: stsSecret, token: stsToken, pol: fastPolicy, log: os.Stderr})
	if err != nil {
		return fail(err)
	}
	rows, err := fetchDay(context.Background(), c, day)
	if err != nil {
		return fail(err)
	}
	f.Inject(bssfake.Fault{Kind: bssfake.SignatureMismatch})
	_, err = fetchDay(context.Background(), c, day)
	var ae *billing.APIError
	if !errors.As(err, &ae) {
		return fail(fmt.Errorf("want an API error, got %v", err))
	}
	fmt.Printf("child: read %d rows, then %s\n", len(rows), ae.Code)
	return 0
}

func TestSDKDebug_OutputNeverShowsTheToken(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "DEBUG=sdk")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child output:\n%s", out)
	assert.Contains(t, string(out), "child: read 5 rows, then SignatureDoesNotMatch")
	assertNoCredential(t, string(out), stsID, stsSecret, stsToken)
}
