package config

import "github.com/cloudbill/alicloud-billing-source/connector/shard"

// setShard reads shard: "K/N", or "ordinal/N" whose K resolveShard takes from the pod.
func setShard(c *Config, v value) error {
	s, err := shard.Parse(v.text)
	if err != nil {
		return &Error{Key: v.key, Problem: err.Error()}
	}
	c.Shard = s
	return nil
}

// resolveShard applies --shard (over the file and the environment) and sets the K of
// "ordinal/N" from the environment (shard.Spec.FromOrdinal).
func (c *Config) resolveShard(flag string, lookup func(string) (string, bool)) error {
	key := "shard"
	if flag != "" {
		key = "--shard"
		if err := setShard(c, value{key: key, text: flag, set: true}); err != nil {
			return err
		}
	}
	s, err := c.Shard.FromOrdinal(lookup)
	if err != nil {
		return &Error{Key: key, Problem: err.Error()}
	}
	c.Shard = s
	return nil
}
