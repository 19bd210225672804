package trial

import (
	"path/filepath"
	"testing"
	_ "time/tzdata" // pull_zone, wherever the test runs

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// config.example.json is what the connector loads as it is (no unknown key, no
// environment), pointed at the fake's key and loopback addresses, its state in .trial/.
func TestConfigExample_LoadsAsIs(t *testing.T) {
	cfg, err := config.Load(config.Source{Path: configFile, Lookup: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	assert.Empty(t, cfg.Warnings)
	assert.Equal(t, "http://127.0.0.1:8081", cfg.Target.String())
	assert.Equal(t, config.Endpoint{Scheme: "http", Host: "127.0.0.1:8082"}, cfg.Endpoint)
	assert.Equal(t, bssfake.DefaultKeyID, cfg.Accounts[0].Credentials.AccessKeyID, "the fake's public test key")
	assert.Equal(t, bssfake.DefaultKeySecret, cfg.Accounts[0].Credentials.AccessKeySecret.Reveal(), "the fake's public test key")
	assert.Equal(t, "Asia/Shanghai", cfg.PullZone.String())
	assert.Equal(t, []bill.Kind{bill.Account, bill.Instance}, cfg.Bills)
	assert.Equal(t, filepath.Join(root, ".trial", "state.db"), cfg.StatePath, "beside the config, in the git-ignored .trial/")
	assert.Empty(t, cfg.Listen, "no ops listener: nothing else to keep free")
}
