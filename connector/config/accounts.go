package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
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

// empty reports that no credential key is set.
func (c Credentials) empty() bool { return c == Credentials{} }

// Account is one Alibaba Cloud account whose bills the connector delivers.
type Account struct {
	Name        string      // name: in the events' subject and account extension, the logs, --account
	Credentials Credentials // its own, or the top level's when it names none
	BillOwnerID int64       // bill_owner_id: a member account's bill read with the payer's credentials; 0 none
	StatePath   string      // its state file
}

// DefaultAccount is the name of the one account of a config without accounts.
const DefaultAccount = "default"

// credentialKeys are the keys that name credentials, at the top level and in an account.
var credentialKeys = []string{"access_key_id", "secret_access_Key", "security_token", "role_arn",
	"role_session_name", "external_id", "sts_endpoint", "ecs_ram_role", "oidc_provider_arn", "oidc_token_file"}

// accountKeys are the keys of an entry of accounts.
var accountKeys = append([]string{"name", "bill_owner_id"}, credentialKeys...)

// MaxAccounts bounds the accounts list (each has its own state file and pacing).
const MaxAccounts = 100

var (
	accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	roleARN     = regexp.MustCompile(`^acs:ram::([0-9]{1,32}):role/[A-Za-z0-9._@/-]{1,128}$`)
	oidcARN     = regexp.MustCompile(`^acs:ram::[0-9]{1,32}:oidc-provider/[A-Za-z0-9._@/-]{1,128}$`)
	sessionName = regexp.MustCompile(`^[A-Za-z0-9.@_-]{2,64}$`)
	roleName    = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
)

