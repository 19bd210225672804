package brokers_test

import (
	"testing"

	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// TestMain makes this test binary the connector when a test starts it as a real process
// (e.StartProc): one that a test can kill -9.
func TestMain(m *testing.M) { harness.TestMain(m) }
