package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// CredentialKind names how an account's requests are signed.
type CredentialKind string

// The credential kinds, in the order a config entry is read: the first that applies wins.
const (
	// CredOIDC is OIDC / RRSA (STS AssumeRoleWithOIDC): oidc_provider_arn, oidc_token_file, role_arn.
	CredOIDC CredentialKind = "oidc"
	// CredRAMRoleARN is STS AssumeRole with role_arn on top of an AccessKey, an ECS
	// instance role or the default chain.
	CredRAMRoleARN CredentialKind = "ram_role_arn"
	// CredECSRAMRole is the ECS instance's RAM role, read from the metadata service (IMDSv2).
	CredECSRAMRole CredentialKind = "ecs_ram_role"
	// CredSTSToken is an AccessKey with an STS security_token (temporary, not refreshed).
	CredSTSToken CredentialKind = "sts_token"
	// CredAccessKey is a RAM user's AccessKey.
	CredAccessKey CredentialKind = "access_key"
	// CredDefaultChain is the SDK's default chain: the environment, OIDC (ALIBABA_CLOUD_ROLE_ARN,
	// ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), the CLI profile, the
	// credentials file, the ECS instance role.
	CredDefaultChain CredentialKind = "default_chain"
)

// DefaultRoleSessionName is role_session_name unless set.
const DefaultRoleSessionName = "alicloud-billing-source"

// Credentials are what one account signs its requests with.
type Credentials struct {
	AccessKeyID     string // access_key_id
	AccessKeySecret Secret // secret_access_Key
	SecurityToken   Secret // security_token
	RoleARN         string // role_arn
	RoleSessionName string // role_session_name
	ExternalID      Secret // external_id
	STSEndpoint     string // sts_endpoint: host[:port] of STS, spoken to over HTTPS ("" the region's public one)
	ECSRAMRole      string // ecs_ram_role: the instance's role name
	OIDCProviderARN string // oidc_provider_arn
	OIDCTokenFile   string // oidc_token_file
}

// Kind is how these credentials sign.
func (c Credentials) Kind() CredentialKind {
	switch {
	case c.OIDCProviderARN != "" || c.OIDCTokenFile != "":
		return CredOIDC
	case c.RoleARN != "":
		return CredRAMRoleARN
	case c.ECSRAMRole != "":
		return CredECSRAMRole
	case c.AccessKeyID != "" && c.SecurityToken != "":
		return CredSTSToken
	case c.AccessKeyID != "":
		return CredAccessKey
	default:
		return CredDefaultChain
	}
}

// Account is one Alibaba Cloud account whose bills the connector delivers.
type Account struct {
	Name        string      // name: in the events' subject and account extension, the logs, --account
	Credentials Credentials // its own, or the top level's when it names none
	BillOwnerID int64       // bill_owner_id: a member account's bill read with the payer's credentials; 0 none
	StatePath   string      // its state file of earlier releases, imported into state_path at start (state_path itself: none)
}

// DefaultAccount is the name of the one account of a config without accounts.
const DefaultAccount = "default"

// accountsKey is the list of accounts.
const accountsKey = "accounts"

// MaxAccounts bounds the accounts list: a process runs them all, within one budget of
// memory (memory_events); checking the list takes time linear in its length.
const MaxAccounts = 10_000

var (
	accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	roleARN     = regexp.MustCompile(`^acs:ram::([0-9]{1,32}):role/[A-Za-z0-9._@/-]{1,128}$`)
	oidcARN     = regexp.MustCompile(`^acs:ram::[0-9]{1,32}:oidc-provider/[A-Za-z0-9._@/-]{1,128}$`)
	sessionName = regexp.MustCompile(`^[A-Za-z0-9.@_-]{2,64}$`)
	roleName    = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
)

