package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cloudbill/alicloud-billing-source/connector/accounts"
	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
)

// Every error that needs a configuration fix says so through the one interface.
var (
	_ configFixer = (*config.Error)(nil)
	_ configFixer = (*state.Error)(nil)
	_ configFixer = (*billing.APIError)(nil)
	_ configFixer = (*sender.ConfigError)(nil)
	_ configFixer = (*accounts.UnknownError)(nil)
	_ configFixer = (*usageError)(nil)
	_ configFixer = (*cannotStart)(nil)
)

// One rule for every mode and phase. Before, exitFor (a day's error) knew only the API's,
// the state's and the sender's errors and said 1 for a config.Error, a usage error or an
// unknown --account; startFailure said 2 for everything.
func TestExitStatus_OneRuleForEveryModeAndPhase(t *testing.T) {
	apiFix := &billing.APIError{Class: billing.Credentials, Code: "InvalidAccessKeyId.NotFound"}
	apiRetry := &billing.APIError{Class: billing.Retryable, Code: "Throttling"}
	stateErr := &state.Error{Path: "/s.db", Problem: "is a directory"}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"none", nil, ExitOK},
		{"config", &config.Error{Key: "pull_hour", Problem: "bad"}, ExitConfig},
		{"config, wrapped by a day", fmt.Errorf("day 2026-11-02: %w", &config.Error{Key: "nats.ca_file", Problem: "gone"}), ExitConfig},
		{"state", fmt.Errorf("plan: %w", stateErr), ExitConfig},
		{"API credentials", fmt.Errorf("page 1: %w", apiFix), ExitConfig},
		{"API throttling", fmt.Errorf("page 1: %w", apiRetry), ExitIncomplete},
		{"API throttling joined with the state", errors.Join(apiRetry, stateErr), ExitConfig},
		{"sender", &sender.ConfigError{Kind: sender.ErrTLS, Msg: "untrusted"}, ExitConfig},
		{"unknown account", &accounts.UnknownError{Name: "x"}, ExitConfig},
		{"usage", usage("--date needs --once"), ExitConfig},
		{"a start that failed otherwise", startFailure(errors.New("fx: missing type")), ExitConfig},
		{"anything else", errors.New("3 events not delivered"), ExitIncomplete},
	} {
		assert.Equal(t, tc.want, exitStatus(tc.err), tc.name)
	}
}

// What stops the connector before its work is one line: the error that names what to fix
// alone (fx's wiring dropped), a usage error with where to read the usage, and nothing a
// terminal would interpret.
func TestFail_PrintsOneSafeLineAndTheStatus(t *testing.T) {
	wired := func(err error) error { return fmt.Errorf("could not build arguments for function main.run: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		out  string
	}{
		{"usage", usage("unexpected argument %q", "x"), "connector: unexpected argument \"x\"\nRun 'connector --help' for usage.\n"},
		{"config", startFailure(wired(&config.Error{Key: "pull_hour", Problem: `"25" is not a whole hour from 0 to 23`})),
			"connector: config: pull_hour: \"25\" is not a whole hour from 0 to 23\n"},
		{"state", startFailure(wired(&state.Error{Path: "/s", Problem: "is a directory", Hint: "name the file"})),
			"connector: state_path /s: is a directory; name the file\n"},
		{"unknown account", startFailure(wired(&accounts.UnknownError{Name: "x", Known: []string{"a", "b"}})),
			"connector: --account \"x\" is not a configured account; the accounts are: a, b\nRun 'connector --help' for usage.\n"},
		{"a day the API does not keep", startFailure(wired(&usageError{"--date 2099-01-01 is in the future"})),
			"connector: --date 2099-01-01 is in the future\nRun 'connector --help' for usage.\n"},
		{"anything else", startFailure(wired(errors.New("boom"))),
			"connector: cannot start: could not build arguments for function main.run: boom\n"},
		{"hostile text", startFailure(errors.New("token file: \x1b]0;owned\x07bad\n{\"level\":\"INFO\"} \u202eevil\xff")),
			"connector: cannot start: token file: bad {\"level\":\"INFO\"} evil\uFFFD\n"},
	} {
		var w bytes.Buffer
		assert.Equal(t, ExitConfig, fail(&w, tc.err), tc.name)
		assert.Equal(t, tc.out, w.String(), tc.name)
	}
}
