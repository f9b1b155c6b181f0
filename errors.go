// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	// ErrConfig matches every configuration error: a missing or invalid
	// setting of the environment, a profile or an Option. Errors that name
	// one setting are also a *ConfigError.
	ErrConfig = errors.New("otelcaracal: invalid configuration")
	// ErrInvalidRequest is returned for call options that cannot be sent,
	// such as a narrowed authority without a TTL, before anything is sent.
	ErrInvalidRequest = errors.New("otelcaracal: invalid request")
	// ErrNotBound is returned when a call needs a bound context (a
	// session, or a subject token bound from a request) and the context
	// has none.
	ErrNotBound = errors.New("otelcaracal: context is not bound to a session or a token")
	// ErrNoSession is returned when a call acts for the context's agent
	// session and the context has none.
	ErrNoSession = errors.New("otelcaracal: context has no agent session")
	// ErrProductionIngress is returned when CARACAL_ENV=production and a
	// request would be bound from unverified propagation (Caracal protocol
	// §3 step 3).
	ErrProductionIngress = errors.New("otelcaracal: production ingress requires a verifier " +
		"or an explicit trusted-propagation statement")
	// ErrVerification wraps the error of the verifier that refused an
	// inbound mandate, or marks the claims it returned as unusable.
	ErrVerification = errors.New("otelcaracal: mandate verification failed")
	// ErrNoClientSecret is returned for an STS exchange by a client that
	// has a bootstrap token instead of a client secret.
	ErrNoClientSecret = errors.New("otelcaracal: minting needs a client secret")
	// ErrNoResources is returned when the lifecycle token is needed and no
	// resource is configured to request it for (Caracal protocol §5.4).
	ErrNoResources = errors.New("otelcaracal: no resources configured for the lifecycle token")
	// ErrNotGatewayBound is returned by an application transport for a
	// request that no binding or resource header pins to the Gateway.
	ErrNotGatewayBound = errors.New("otelcaracal: request is not bound to the Gateway")
	// ErrCoordinatorUnreachable is returned when the coordinator gave no
	// answer after the retries allowed: connection failure or timeout.
	// The cause is wrapped too.
	ErrCoordinatorUnreachable = errors.New("otelcaracal: coordinator unreachable")
	// ErrInvalidResponse is returned when the coordinator answered with
	// success but without what the protocol requires, such as a start
	// response without agent_session_id.
	ErrInvalidResponse = errors.New("otelcaracal: invalid coordinator response")
	// ErrLeaseLost is passed to a SessionHandle's lease-lost callback and
	// returned by its Heartbeat once the session is gone, fenced by a
	// newer lease holder or suspended.
	ErrLeaseLost = errors.New("otelcaracal: service session lease lost")
	// ErrClosed is returned by a SessionHandle after Close.
	ErrClosed = errors.New("otelcaracal: session handle closed")
)

// ConfigError is a configuration error about one setting. It matches
// ErrConfig with errors.Is.
type ConfigError struct {
	// Source is where the setting was read: a profile path, "environment"
	// or "option".
	Source string
	// Field is the profile key, such as "zone_id" or
	// "credentials[1].resource".
	Field string
	// Variable is the environment variable that sets it, if any.
	Variable string
	// Err describes the problem. It never holds a secret.
	Err error
}

// Error describes e, naming the field and the variable.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("otelcaracal: config")
	if e.Source != "" {
		fmt.Fprintf(&b, " %s", e.Source)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	if e.Variable != "" {
		fmt.Fprintf(&b, " (%s)", e.Variable)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Is reports whether target is ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// maxErrorBody caps the response body quoted in a CoordinatorError
// (Caracal protocol §4.1: the Go SDK quotes at most 2048 characters).
const maxErrorBody = 2048

// CoordinatorError is an error response of the coordinator (Caracal
// protocol §4.1): a status of 300 or more.
type CoordinatorError struct {
	// Call names the SDK call, such as "start session".
	Call string
	// Method and Path are the request's, such as DELETE and
	// /zones/z/agents/session-1.
	Method, Path string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the machine code of the error field, such as
	// "already_terminated"; empty when the body had none.
	Code string
	// Description is the error_description field, if any.
	Description string
	// RequestID is the request_id (or requestId) field, else the
	// X-Request-Id header.
	RequestID string
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Body is the response body, at most 2048 bytes, with anything shaped
	// like a JWT redacted.
	Body string
}

// Error describes e: the call, method, path, status, code and body.
func (e *CoordinatorError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "otelcaracal: %s: %s %s: HTTP %d", e.Call, e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %q", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ": %q", e.Description)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %q)", e.RequestID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": body %q", e.Body)
	}
	return b.String()
}

// goneCodes are the 409 codes after which a session counts as retired
// (Caracal protocol §4.5).
var goneCodes = map[string]bool{
	"already_terminated":              true,
	"session_not_live":                true,
	"session_not_found_or_not_active": true,
	"session_lease_fenced":            true,
	"session_subject_inactive":        true,
	"session_lease_expired":           true,
}

// Gone reports whether e means the session is already retired: 404, or
// 409 with one of the codes of Caracal protocol §4.5 (and
// session_lease_expired, after which the session is suspended).
func (e *CoordinatorError) Gone() bool {
	return e.StatusCode == http.StatusNotFound ||
		e.StatusCode == http.StatusConflict && goneCodes[e.Code]
}

// Retryable reports whether the same request may succeed later: 408,
// 425, 429 and 5xx. The client retries on its own only where Caracal
// protocol §4.2 allows (5xx on creations), never on 429.
func (e *CoordinatorError) Retryable() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return e.StatusCode >= 500
}

// jwtPattern finds compact JWS/JWE text: a base64url JSON header and at
// least two more segments.
var jwtPattern = regexp.MustCompile(`e[yw][A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]*`)

// redact returns s as valid UTF-8 of at most limit bytes with anything
// shaped like a JWT replaced.
func redact(s string, limit int) string {
	s = jwtPattern.ReplaceAllString(strings.ToValidUTF8(s, "\uFFFD"), "[REDACTED]")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