// credentials reads and checks the credential keys of v (the top level, or one entry of
// accounts, whose keys messages then prefix with where).
func credentials(v texts, where string) (Credentials, error) {
	var c Credentials
	if err := apply(&c, v, where, func(k Key) func(*Credentials, value) error { return k.cred }); err != nil {
		return c, err
	}
	if err := c.check(func(k string) string { return where + k }); err != nil {
		return c, err
	}
	if (c.Kind() == CredOIDC || c.Kind() == CredRAMRoleARN) && c.RoleSessionName == "" {
		c.RoleSessionName = DefaultRoleSessionName
	}
	return c, nil
}

func setAccessKeyID(c *Credentials, v value) error {
	c.AccessKeyID = v.text
	if strings.ContainsAny(v.text, " \t\r\n\"'") {
		return &Error{Key: v.key, Problem: "contains white space or quotes; copy the AccessKey ID exactly"}
	}
	return nil
}

func setRoleARN(c *Credentials, v value) error {
	c.RoleARN = v.text
	if v.text != "" && !roleARN.MatchString(v.text) {
		return &Error{Key: v.key, Problem: "is not a RAM role ARN such as acs:ram::123456789012****:role/billing-reader"}
	}
	return nil
}

func setRoleSessionName(c *Credentials, v value) error {
	c.RoleSessionName = v.text
	if v.text != "" && !sessionName.MatchString(v.text) {
		return &Error{Key: v.key, Problem: "must be 2 to 64 letters, digits or . @ _ -"}
	}
	return nil
}

func setSTSEndpoint(c *Credentials, v value) error {
	if v.text == "" {
		return nil
	}
	ep, err := parseEndpoint(v.text)
	if err != nil || ep.Scheme != "https" {
		return &Error{Key: v.key, Problem: "is not an STS host[:port] such as sts.cn-hangzhou.aliyuncs.com (STS is always reached over HTTPS)"}
	}
	c.STSEndpoint = ep.Host
	return nil
}

func setECSRAMRole(c *Credentials, v value) error {
	c.ECSRAMRole = v.text
	if v.text != "" && !roleName.MatchString(v.text) {
		return &Error{Key: v.key, Problem: "is not a RAM role name (letters, digits, . _ @ -, at most 64)"}
	}
	return nil
}

// check applies the rules between the credential keys; key names a key in messages.
func (c Credentials) check(key func(string) string) error {
	switch {
	case c.AccessKeyID == "" && c.AccessKeySecret != "":
		return &Error{Key: key("access_key_id"), Problem: "is required with secret_access_Key (or set ALIBABA_CLOUD_ACCESS_KEY_ID): the AccessKey ID the secret belongs to"}
	case c.AccessKeyID != "" && c.AccessKeySecret == "":
		return &Error{Key: key("secret_access_Key"), Problem: "is required with access_key_id (or set ALIBABA_CLOUD_ACCESS_KEY_SECRET): the AccessKey secret belonging to access_key_id"}
	case c.SecurityToken != "" && c.AccessKeyID == "":
		return &Error{Key: key("security_token"), Problem: "needs access_key_id and secret_access_Key: the temporary AccessKey the token belongs to"}
	}
	switch c.Kind() {
	case CredOIDC:
		return c.checkOIDC(key)
	case CredRAMRoleARN:
		if c.AccessKeyID != "" && c.ECSRAMRole != "" {
			return &Error{Key: key("ecs_ram_role"), Problem: "role_arn is assumed with either the AccessKey or the ECS instance role, not both; keep one"}
		}
		return nil
	}
	for _, r := range []struct {
		key string
		set bool
	}{
		{"role_session_name", c.RoleSessionName != ""},
		{"external_id", c.ExternalID != ""},
		// the default chain may find the OIDC variables of RRSA, for which sts_endpoint counts
		{"sts_endpoint", c.STSEndpoint != "" && c.Kind() != CredDefaultChain},
	} {
		if r.set {
			return &Error{Key: key(r.key), Problem: "applies only with role_arn or OIDC; set role_arn or remove it"}
		}
	}
	if c.ECSRAMRole != "" && c.AccessKeyID != "" {
		return &Error{Key: key("ecs_ram_role"), Problem: "cannot be combined with access_key_id; keep one kind of credentials"}
	}
	return nil
}

