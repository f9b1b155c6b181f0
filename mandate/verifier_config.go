// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// verifierConfig holds the settings of a Verifier.
type verifierConfig struct {
	client          *http.Client
	clock           func() time.Time
	keySetTTL       time.Duration
	fetchTimeout    time.Duration
	refetchInterval time.Duration
	insecureIssuer  bool

	allowedUses       []string
	requiredScopes    []string
	requiredTargets   []string
	requiredApps      []string
	requireSession    bool
	requireDelegation bool
	maxHopCount       int

	revocation RevocationChecker
	epochs     DelegationEpochSource
	replay     bool
}

// newVerifierConfig returns the defaults with opts applied in order.
func newVerifierConfig(opts []VerifierOption) verifierConfig {
	c := verifierConfig{
		client: &http.Client{
			// The key set URL is fixed; a redirect could leave https or
			// the issuer's host, so it is answered as a failure instead.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		clock:           time.Now,
		keySetTTL:       defaultKeySetTTL,
		fetchTimeout:    defaultFetchTimeout,
		refetchInterval: defaultRefetchInterval,
		allowedUses:     []string{UseSession, UseResource},
		maxHopCount:     MaxHopCount,
	}
	for _, o := range opts {
		if o != nil {
			c = o.applyVerifier(c)
		}
	}
	return c
}

// validate reports settings that no token could ever satisfy.
func (c verifierConfig) validate() error {
	var errs []error
	for _, list := range [...]struct {
		name   string
		values []string
	}{
		{"required scope", c.requiredScopes},
		{"required target", c.requiredTargets},
		{"required chain application", c.requiredApps},
		{"allowed use", c.allowedUses},
	} {
		for _, v := range list.values {
			if v == "" || strings.ContainsFunc(v, unicode.IsSpace) {
				errs = append(errs, errors.New("caracal mandate: empty or "+
					"spaced "+list.name+" never matches"))
				break
			}
		}
	}
	if c.maxHopCount > MaxHopCount {
		errs = append(errs, errors.New("caracal mandate: maximum hop count above 10"))
	}
	return errors.Join(errs...)
}

// VerifierOption configures a Verifier. Use the With… functions to create
// one; the interface cannot be implemented outside this package.
type VerifierOption interface {
	applyVerifier(verifierConfig) verifierConfig
}

type verifierOptionFunc func(verifierConfig) verifierConfig

func (f verifierOptionFunc) applyVerifier(c verifierConfig) verifierConfig {
	return f(c)
}

// RevocationChecker reports whether a mandate is revoked (Caracal protocol
// §6.4 item 12). Revoked gets the configured zone and the token's anchors,
// an empty anchor meaning the token does not carry it, and returns true if
// any of them is revoked. It must be safe for concurrent use.
type RevocationChecker interface {
	Revoked(ctx context.Context, zone string, anchors Anchors) (bool, error)
}

// RevocationFunc adapts a function to RevocationChecker.
type RevocationFunc func(
	ctx context.Context,
	zone string,
	anchors Anchors,
) (bool, error)

// Revoked returns f(ctx, zone, anchors).
func (f RevocationFunc) Revoked(
	ctx context.Context,
	zone string,
	anchors Anchors,
) (bool, error) {
	return f(ctx, zone, anchors)
}

// DelegationEpochSource returns the current delegation-graph epoch of a
// zone (Caracal protocol §6.4 item 12). It must be safe for concurrent
// use.
type DelegationEpochSource interface {
	DelegationEpoch(ctx context.Context, zone string) (int64, error)
}

// WithHTTPClient sets the client that fetches the key set. The default is
// a client on http.DefaultTransport that does not follow redirects. A nil
// c keeps the default. Whatever c's timeout, each fetch is also bounded by
// the fetch timeout.
func WithHTTPClient(c *http.Client) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if c != nil {
			cfg.client = c
		}
		return cfg
	})
}

// WithClock sets the clock that exp, nbf and iat are checked against and
// that times the key set cache. The default is time.Now; nil keeps it.
func WithClock(now func() time.Time) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if now != nil {
			cfg.clock = now
		}
		return cfg
	})
}

// WithKeySetTTL sets how long a fetched key set is used before it is
// fetched again. The default is 5 minutes; d <= 0 keeps it.
func WithKeySetTTL(d time.Duration) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if d > 0 {
			cfg.keySetTTL = d
		}
		return cfg
	})
}