// credentials reads and checks the credential keys of values (the top level, or one
// entry of accounts, whose keys are then prefixed by where).
func credentials(v map[string]string, where string) (Credentials, error) {
	key := func(k string) string { return where + k }
	c := Credentials{
		AccessKeyID: v["access_key_id"], AccessKeySecret: Secret(v["secret_access_Key"]), SecurityToken: Secret(v["security_token"]),
		RoleARN: v["role_arn"], RoleSessionName: v["role_session_name"], ExternalID: Secret(v["external_id"]),
		STSEndpoint: v["sts_endpoint"], ECSRAMRole: v["ecs_ram_role"], OIDCProviderARN: v["oidc_provider_arn"], OIDCTokenFile: v["oidc_token_file"],
	}
	switch {
	case c.AccessKeyID == "" && c.AccessKeySecret != "":
		return c, &Error{Key: key("access_key_id"), Problem: "is required with secret_access_Key (or set ALIBABA_CLOUD_ACCESS_KEY_ID): the AccessKey ID the secret belongs to"}
	case c.AccessKeyID != "" && c.AccessKeySecret == "":
		return c, &Error{Key: key("secret_access_Key"), Problem: "is required with access_key_id (or set ALIBABA_CLOUD_ACCESS_KEY_SECRET): the AccessKey secret belonging to access_key_id"}
	case c.SecurityToken != "" && c.AccessKeyID == "":
		return c, &Error{Key: key("security_token"), Problem: "needs access_key_id and secret_access_Key: the temporary AccessKey the token belongs to"}
	case strings.ContainsAny(c.AccessKeyID, " \t\r\n\"'"):
		return c, &Error{Key: key("access_key_id"), Problem: "contains white space or quotes; copy the AccessKey ID exactly"}
	}
	if c.RoleARN != "" && !roleARN.MatchString(c.RoleARN) {
		return c, &Error{Key: key("role_arn"), Problem: "is not a RAM role ARN such as acs:ram::123456789012****:role/billing-reader"}
	}
	if c.RoleSessionName != "" && !sessionName.MatchString(c.RoleSessionName) {
		return c, &Error{Key: key("role_session_name"), Problem: "must be 2 to 64 letters, digits or . @ _ -"}
	}
	if c.ECSRAMRole != "" && !roleName.MatchString(c.ECSRAMRole) {
		return c, &Error{Key: key("ecs_ram_role"), Problem: "is not a RAM role name (letters, digits, . _ @ -, at most 64)"}
	}
	if c.STSEndpoint != "" {
		ep, err := parseEndpoint(c.STSEndpoint)
		if err != nil || ep.Scheme != "https" {
			return c, &Error{Key: key("sts_endpoint"), Problem: "is not an STS host[:port] such as sts.cn-hangzhou.aliyuncs.com (STS is always reached over HTTPS)"}
		}
		c.STSEndpoint = ep.Host
	}
	switch c.Kind() {
	case CredOIDC:
		switch {
		case c.OIDCProviderARN == "" || !oidcARN.MatchString(c.OIDCProviderARN):
			return c, &Error{Key: key("oidc_provider_arn"), Problem: "is required with oidc_token_file: the ARN of the RAM OIDC provider, acs:ram::<uid>:oidc-provider/<name>"}
		case c.OIDCTokenFile == "" || !filepath.IsAbs(c.OIDCTokenFile):
			return c, &Error{Key: key("oidc_token_file"), Problem: "is required with oidc_provider_arn: the absolute path of the OIDC token file (on ACK: /var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token)"}
		case c.RoleARN == "":
			return c, &Error{Key: key("role_arn"), Problem: "is required with oidc_provider_arn: the RAM role that the OIDC token assumes"}
		case c.AccessKeyID != "" || c.ECSRAMRole != "":
			return c, &Error{Key: key("oidc_provider_arn"), Problem: "OIDC credentials cannot be combined with access_key_id or ecs_ram_role; keep one kind"}
		case c.ExternalID != "":
			return c, &Error{Key: key("external_id"), Problem: "applies to role_arn on top of an AccessKey, not to OIDC"}
		}
	case CredRAMRoleARN:
		if c.AccessKeyID != "" && c.ECSRAMRole != "" {
			return c, &Error{Key: key("ecs_ram_role"), Problem: "role_arn is assumed with either the AccessKey or the ECS instance role, not both; keep one"}
		}
	default:
		keys := []string{"role_session_name", "external_id", "sts_endpoint"}
		if c.Kind() == CredDefaultChain {
			keys = keys[:2] // sts_endpoint: for the OIDC variables of RRSA the chain may find
		}
		for _, k := range keys {
			if v[k] != "" {
				return c, &Error{Key: key(k), Problem: "applies only with role_arn or OIDC; set role_arn or remove it"}
			}
		}
		if c.ECSRAMRole != "" && c.AccessKeyID != "" {
			return c, &Error{Key: key("ecs_ram_role"), Problem: "cannot be combined with access_key_id; keep one kind of credentials"}
		}
	}
	if (c.Kind() == CredOIDC || c.Kind() == CredRAMRoleARN) && c.RoleSessionName == "" {
		c.RoleSessionName = DefaultRoleSessionName
	}
	return c, nil
}

// parseAccounts reads accounts: a JSON array of objects, each with its own keys (accountKeys).
func parseAccounts(raw json.RawMessage) ([]map[string]string, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, &Error{Key: "accounts", Problem: `must be an array of objects such as [{"name": "payer"}, {"name": "shop", "bill_owner_id": "1234567890123456"}]`}
	}
	if len(list) == 0 {
		return nil, &Error{Key: "accounts", Problem: "is an empty list; name at least one account, or remove the key for the one account of the top-level credentials"}
	}
	if len(list) > MaxAccounts {
		return nil, &Error{Key: "accounts", Problem: fmt.Sprintf("has %d entries; at most %d", len(list), MaxAccounts)}
	}
	out := make([]map[string]string, len(list))
	for i, e := range list {
		where := fmt.Sprintf("accounts[%d]", i)
		if t := bytes.TrimSpace(e); len(t) == 0 || t[0] != '{' {
			return nil, &Error{Key: where, Problem: `is not a JSON object; each account is one, such as {"name": "payer"}`}
		}
		obj, err := decodeObject(where, e)
		if err != nil {
			return nil, err
		}
		v := map[string]string{}
		names := make([]string, 0, len(obj))
		for k := range obj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			canon := ""
			for _, ak := range accountKeys {
				if strings.ToLower(ak) == strings.ToLower(k) { // as decodeObject's duplicate check: no Unicode folding
					canon = ak
				}
			}
			if canon == "" {
				return nil, &Error{Key: where, Problem: fmt.Sprintf("unknown key %q (an account has: %s)", k, strings.Join(accountKeys, ", "))}
			}
			s, err := scalar(where+"."+canon, obj[k])
			if err != nil {
				return nil, err
			}
			v[canon] = s
		}
		out[i] = v
	}
	return out, nil
}