func (c Credentials) checkOIDC(key func(string) string) error {
	switch {
	case c.OIDCProviderARN == "" || !oidcARN.MatchString(c.OIDCProviderARN):
		return &Error{Key: key("oidc_provider_arn"), Problem: "is required with oidc_token_file: the ARN of the RAM OIDC provider, acs:ram::<uid>:oidc-provider/<name>"}
	case c.OIDCTokenFile == "" || !filepath.IsAbs(c.OIDCTokenFile):
		return &Error{Key: key("oidc_token_file"), Problem: "is required with oidc_provider_arn: the absolute path of the OIDC token file (on ACK: /var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token)"}
	case c.RoleARN == "":
		return &Error{Key: key("role_arn"), Problem: "is required with oidc_provider_arn: the RAM role that the OIDC token assumes"}
	case c.AccessKeyID != "" || c.ECSRAMRole != "":
		return &Error{Key: key("oidc_provider_arn"), Problem: "OIDC credentials cannot be combined with access_key_id or ecs_ram_role; keep one kind"}
	case c.ExternalID != "":
		return &Error{Key: key("external_id"), Problem: "applies to role_arn on top of an AccessKey, not to OIDC"}
	}
	return nil
}

// accountKeys are the keys of an entry of accounts: its own, then the credential keys.
func accountKeys() []string {
	var names []string
	for _, k := range Keys {
		if k.acct != nil {
			names = append(names, k.member())
		}
	}
	return append(names, credentialKeys()...)
}

// credentialKeys are the keys that name credentials, at the top level and in an entry.
func credentialKeys() []string {
	var names []string
	for _, k := range Keys {
		if k.cred != nil {
			names = append(names, k.Name)
		}
	}
	return names
}

