// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The failure classes of the Caracal protocol §6.4 error table. Every error
// returned by Verifier.Verify matches exactly one of them with errors.Is;
// ErrorCode and StatusCode map them to the table's code and HTTP status.
var (
	// ErrMissingToken means no bearer token was presented (401
	// missing_token).
	ErrMissingToken = errors.New("caracal mandate: missing bearer token")
	// ErrInvalidToken is the class of every token that fails parsing,
	// signature or claim validation (401 invalid_token). The finer errors
	// below, such as ErrExpired, all match it.
	ErrInvalidToken = errors.New("caracal mandate: invalid token")
	// ErrInvalidZone means the token's zone_id is not the configured zone
	// (401 invalid_zone).
	ErrInvalidZone = errors.New("caracal mandate: token zone validation failed")
	// ErrSessionRevoked means a revocation anchor of the token is revoked,
	// or revocation could not be checked (401 session_revoked).
	ErrSessionRevoked = errors.New("caracal mandate: session revoked")
	// ErrDelegationStale means the zone's delegation graph changed after
	// the token was minted (401 delegation_stale).
	ErrDelegationStale = errors.New("caracal mandate: delegation graph changed")
	// ErrInsufficientScope means a required scope is missing from the
	// token (403 insufficient_scope).
	ErrInsufficientScope = errors.New("caracal mandate: required scope is missing")
	// ErrSessionRequired means the token is bound to no agent session
	// although one is required (403 session_required).
	ErrSessionRequired = errors.New("caracal mandate: session required")
	// ErrDelegationRequired means the token carries no delegation edge
	// although one is required (403 delegation_required).
	ErrDelegationRequired = errors.New("caracal mandate: delegation required")
	// ErrChainMismatch means a required application is absent from the
	// token's delegation chain (403 chain_mismatch).
	ErrChainMismatch = errors.New("caracal mandate: delegation chain validation failed")
	// ErrHopCountExceeded means hop_count is above the configured maximum
	// (403 hop_count_exceeded).
	ErrHopCountExceeded = errors.New("caracal mandate: hop count exceeded")
)

// Finer reasons for an invalid token. Each one matches ErrInvalidToken with
// errors.Is, and where golang-jwt detected the failure the returned error
// also matches the jwt error (for example jwt.ErrTokenExpired).
var (
	// ErrTokenTooLarge means the token is longer than MaxTokenSize.
	ErrTokenTooLarge = fmt.Errorf("%w: token too large", ErrInvalidToken)
	// ErrMalformed means the token is not three base64url segments of JSON,
	// or its claims are not a JSON object.
	ErrMalformed = fmt.Errorf("%w: malformed token", ErrInvalidToken)
	// ErrAlgorithm means the header alg is missing or is not ES256.
	ErrAlgorithm = fmt.Errorf("%w: signing algorithm not accepted", ErrInvalidToken)
	// ErrKeyID means the header kid is missing, empty or not a string, or
	// the header marks extensions as critical.
	ErrKeyID = fmt.Errorf("%w: header rejected", ErrInvalidToken)
	// ErrUnknownKey means the zone's key set has no key with the token's
	// kid, even after a refetch.
	ErrUnknownKey = fmt.Errorf("%w: unknown signing key", ErrInvalidToken)
	// ErrKeySet means the zone's key set could not be fetched or holds no
	// usable key. A caller that prefers to answer 503 for it can test for
	// it before calling StatusCode.
	ErrKeySet = fmt.Errorf("%w: signing keys unavailable", ErrInvalidToken)
	// ErrSignature means the ES256 signature does not verify.
	ErrSignature = fmt.Errorf("%w: signature invalid", ErrInvalidToken)
	// ErrExpired means exp is past, beyond the clock leeway.
	ErrExpired = fmt.Errorf("%w: token expired", ErrInvalidToken)
	// ErrNotYetValid means nbf is in the future, beyond the clock leeway.
	ErrNotYetValid = fmt.Errorf("%w: token not yet valid", ErrInvalidToken)
	// ErrIssuedInFuture means iat is in the future, beyond the clock leeway.
	ErrIssuedInFuture = fmt.Errorf("%w: token issued in the future", ErrInvalidToken)
	// ErrAudience means aud does not contain the configured audience.
	ErrAudience = fmt.Errorf("%w: audience mismatch", ErrInvalidToken)
	// ErrIssuer means iss is not the configured issuer.
	ErrIssuer = fmt.Errorf("%w: issuer mismatch", ErrInvalidToken)
	// ErrMissingClaim means a claim that every mandate carries is absent
	// or empty.
	ErrMissingClaim = fmt.Errorf("%w: required claim missing", ErrInvalidToken)
	// ErrClaimType means a claim has the wrong JSON type or is out of range,
	// such as a string exp or a negative hop_count.
	ErrClaimType = fmt.Errorf("%w: claim has an invalid type", ErrInvalidToken)
	// ErrUse means the mandate class (use) is unknown or not accepted.
	ErrUse = fmt.Errorf("%w: mandate use not accepted", ErrInvalidToken)
	// ErrSubjectType means sub_type is neither user nor application.
	ErrSubjectType = fmt.Errorf("%w: unknown subject type", ErrInvalidToken)
	// ErrTarget means a required target is missing from the token.
	ErrTarget = fmt.Errorf("%w: required target missing", ErrInvalidToken)
)

