// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClockLeeway is the clock skew tolerated when exp, nbf and iat are
// checked.
// Caracal protocol §6.4 item 2.
const ClockLeeway = 60 * time.Second

// MaxTokenSize is the longest token Verify reads, in bytes; a longer one is
// refused with ErrTokenTooLarge before it is parsed.
// Caracal protocol §4.1 and §7.3 step 2.
const MaxTokenSize = 4096

// MaxHopCount is the deepest delegation a mandate can carry, and the
// default limit of a Verifier.
// Caracal protocol §6.2 and §6.4 item 11.
const MaxHopCount = 10

// Verifier checks Caracal mandates: ES256 JWTs signed with a key of the
// configured zone, fetched from the issuer's JWKS (Caracal protocol §6).
// A Verifier is safe for concurrent use and should be shared: it caches
// the key set.
type Verifier struct {
	issuer   string
	zone     string
	audience string
	cfg      verifierConfig
	parser   *jwt.Parser
	keys     *keyStore
	replay   replayCache
}

// NewVerifier returns a Verifier for mandates issued by issuer (the STS
// issuer URL, compared exactly with iss) in zone, for audience. All three
// are required. The issuer must be an https URL; http is allowed for
// localhost and loopback addresses, or for any host with the dangerous
// WithInsecureIssuer. NewVerifier does no network I/O; the key set is
// fetched by the first Verify.
func NewVerifier(
	issuer, zone, audience string,
	opts ...VerifierOption,
) (*Verifier, error) {
	var errs []error
	for _, p := range [...]struct{ name, value string }{
		{"issuer", issuer}, {"zone", zone}, {"audience", audience},
	} {
		if p.value == "" {
			errs = append(errs, errors.New("caracal mandate: verifier needs a non-empty "+p.name))
		}
	}
	cfg := newVerifierConfig(opts)
	if issuer != "" {
		errs = append(errs, checkIssuerURL(issuer, cfg.insecureIssuer))
	}
	errs = append(errs, cfg.validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	v := &Verifier{issuer: issuer, zone: zone, audience: audience, cfg: cfg}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockLeeway),
		jwt.WithTimeFunc(cfg.clock),
		jwt.WithStrictDecoding(),
	)
	v.keys = &keyStore{
		url:      keySetURL(issuer, zone),
		client:   cfg.client,
		now:      cfg.clock,
		ttl:      cfg.keySetTTL,
		timeout:  cfg.fetchTimeout,
		cooldown: cfg.refetchInterval,
	}
	return v, nil
}

// Verify checks token and returns its claims, or an error matching one of
// the classes of the Caracal protocol §6.4 table (see ErrorCode). On error
// the claims are nil. The checks run in the protocol's order:
//
//  1. size (MaxTokenSize), then alg ES256 and a string kid naming a key of
//     the configured zone's key set, then the signature;
//  2. iss, aud, exp (required), iat (required, not in the future), nbf if
//     present, all with ClockLeeway, and the claim types and presence of
//     Claims.UnmarshalJSON and Claims.Validate; every failure of this step
//     is reported, joined;
//  3. zone_id equal to the configured zone (ErrInvalidZone);
//  4. use among the allowed uses (ErrUse);
//  5. required scopes (ErrInsufficientScope) and targets (ErrTarget);
//  6. required session, required delegation, hop_count and required chain
//     applications;
//  7. revocation of sid, root_sid, agent_session_id and
//     delegation_edge_id, then the delegation-graph epoch, where
//     configured.
//
// Verify does not detect replay (jti) unless WithReplayCheck is given:
// that is the Gateway's job, and a service that accepts single-use
// mandates without the Gateway in front must ask for it. Error messages
// never contain the token.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	if len(token) > MaxTokenSize {
		detail := fmt.Sprintf("%d bytes, limit %d", len(token), MaxTokenSize)
		return nil, newError(ErrTokenTooLarge, detail)
	}

	// Signature, registered claims, claim types and presence.
	c := new(Claims)
	keyfunc := func(t *jwt.Token) (any, error) { return v.keyFor(ctx, t) }
	if _, err := v.parser.ParseWithClaims(token, c, keyfunc); err != nil {
		return nil, parseFailure(err)
	}

	// The verifier's own policy.
	if err := v.checkPolicy(c); err != nil {
		return nil, err
	}

	// Revocation state, last because it may ask a store.
	if err := v.checkRevocation(ctx, c); err != nil {
		return nil, err
	}
	// Replay, once the mandate is known to be valid.
	if v.cfg.replay {
		if err := v.replay.check(c, v.cfg.clock()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// keyFor is the jwt.Keyfunc: it requires a non-empty string kid and looks
// it up in the configured zone's key set, never the token's zone.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, newError(ErrKeyID, "critical header extensions are not supported")
	}
	raw, present := t.Header["kid"]
	kid, isString := raw.(string)
	switch {
	case !present:
		return nil, newError(ErrKeyID, "kid header missing")
	case !isString:
		return nil, newError(ErrKeyID, "kid header is not a string")
	case kid == "":
		return nil, newError(ErrKeyID, "kid header is empty")
	}
	return v.keys.key(ctx, kid)
}