// parseAccounts reads accounts: a JSON array of objects, each with its own keys (accountKeys).
func parseAccounts(raw json.RawMessage) ([]texts, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, &Error{Key: accountsKey, Problem: `must be an array of objects such as [{"name": "payer"}, {"name": "shop", "bill_owner_id": "1234567890123456"}]`}
	}
	if len(list) == 0 {
		return nil, &Error{Key: accountsKey, Problem: "is an empty list; name at least one account, or remove the key for the one account of the top-level credentials"}
	}
	if len(list) > MaxAccounts {
		return nil, &Error{Key: accountsKey, Problem: fmt.Sprintf("has %d entries; at most %d", len(list), MaxAccounts)}
	}
	out := make([]texts, len(list))
	for i, e := range list {
		v, err := parseEntry(fmt.Sprintf("accounts[%d]", i), e)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// parseEntry reads one entry of accounts, at where ("accounts[2]").
func parseEntry(where string, e json.RawMessage) (texts, error) {
	if t := bytes.TrimSpace(e); len(t) == 0 || t[0] != '{' {
		return nil, &Error{Key: where, Problem: `is not a JSON object; each account is one, such as {"name": "payer"}`}
	}
	obj, err := decodeObject(where, e)
	if err != nil {
		return nil, err
	}
	known := accountKeys()
	v := texts{}
	for _, k := range sortedNames(obj) {
		canon := ""
		for _, ak := range known {
			if sameKey(ak, k) {
				canon = ak
			}
		}
		if canon == "" {
			return nil, &Error{Key: where, Problem: fmt.Sprintf("unknown key %q (an account has: %s)", k, strings.Join(known, ", "))}
		}
		s, err := scalar(where+"."+canon, obj[k], false)
		if err != nil {
			return nil, err
		}
		v[canon] = s
	}
	return v, nil
}

// buildAccounts makes the accounts from the top-level credentials and, when the key is
// set, the entries of accounts.
func (c *Config) buildAccounts(top texts, entries []texts) error {
	topCreds, err := credentials(top, "")
	if err != nil {
		return err
	}
	if entries == nil {
		c.Accounts = []Account{{Name: DefaultAccount, Credentials: topCreds}}
		return nil
	}
	seen := map[string]int{}
	for i, v := range entries {
		a, err := entryAccount(top, topCreds, v, i, len(entries))
		if err != nil {
			return err
		}
		if j, dup := seen[a.Name]; dup {
			return &Error{Key: fmt.Sprintf("accounts[%d].name", i), Problem: fmt.Sprintf("%q is also the name of accounts[%d]; give each account its own name", a.Name, j)}
		}
		seen[a.Name] = i
		c.Accounts = append(c.Accounts, a)
	}
	return nil
}

// entryAccount is the account of entry i of n of accounts, v.
func entryAccount(top texts, topCreds Credentials, v texts, i, n int) (Account, error) {
	where := fmt.Sprintf("accounts[%d].", i)
	a := Account{Credentials: topCreds}
	if merged, own := entryCredentials(top, v); own {
		creds, err := credentials(merged, where)
		if err != nil {
			return a, err
		}
		a.Credentials = creds
	}
	if err := apply(&a, v, where, func(k Key) func(*Account, value) error { return k.acct }); err != nil {
		return a, err
	}
	if a.Name == "" {
		switch {
		case a.BillOwnerID != 0:
			a.Name = strconv.FormatInt(a.BillOwnerID, 10)
		case a.Credentials.RoleARN != "":
			a.Name = roleARN.FindStringSubmatch(a.Credentials.RoleARN)[1]
		case n == 1:
			a.Name = DefaultAccount
		default:
			return a, &Error{Key: where + "name", Problem: "is required when the entry has no bill_owner_id or role_arn to name it by"}
		}
	}
	if !accountName.MatchString(a.Name) {
		return a, &Error{Key: where + "name", Problem: fmt.Sprintf("%q must be 1 to 63 lower-case letters, digits, - or _, starting with a letter or digit", a.Name)}
	}
	return a, nil
}

func setBillOwnerID(a *Account, v value) error {
	if v.text == "" {
		return nil
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	if err != nil || n <= 0 {
		return &Error{Key: v.key, Problem: fmt.Sprintf("%q is not an account ID (a positive whole number such as 1234567890123456)", v.text)}
	}
	a.BillOwnerID = n
	return nil
}

// entryCredentials are the credential keys of an entry of accounts. An entry that names
// who signs (a Key with identity) has those keys alone. One that does not inherits the top
// level's keys, its own replacing them: {"role_arn": ...} assumes that role with the
// top-level AccessKey (the payer's), {"sts_endpoint": ...} keeps the top-level credentials
// and changes only where STS is. own reports whether the entry set any credential key.
func entryCredentials(top, entry texts) (keys texts, own bool) {
	keys = texts{}
	identity := false
	for _, k := range Keys {
		if k.cred != nil && entry[k.Name] != "" {
			own = true
			identity = identity || k.identity
		}
	}
	for _, k := range credentialKeys() {
		if !identity && top[k] != "" {
			keys[k] = top[k]
		}
		if entry[k] != "" {
			keys[k] = entry[k]
		}
	}
	return keys, own
}

// accountStatePaths gives each account the state file that earlier releases gave it, which
// the connector imports into state_path (one file for every account) at start: the one
// account of a config without accounts, and an account named "default", used state_path
// itself; any other account state_path with its name before the extension (state.db:
// state.payer.db).
func (c *Config) accountStatePaths() error {
	ext := filepath.Ext(c.StatePath)
	stem := strings.TrimSuffix(c.StatePath, ext)
	for i := range c.Accounts {
		if c.Accounts[i].Name == DefaultAccount {
			c.Accounts[i].StatePath = c.StatePath
		} else {
			c.Accounts[i].StatePath = stem + "." + c.Accounts[i].Name + ext
		}
	}
	return nil
}

// Account returns the account named name.
func (c *Config) Account(name string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.Name == name {
			return a, true
		}
	}
	return Account{}, false
}

// MultiAccount reports that accounts was set: events name their account in the subject.
func (c *Config) MultiAccount() bool { return c.multi }