// verifyError is a failure with a message of its own and any number of
// causes. Its message never includes the causes' text, so that nothing a
// decoder echoes from the token reaches an error string.
type verifyError struct {
	msg  string
	errs []error
}

// Error returns the message, without the causes' text.
func (e *verifyError) Error() string { return e.msg }

// Unwrap returns the kind and the causes, for errors.Is and errors.As.
func (e *verifyError) Unwrap() []error { return e.errs }

// newError returns an error that matches kind and every cause with
// errors.Is. Its message is kind's message, then detail if any.
func newError(kind error, detail string, causes ...error) error {
	msg := kind.Error()
	if detail != "" {
		msg += ": " + detail
	}
	errs := make([]error, 0, 1+len(causes))
	errs = append(errs, kind)
	for _, c := range causes {
		if c != nil {
			errs = append(errs, c)
		}
	}
	return &verifyError{msg: msg, errs: errs}
}

// joinErrors reports several failures as one error, one message per line
// like errors.Join, matching each of errs and each cause.
func joinErrors(errs []error, causes ...error) error {
	if len(errs) == 1 && len(causes) == 0 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	all := append(append([]error(nil), errs...), causes...)
	return &verifyError{msg: strings.Join(msgs, "\n"), errs: all}
}

// errorClass is one row of the Caracal protocol §6.4 error table.
type errorClass struct {
	err         error
	code        string
	status      int
	description string
}

// errorTable lists the classes in the order they are tested. Unknown errors
// fall through to the last row.
var errorTable = [...]errorClass{
	{ErrMissingToken, "missing_token", http.StatusUnauthorized, "Missing bearer token"},
	{ErrInvalidZone, "invalid_zone", http.StatusUnauthorized, "Token zone validation failed"},
	{ErrSessionRevoked, "session_revoked", http.StatusUnauthorized, "Session revoked"},
	{ErrDelegationStale, "delegation_stale", http.StatusUnauthorized, "Delegation graph changed"},
	{ErrInsufficientScope, "insufficient_scope", http.StatusForbidden, "Required scope is missing"},
	{ErrSessionRequired, "session_required", http.StatusForbidden, "Session required"},
	{ErrDelegationRequired, "delegation_required", http.StatusForbidden, "Delegation required"},
	{ErrChainMismatch, "chain_mismatch", http.StatusForbidden, "Delegation chain validation failed"},
	{ErrHopCountExceeded, "hop_count_exceeded", http.StatusForbidden, "Hop count exceeded"},
	{ErrInvalidToken, "invalid_token", http.StatusUnauthorized, "Token validation failed"},
}

func classify(err error) errorClass {
	for _, c := range errorTable[:len(errorTable)-1] {
		if errors.Is(err, c.err) {
			return c
		}
	}
	return errorTable[len(errorTable)-1]
}

// ErrorCode returns the Caracal error code for err, such as "invalid_token"
// or "insufficient_scope" (Caracal protocol §6.4). Any error outside the
// table, and nil, gives "invalid_token", so a caller fails closed.
func ErrorCode(err error) string { return classify(err).code }

// ErrorDescription returns the default description of err's class in the
// Caracal protocol §6.4 table, such as "Token validation failed". It is
// built from constants only: never from the token or its claims.
func ErrorDescription(err error) string { return classify(err).description }

// StatusCode returns the HTTP status for err: 401 or 403 as the Caracal
// protocol §6.4 table says. Any error outside the table, and nil, gives 401.
func StatusCode(err error) int { return classify(err).status }

// WriteError answers a request refused for err. It writes the status of
// StatusCode and a JSON body {"error": code, "error_description": text}
// with Content-Type application/json, where text is the table's default
// description: the body never carries the token, claim values or err's
// message. It also sets a WWW-Authenticate Bearer challenge (RFC 6750) and
// Cache-Control: no-store. A nil err is answered as invalid_token.
func WriteError(w http.ResponseWriter, err error) {
	c := classify(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if c.err == ErrMissingToken {
		h.Set("WWW-Authenticate", "Bearer")
	} else {
		h.Set("WWW-Authenticate", `Bearer error="`+c.code+`"`)
	}
	w.WriteHeader(c.status)
	// The body is built from constants only; a write error means the
	// client is gone and there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{c.code, c.description})
}
