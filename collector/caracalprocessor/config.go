// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// Values of CredentialsConfig.Action.
const (
	// ActionDrop removes an attribute.
	ActionDrop = "drop"
	// ActionMask replaces the value of an attribute with
	// CredentialsConfig.Mask.
	ActionMask = "mask"
)

// Values of AttributionConfig.UntrustedClaims.
const (
	// ClaimsFlag keeps the caracal.* attributes of a claimed span from an
	// untrusted service and sets caracal.attribution.untrusted to true.
	ClaimsFlag = "flag"
	// ClaimsDrop removes every caracal.* attribute of a claimed span from
	// an untrusted service.
	ClaimsDrop = "drop"
)

// DefaultMask is the default value of CredentialsConfig.Mask.
const DefaultMask = "[REDACTED]"

// Config is the configuration of the caracal processor. The zero value is
// not the default: use the factory's CreateDefaultConfig.
type Config struct {
	// Credentials configures how attributes holding credentials are
	// removed.
	Credentials CredentialsConfig `mapstructure:"credentials"`
	// Attribution configures which services' delegation attributes are
	// believed.
	Attribution AttributionConfig `mapstructure:"attribution"`
	// Chains configures the completion of delegation chains within a
	// trace.
	Chains ChainsConfig `mapstructure:"chains"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CredentialsConfig configures the removal of credentials. An attribute is
// a credential when a segment of its key (the parts between dots) ends with
// one of the names listed in the package documentation or in Keys, when its
// key matches one of KeyPatterns, or when its value, or any value nested in
// it, holds a bearer token or a JWT. Removal cannot be turned off.
type CredentialsConfig struct {
	// Action is what happens to a credential attribute: "drop" removes
	// it, "mask" replaces its whole value with Mask. Default "drop".
	Action string `mapstructure:"action"`
	// Mask is the string a masked attribute gets. It must not itself look
	// like a credential. Default "[REDACTED]".
	Mask string `mapstructure:"mask"`
	// Keys are more names that make a key segment name a credential when
	// the segment ends with one of them, compared without regard to ASCII
	// case and with "-" equal to "_". A name holds no dot. Default none.
	Keys []string `mapstructure:"keys"`
	// KeyPatterns are RE2 regular expressions matched against whole
	// attribute keys; a key that matches one names a credential. Default
	// none.
	KeyPatterns []string `mapstructure:"key_patterns"`
	// AllowedKeys are exact attribute keys never treated as credentials
	// because of their key. Their values are still checked for bearer
	// tokens and JWTs. Default none.
	AllowedKeys []string `mapstructure:"allowed_keys"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// AttributionConfig configures the attribution policy.
//
// A span's service is the service.name of its resource. It is what the
// sender says: trust a service only where the receiver authenticates who
// sends to it, or the network does.
type AttributionConfig struct {
	// TrustedServices are the service names whose attribution is
	// believed. A span marked verified keeps that mark only when its
	// service is listed here and it carries the signed-claim attributes
	// (caracal.zone.id and caracal.application.id, and a delegation path
	// ending in its delegation). Default none: no span stays verified, and
	// every attributed span is handled by UntrustedClaims.
	TrustedServices []string `mapstructure:"trusted_services"`
	// UntrustedClaims is what happens to a claimed span, one downgraded
	// from verified included, whose service is not trusted: "flag" keeps
	// its caracal.* attributes and sets caracal.attribution.untrusted to
	// true, "drop" removes them all. Default "flag".
	UntrustedClaims string `mapstructure:"untrusted_claims"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// ChainsConfig configures chain completion.
type ChainsConfig struct {
	// Enabled turns on chain completion and conflict flags: within each
	// trace of a batch, delegation edges are linked to their parents, and
	// caracal.delegation.path and caracal.delegation.depth are written on
	// attributed spans that lack them. It needs batches that hold whole
	// traces (see the package documentation). Default true.
	Enabled bool `mapstructure:"enabled"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)
var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration and reports every invalid field,
// each named by its path.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}

	c := cfg.Credentials
	switch c.Action {
	case ActionDrop, ActionMask:
	default:
		add("credentials::action", "must be %q or %q, got %q",
			ActionDrop, ActionMask, c.Action)
	}
	if c.Action == ActionMask && valueIsCredential(c.Mask) {
		add("credentials::mask", "looks like a credential itself")
	}
	for i, k := range c.Keys {
		field := fmt.Sprintf("credentials::keys::%d", i)
		switch {
		case k == "":
			add(field, "is empty")
		case strings.Contains(k, "."):
			add(field, "%q holds a dot: names match one key segment", k)
		}
	}
	for i, p := range c.KeyPatterns {
		if _, err := regexp.Compile(p); err != nil {
			add(fmt.Sprintf("credentials::key_patterns::%d", i), "%w", err)
		}
	}
	for i, k := range c.AllowedKeys {
		if k == "" {
			add(fmt.Sprintf("credentials::allowed_keys::%d", i), "is empty")
		}
	}

	a := cfg.Attribution
	for i, s := range a.TrustedServices {
		if strings.TrimSpace(s) == "" {
			add(fmt.Sprintf("attribution::trusted_services::%d", i), "is empty")
		}
	}
	switch a.UntrustedClaims {
	case ClaimsFlag, ClaimsDrop:
	default:
		add("attribution::untrusted_claims", "must be %q or %q, got %q",
			ClaimsFlag, ClaimsDrop, a.UntrustedClaims)
	}
	return errors.Join(errs...)
}