// buildAccounts makes the accounts from the top-level credentials and, when the key is
// set, the entries of accounts; stateBase is state_path (after defaults).
func (c *Config) buildAccounts(top map[string]string, entries []map[string]string) error {
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
		where := fmt.Sprintf("accounts[%d].", i)
		creds := topCreds
		if merged, own := entryCredentials(top, v); own {
			if creds, err = credentials(merged, where); err != nil {
				return err
			}
		}
		a := Account{Credentials: creds, Name: v["name"]}
		if s := v["bill_owner_id"]; s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return &Error{Key: where + "bill_owner_id", Problem: fmt.Sprintf("%q is not an account ID (a positive whole number such as 1234567890123456)", s)}
			}
			a.BillOwnerID = n
		}
		if a.Name == "" {
			switch {
			case a.BillOwnerID != 0:
				a.Name = strconv.FormatInt(a.BillOwnerID, 10)
			case creds.RoleARN != "":
				a.Name = roleARN.FindStringSubmatch(creds.RoleARN)[1]
			case len(entries) == 1:
				a.Name = DefaultAccount
			default:
				return &Error{Key: where + "name", Problem: "is required when the entry has no bill_owner_id or role_arn to name it by"}
			}
		}
		if !accountName.MatchString(a.Name) {
			return &Error{Key: where + "name", Problem: fmt.Sprintf("%q must be 1 to 63 lower-case letters, digits, - or _, starting with a letter or digit", a.Name)}
		}
		if j, dup := seen[a.Name]; dup {
			return &Error{Key: where + "name", Problem: fmt.Sprintf("%q is also the name of accounts[%d]; give each account its own name", a.Name, j)}
		}
		seen[a.Name] = i
		c.Accounts = append(c.Accounts, a)
	}
	return nil
}

// identityKeys name who signs: an entry that sets one of them has credentials of its own
// and inherits none of the top level's.
var identityKeys = []string{"access_key_id", "secret_access_Key", "security_token", "ecs_ram_role", "oidc_provider_arn", "oidc_token_file"}

// entryCredentials are the credential keys of an entry of accounts. An entry that names
// who signs (identityKeys) has those keys alone. One that does not inherits the top level's
// keys, its own replacing them: {"role_arn": ...} assumes that role with the top-level
// AccessKey (the payer's), {"sts_endpoint": ...} keeps the top-level credentials and
// changes only where STS is. own reports whether the entry set any credential key.
func entryCredentials(top, entry map[string]string) (keys map[string]string, own bool) {
	keys = map[string]string{}
	identity := false
	for _, k := range credentialKeys {
		if entry[k] != "" {
			own = true
		}
	}
	for _, k := range identityKeys {
		identity = identity || entry[k] != ""
	}
	if !identity {
		for _, k := range credentialKeys {
			if top[k] != "" {
				keys[k] = top[k]
			}
		}
	}
	for _, k := range credentialKeys {
		if entry[k] != "" {
			keys[k] = entry[k]
		}
	}
	return keys, own
}

// accountStatePaths gives each account its state file: the one account of a config without
// accounts, and an account named "default", use state_path itself; any other account
// state_path with its name before the extension (state.db: state.payer.db).
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
	// Each state file has a lock file beside it (path + ".lock"): no account's file may be
	// another's, or another's lock (state_path "state" and an account named "lock").
	taken := map[string]string{}
	for _, a := range c.Accounts {
		for _, p := range []string{a.StatePath, a.StatePath + ".lock"} {
			if other, dup := taken[p]; dup {
				return &Error{Key: "accounts", Problem: fmt.Sprintf("the state files of accounts %q and %q collide at %s; rename one, or give state_path an extension such as .db", other, a.Name, p)}
			}
			taken[p] = a.Name
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