// jwtClaimErrors maps the claim failures golang-jwt reports to ours.
// Missing claims are left out: Claims.Validate names them.
var jwtClaimErrors = [...]struct{ jwt, ours error }{
	{jwt.ErrTokenExpired, ErrExpired},
	{jwt.ErrTokenNotValidYet, ErrNotYetValid},
	{jwt.ErrTokenUsedBeforeIssued, ErrIssuedInFuture},
	{jwt.ErrTokenInvalidAudience, ErrAudience},
	{jwt.ErrTokenInvalidIssuer, ErrIssuer},
}

// parseFailure turns an error of jwt.Parser.ParseWithClaims into one of
// ours. The result matches every failure found, and err itself, so that
// errors.Is also matches the jwt errors.
func parseFailure(err error) error {
	if found := collectFailures(err, nil); len(found) > 0 {
		return joinErrors(found, err)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return newError(ErrMalformed, "", err)
	case errors.Is(err, jwt.ErrECDSAVerification):
		return newError(ErrSignature, "", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid),
		errors.Is(err, jwt.ErrTokenUnverifiable):
		// The method is not ES256, or alg is missing or unknown.
		return newError(ErrAlgorithm, "", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return newError(ErrMissingClaim, "", err)
	default:
		return newError(ErrInvalidToken, "", err)
	}
}

// collectFailures walks the tree of err and appends our errors, and the
// mapped jwt claim errors, to out.
func collectFailures(err error, out []error) []error {
	if e, ok := err.(*verifyError); ok {
		return append(out, e)
	}
	for _, m := range jwtClaimErrors {
		// A comparison, not a map lookup: an error of an unhashable
		// type must not panic.
		if err == m.jwt {
			return append(out, newError(m.ours, ""))
		}
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = collectFailures(inner, out)
		}
	case interface{ Unwrap() error }:
		out = collectFailures(e.Unwrap(), out)
	}
	return out
}

// checkPolicy applies the verifier's settings to verified claims (Caracal
// protocol §6.4 items 4, 6, 8, 9 and 11), stopping at the first class
// that fails.
func (v *Verifier) checkPolicy(c *Claims) error {
	if c.ZoneID != v.zone {
		return newError(ErrInvalidZone, "zone_id "+quoteClipped(c.ZoneID))
	}
	if !slices.Contains(v.cfg.allowedUses, c.Use) {
		return newError(ErrUse, quoteClipped(c.Use))
	}
	if err := missingAll(ErrInsufficientScope, v.cfg.requiredScopes, c.HasScope); err != nil {
		return err
	}
	if err := missingAll(ErrTarget, v.cfg.requiredTargets, c.HasTarget); err != nil {
		return err
	}
	switch {
	case v.cfg.requireSession && c.AgentSessionID == "":
		return ErrSessionRequired
	case v.cfg.requireDelegation && c.DelegationEdgeID == "":
		return ErrDelegationRequired
	case c.HopCount > v.cfg.maxHopCount:
		detail := fmt.Sprintf("%d above %d", c.HopCount, v.cfg.maxHopCount)
		return newError(ErrHopCountExceeded, detail)
	}
	inChain := func(app string) bool {
		return slices.ContainsFunc(c.DelegationChain,
			func(h ChainHop) bool { return h.ApplicationID == app })
	}
	return missingAll(ErrChainMismatch, v.cfg.requiredApps, inChain)
}

// missingAll returns one error of kind, naming the value, for each of
// required that has is false, joined, or nil.
func missingAll(kind error, required []string, has func(string) bool) error {
	var errs []error
	for _, r := range required {
		if !has(r) {
			errs = append(errs, newError(kind, quoteClipped(r)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return joinErrors(errs)
}

// checkRevocation asks the revocation checker and the epoch source, when
// configured (Caracal protocol §6.4 item 12). Both fail closed.
func (v *Verifier) checkRevocation(ctx context.Context, c *Claims) error {
	if rc := v.cfg.revocation; rc != nil {
		revoked, err := rc.Revoked(ctx, v.zone, c.Anchors())
		if err != nil {
			return newError(ErrSessionRevoked, "revocation check failed: "+err.Error(), err)
		}
		if revoked {
			return ErrSessionRevoked
		}
	}
	if src := v.cfg.epochs; src != nil && c.DelegationGraphEpoch > 0 {
		epoch, err := src.DelegationEpoch(ctx, v.zone)
		if err != nil {
			return newError(ErrDelegationStale, "epoch check failed: "+err.Error(), err)
		}
		if epoch > c.DelegationGraphEpoch {
			return newError(ErrDelegationStale,
				fmt.Sprintf("minted at epoch %d, zone at %d", c.DelegationGraphEpoch, epoch))
		}
	}
	return nil
}

// checkIssuerURL accepts an absolute https URL, or an http one for a
// loopback host or when insecure is set (Caracal protocol §6.3).
func checkIssuerURL(issuer string, insecure bool) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("caracal mandate: issuer is not a URL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" {
		return fmt.Errorf("caracal mandate: issuer %q must be an absolute URL "+
			"without user info, query or fragment", issuer)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (insecure || isLoopbackHost(u.Hostname())):
	default:
		return fmt.Errorf("caracal mandate: issuer %q must use https "+
			"(http only for loopback hosts)", issuer)
	}
	return nil
}

// isLoopbackHost reports whether host is localhost, an address in
// 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