// WithFetchTimeout bounds each key set fetch. The default is 10 seconds;
// d <= 0 keeps it.
func WithFetchTimeout(d time.Duration) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if d > 0 {
			cfg.fetchTimeout = d
		}
		return cfg
	})
}

// WithRefetchInterval sets the least time between two fetches forced by
// tokens whose kid is not in the key set. The default is 30 seconds; d <= 0
// keeps it.
func WithRefetchInterval(d time.Duration) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if d > 0 {
			cfg.refetchInterval = d
		}
		return cfg
	})
}

// WithInsecureIssuer lets the issuer, and so the key set, be fetched over
// plain http from any host. This is dangerous: anyone on the path can then
// replace the keys and have any token accepted. Without it, http is
// allowed only for localhost and loopback addresses.
func WithInsecureIssuer() VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.insecureIssuer = true
		return cfg
	})
}

// WithAllowedUses sets the mandate classes (use claim) accepted. The
// default is UseSession and UseResource, as the reference verifier; a
// Gateway adds UseGateway. No uses keeps the default.
func WithAllowedUses(uses ...string) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if len(uses) > 0 {
			cfg.allowedUses = slices.Clone(uses)
		}
		return cfg
	})
}

// WithRequiredScopes sets scopes that every token must carry, each as an
// exact token of its scope claim; otherwise Verify fails with
// ErrInsufficientScope. The default is none.
func WithRequiredScopes(scopes ...string) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.requiredScopes = slices.Clone(scopes)
		return cfg
	})
}

// WithRequiredTargets sets resource identifiers that every token's target
// claim must contain; otherwise Verify fails with ErrTarget. The default
// is none.
func WithRequiredTargets(targets ...string) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.requiredTargets = slices.Clone(targets)
		return cfg
	})
}

// WithRequiredChainApplications sets application ids that must each
// appear in the token's delegation_chain; otherwise Verify fails with
// ErrChainMismatch. The default is none.
func WithRequiredChainApplications(apps ...string) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.requiredApps = slices.Clone(apps)
		return cfg
	})
}

// WithRequireSession makes Verify fail with ErrSessionRequired for a token
// without agent_session_id.
func WithRequireSession() VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.requireSession = true
		return cfg
	})
}

// WithRequireDelegation makes Verify fail with ErrDelegationRequired for a
// token without delegation_edge_id.
func WithRequireDelegation() VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.requireDelegation = true
		return cfg
	})
}

// WithMaxHopCount sets the largest hop_count accepted; a larger one fails
// with ErrHopCountExceeded. The default is MaxHopCount (10); a negative n
// keeps it, and NewVerifier refuses an n above MaxHopCount.
func WithMaxHopCount(n int) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		if n >= 0 {
			cfg.maxHopCount = n
		}
		return cfg
	})
}

// WithRevocationChecker makes Verify ask rc whether the token's sid,
// root_sid, agent_session_id or delegation_edge_id is revoked; if so, or if
// rc fails, Verify fails with ErrSessionRevoked. The default, and nil, is
// no revocation check, which the protocol permits only where revocation
// is handled elsewhere.
func WithRevocationChecker(rc RevocationChecker) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.revocation = rc
		return cfg
	})
}

// WithDelegationEpochs makes Verify fail with ErrDelegationStale for a
// token whose delegation_graph_epoch is above 0 and below the zone's
// current epoch from src, or when src fails. The default, and nil, is no
// epoch check.
func WithDelegationEpochs(src DelegationEpochSource) VerifierOption {
	return verifierOptionFunc(func(cfg verifierConfig) verifierConfig {
		cfg.epochs = src
		return cfg
	})
}

// WithReplayCheck makes the verifier accept each single-use mandate (any
// use but session) once, remembering its jti until it expires, as the
// Gateway does (Caracal protocol §7.3 step 9). Use it on a service that
// accepts use=gateway mandates directly, without the Gateway in front,
// such as a gRPC service. A replay fails with ErrReplay. The memory is the
// verifier's own: replicas of a service do not share it.
func WithReplayCheck() VerifierOption {
	return verifierOptionFunc(func(c verifierConfig) verifierConfig {
		c.replay = true
		return c
	})
}
