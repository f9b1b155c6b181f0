// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The token endpoint and its request form (Caracal protocol §5.1).
const (
	stsTokenPath     = "/oauth/2/token"
	stsApprovalsPath = "/approvals/"
	stsGrantType     = "urn:ietf:params:oauth:grant-type:token-exchange"
	stsFormType      = "application/x-www-form-urlencoded"
)

// stsMaxBody caps the bytes read of any STS response: 64 KiB (Caracal
// protocol §5.2, the same limit the STS puts on requests in §5.1).
const stsMaxBody = 64 << 10

// stsDefaultTimeout bounds one exchange unless WithSTSTimeout says
// otherwise (Caracal protocol §4.1: SDK clients default to 10 s).
const stsDefaultTimeout = 10 * time.Second

// Limits on what an STS error may put into an error message.
const (
	stsMaxDescription = 512
	stsMaxErrorField  = 128
)

// ApprovalMaxWait is the longest wait WaitApproval asks the STS for; the
// STS caps a long poll at 25 s (Caracal protocol §5.2).
const ApprovalMaxWait = 25 * time.Second

// The states of an approval hold (Caracal protocol §5.2). Only
// ApprovalApproved allows the held exchange to be retried.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalExpired  = "expired"
	ApprovalConsumed = "consumed"
)

// stsRedacted replaces a credential wherever a value is printed.
const stsRedacted = "[REDACTED]"

var (
	// ErrSTSCredentialsUnavailable is returned when the CredentialSource
	// fails or gives an incomplete triple. The exchange is not attempted.
	ErrSTSCredentialsUnavailable = errors.New(
		"caracal mandate: STS credentials unavailable")
	// ErrExchangeInvalidRequest is returned for an ExchangeRequest or an
	// approval id that cannot be sent, before anything is sent.
	ErrExchangeInvalidRequest = errors.New(
		"caracal mandate: invalid exchange request")
	// ErrSTSUnreachable is returned when the STS gave no complete answer:
	// connection failure, timeout, cancellation or a broken body. The
	// cause is wrapped too, so errors.Is matches context.DeadlineExceeded
	// and the like.
	ErrSTSUnreachable = errors.New("caracal mandate: STS unreachable")
	// ErrSTSInvalidResponse is returned when the STS answered with a
	// success status but the response breaks Caracal protocol §5.2.
	ErrSTSInvalidResponse = errors.New(
		"caracal mandate: invalid STS response")
	// ErrApprovalRequired matches every *ApprovalRequiredError.
	ErrApprovalRequired = errors.New("caracal mandate: approval required")
)

// STSCredentials is the client-secret credential of an application
// (Caracal protocol §8.4). It is sent as three form fields on every
// exchange; there is no other authentication.
//
// Printing an STSCredentials with fmt or log/slog, or encoding it as JSON,
// shows the zone and the application but never the secret.
type STSCredentials struct {
	// ZoneID is the zone the application is registered in.
	ZoneID string
	// ApplicationID is the application's id.
	ApplicationID string
	// ClientSecret is the application's secret.
	ClientSecret string
}

// missing names the fields of c that are empty, or returns "".
func (c STSCredentials) missing() string {
	var m []string
	if c.ZoneID == "" {
		m = append(m, "zone_id")
	}
	if c.ApplicationID == "" {
		m = append(m, "application_id")
	}
	if c.ClientSecret == "" {
		m = append(m, "client_secret")
	}
	return strings.Join(m, ", ")
}

func (c STSCredentials) redactedSecret() string {
	if c.ClientSecret == "" {
		return ""
	}
	return stsRedacted
}

// String returns the zone and the application, with the secret redacted.
func (c STSCredentials) String() string {
	return fmt.Sprintf("{ZoneID:%s ApplicationID:%s ClientSecret:%s}",
		c.ZoneID, c.ApplicationID, c.redactedSecret())
}

// GoString is String in Go syntax, with the secret redacted.
func (c STSCredentials) GoString() string {
	return fmt.Sprintf(
		"mandate.STSCredentials{ZoneID:%q, ApplicationID:%q, ClientSecret:%q}",
		c.ZoneID, c.ApplicationID, c.redactedSecret())
}

// Format prints c as String does for every verb, and as GoString for %#v,
// so the secret is never printed.
func (c STSCredentials) Format(f fmt.State, verb rune) {
	stsFormat(f, verb, c.String(), c.GoString())
}

// LogValue returns the zone and the application as a log/slog group, with
// the secret redacted.
func (c STSCredentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("zone_id", c.ZoneID),
		slog.String("application_id", c.ApplicationID),
		slog.String("client_secret", c.redactedSecret()),
	)
}

// MarshalJSON encodes c as LogValue does, with the secret redacted.
func (c STSCredentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ZoneID        string `json:"zone_id"`
		ApplicationID string `json:"application_id"`
		ClientSecret  string `json:"client_secret"`
	}{c.ZoneID, c.ApplicationID, c.redactedSecret()})
}

// stsFormat writes s, formatted for verb, or gs for %#v.
func stsFormat(f fmt.State, verb rune, s, gs string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, gs)
		return
	}
	if verb != 's' && verb != 'q' && verb != 'v' {
		verb = 's'
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), s)
}

// CredentialSource supplies the STS credentials. STSClient asks it before
// every exchange, so a source can follow secret rotation; MintCache asks it
// on every Mint and drops its cache when the answer changes (Caracal
// protocol §5.4).
type CredentialSource interface {
	// Credentials returns the current credentials. An error or an
	// incomplete triple fails the exchange closed.
	Credentials(ctx context.Context) (STSCredentials, error)
}

// CredentialSourceFunc adapts a resolver function to CredentialSource.
type CredentialSourceFunc func(ctx context.Context) (STSCredentials, error)

// Credentials calls f.
func (f CredentialSourceFunc) Credentials(
	ctx context.Context,
) (STSCredentials, error) {
	return f(ctx)
}

// staticCredentials keeps the triple inside a closure: fmt prints a func
// as an address, so no verb applied to a client can reach the secret.
type staticCredentials struct{ get func() STSCredentials }

// StaticCredentials returns a CredentialSource that always gives the same
// triple. NewSTSClient refuses it when a field is empty.
func StaticCredentials(
	zoneID, applicationID, clientSecret string,
) CredentialSource {
	c := STSCredentials{
		ZoneID:        zoneID,
		ApplicationID: applicationID,
		ClientSecret:  clientSecret,
	}
	return staticCredentials{get: func() STSCredentials { return c }}
}

// Credentials returns the fixed triple.
func (s staticCredentials) Credentials(
	context.Context,
) (STSCredentials, error) {
	return s.get(), nil
}

// ExchangeRequest is one token exchange (Caracal protocol §5.1). Which
// class of mandate the STS mints depends on the ids set: none gives a
// use=session lifecycle mandate (policy allows it with the scope
// agent:lifecycle only), AgentSessionID with DelegationEdgeID gives a
// one-shot use=gateway mandate, AgentSessionID alone a session-bound
// use=session mandate.
type ExchangeRequest struct {
	// Resources are the resource identifiers, each sent as a resource
	// field. They are trimmed, de-duplicated and sorted; an empty one, or
	// one with whitespace or control characters inside, is refused.
	Resources []string
	// Scopes are sent space-joined as the scope field, trimmed,
	// de-duplicated and sorted, and only when there are any. A scope
	// with whitespace or control characters inside is refused.
	Scopes []string
	// AgentSessionID is the agent session (agent_session_id).
	AgentSessionID string
	// DelegationEdgeID is the delegation acted under (delegation_edge_id).
	DelegationEdgeID string
	// SubjectRecordID is a subject authority record id, sent as session_id
	// (the wire kept an older name). The SDK facades leave it empty.
	SubjectRecordID string
	// TTL is the requested lifetime, sent as ttl_seconds when positive. It
	// must be a whole number of seconds. The STS applies its own caps
	// (Caracal protocol §5.3) and reports the result as Token.ExpiresIn.
	TTL time.Duration
	// ApprovalID retries an exchange whose approval hold was approved
	// (approval_id). A request with it is never cached.
	ApprovalID string
	// ForceRefresh is read by MintCache only: it skips the cache read and
	// stores the fresh token. STSClient.Exchange ignores it.
	ForceRefresh bool
}

// exchangeForm is an ExchangeRequest checked and normalized, comparable so
// that MintCache can use it in a map key.
type exchangeForm struct {
	resources    string // sorted, unique, space-joined
	scope        string // sorted, unique, space-joined
	agentSession string
	delegation   string
	record       string
	approval     string
	ttlSeconds   int64
}

// newExchangeForm checks and normalizes req. It does not allocate when
// req has at most one resource and at most one scope.
func newExchangeForm(req ExchangeRequest) (exchangeForm, error) {
	var f exchangeForm
	var err error
	if f.resources, err = exchangeJoin("resource", req.Resources); err != nil {
		return f, err
	}
	if f.scope, err = exchangeJoin("scope", req.Scopes); err != nil {
		return f, err
	}
	for _, id := range [...]struct{ name, value string }{
		{"agent_session_id", req.AgentSessionID},
		{"delegation_edge_id", req.DelegationEdgeID},
		{"session_id", req.SubjectRecordID},
		{"approval_id", req.ApprovalID},
	} {
		if !exchangeValidID(id.value) {
			return f, fmt.Errorf("%w: %s %q has control characters or "+
				"invalid UTF-8", ErrExchangeInvalidRequest, id.name, id.value)
		}
	}
	if req.TTL < 0 || req.TTL%time.Second != 0 {
		return f, fmt.Errorf("%w: TTL %v is not a whole, non-negative "+
			"number of seconds", ErrExchangeInvalidRequest, req.TTL)
	}
	f.agentSession = req.AgentSessionID
	f.delegation = req.DelegationEdgeID
	f.record = req.SubjectRecordID
	f.approval = req.ApprovalID
	f.ttlSeconds = int64(req.TTL / time.Second)
	return f, nil
}

// oneShot reports whether f must bypass any cache (Caracal protocol §5.4,
// §5.5): a delegated mint gives a single-use gateway mandate, and an
// approval id is consumed by the exchange it approves.
func (f exchangeForm) oneShot() bool {
	return f.agentSession != "" && f.delegation != "" || f.approval != ""
}

// encode returns the request body: exactly the fields of Caracal protocol
// §5.1 that f and c set.
func (f exchangeForm) encode(c STSCredentials) string {
	v := url.Values{
		"grant_type":     {stsGrantType},
		"zone_id":        {c.ZoneID},
		"application_id": {c.ApplicationID},
		"client_secret":  {c.ClientSecret},
	}
	if f.resources != "" {
		v["resource"] = strings.Split(f.resources, " ")
	}
	for _, kv := range [...]struct{ k, v string }{
		{"scope", f.scope},
		{"agent_session_id", f.agentSession},
		{"delegation_edge_id", f.delegation},
		{"session_id", f.record},
		{"approval_id", f.approval},
	} {
		if kv.v != "" {
			v.Set(kv.k, kv.v)
		}
	}
	if f.ttlSeconds > 0 {
		v.Set("ttl_seconds", strconv.FormatInt(f.ttlSeconds, 10))
	}
	return v.Encode()
}

// exchangeJoin trims, de-duplicates, sorts and space-joins items. It
// allocates only for two items or more.
func exchangeJoin(field string, items []string) (string, error) {
	normalized := true
	for i, s := range items {
		t := strings.TrimSpace(s)
		if !exchangeValidItem(t) {
			return "", fmt.Errorf("%w: %s %q is empty or has whitespace, "+
				"control characters or invalid UTF-8",
				ErrExchangeInvalidRequest, field, s)
		}
		if t != s || i > 0 && items[i-1] >= s {
			normalized = false
		}
	}
	switch {
	case len(items) == 0:
		return "", nil
	case len(items) == 1:
		return strings.TrimSpace(items[0]), nil
	case normalized:
		return strings.Join(items, " "), nil
	}
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = strings.TrimSpace(s)
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " "), nil
}

// exchangeValidItem reports whether s is a non-empty resource or scope
// without whitespace or control characters. ASCII is checked byte by byte,
// which keeps MintCache hits fast.
func exchangeValidItem(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return exchangeValidRunes(s[i:], true)
		case c <= ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

// exchangeValidID reports whether s is valid UTF-8 without control
// characters. Empty is valid: the field is then not sent.
func exchangeValidID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return exchangeValidRunes(s[i:], false)
		case c < ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

// exchangeValidRunes reports whether s is valid UTF-8 without control
// characters and, if noSpace, without whitespace.
func exchangeValidRunes(s string, noSpace bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || noSpace && unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// Token is an STS response (Caracal protocol §5.2): a mandate and what the
// STS says about it.
//
// Printing a Token with fmt (any verb, %#v included), logging it with
// log/slog or encoding it as JSON shows everything but the access token,
// which is replaced by [REDACTED]. Copying AccessToken into another value
// is not covered, and neither is a Token held in an unexported struct
// field (fmt cannot call its methods there): hold a *Token, which prints
// as an address.
type Token struct {
	// AccessToken is the mandate JWT, sent as "Authorization: Bearer".
	AccessToken string
	// TokenType is "Bearer" or empty.
	TokenType string
	// ExpiresIn is the lifetime the STS granted, counted from IssuedAt.
	ExpiresIn time.Duration
	// Scope is the granted scope, space-separated; empty when none.
	Scope string
	// IssuedTokenType is the RFC 8693 issued_token_type.
	IssuedTokenType string
	// TargetResources are the resources granted.
	TargetResources []string
	// IssuedAt is when the response was received, by the client's clock
	// (Caracal protocol §5.4 counts from local receipt time).
	IssuedAt time.Time
}

func (t Token) redactedToken() string {
	if t.AccessToken == "" {
		return ""
	}
	return stsRedacted
}

// String describes t with the access token redacted.
func (t Token) String() string {
	return fmt.Sprintf("{AccessToken:%s TokenType:%s ExpiresIn:%v Scope:%q "+
		"IssuedTokenType:%s TargetResources:%q IssuedAt:%s}",
		t.redactedToken(), t.TokenType, t.ExpiresIn, t.Scope,
		t.IssuedTokenType, t.TargetResources,
		t.IssuedAt.Format(time.RFC3339Nano))
}

// GoString describes t in Go syntax with the access token redacted.
func (t Token) GoString() string {
	return fmt.Sprintf("mandate.Token{AccessToken:%q, TokenType:%q, "+
		"ExpiresIn:%d, Scope:%q, IssuedTokenType:%q, TargetResources:%#v, "+
		"IssuedAt:%#v}",
		t.redactedToken(), t.TokenType, int64(t.ExpiresIn), t.Scope,
		t.IssuedTokenType, t.TargetResources, t.IssuedAt)
}

// Format prints t as String does for every verb, and as GoString for %#v,
// so the access token is never printed.
func (t Token) Format(f fmt.State, verb rune) {
	stsFormat(f, verb, t.String(), t.GoString())
}

// LogValue returns t as a log/slog group with the access token redacted.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", t.redactedToken()),
		slog.String("token_type", t.TokenType),
		slog.Duration("expires_in", t.ExpiresIn),
		slog.String("scope", t.Scope),
		slog.String("issued_token_type", t.IssuedTokenType),
		slog.Any("target_resources", t.TargetResources),
		slog.Time("issued_at", t.IssuedAt),
	)
}

// MarshalJSON encodes t as LogValue does, with the access token redacted,
// so that a Token inside a value logged as JSON stays redacted. A Token is
// therefore not a format to store mandates in.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessToken     string    `json:"access_token"`
		TokenType       string    `json:"token_type"`
		ExpiresIn       string    `json:"expires_in"`
		Scope           string    `json:"scope"`
		IssuedTokenType string    `json:"issued_token_type"`
		TargetResources []string  `json:"target_resources"`
		IssuedAt        time.Time `json:"issued_at"`
	}{t.redactedToken(), t.TokenType, t.ExpiresIn.String(), t.Scope,
		t.IssuedTokenType, t.TargetResources, t.IssuedAt})
}

// STSError is an error response of the STS (Caracal protocol §5.2). Every
// text in it comes from the STS; texts that contain the client secret or
// anything shaped like a JWT are dropped, so that an STS echoing its input
// cannot put a credential into a log.
type STSError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error field, such as "access_denied".
	Code string
	// Description is the error_description field.
	Description string
	// RequestID is the requestId (or request_id) field, else the
	// X-Request-Id header.
	RequestID string
	// RetryAfter is the Retry-After header of a 429 or 503, in seconds or
	// as an HTTP date; 0 when absent.
	RetryAfter time.Duration
}

// Error describes e.
func (e *STSError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "caracal mandate: STS returned HTTP %d", e.StatusCode)
	switch {
	case e.Code == "":
	case strings.IndexFunc(e.Code, stsNotCodeChar) < 0:
		fmt.Fprintf(&b, " %s", e.Code)
	default:
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
	return b.String()
}

// stsNotCodeChar reports whether r may not appear unquoted in an error
// code.
func stsNotCodeChar(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' ||
		'0' <= r && r <= '9' || r == '_' || r == '.' || r == '-' || r == ':')
}

// Retryable reports whether the SDKs treat e as transient (Caracal
// protocol §5.2): code sts_unavailable, or status 408, 425, 429 or 5xx.
//
// Nothing in this package retries an exchange on its own, whatever this
// says: when a response is lost, the STS may still have minted (and
// recorded) a mandate, and only the caller knows whether minting again is
// acceptable.
func (e *STSError) Retryable() bool {
	switch {
	case e.Code == "sts_unavailable", e.StatusCode >= 500:
		return true
	}
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly,
		http.StatusTooManyRequests:
		return true
	}
	return false
}

// ApprovalRequiredError is an approval hold (Caracal protocol §5.2): the
// STS answered 401 interaction_required and will mint only once the hold
// is approved. Wait with STSClient.WaitApproval, then repeat the same
// request with ExchangeRequest.ApprovalID set to ApprovalID.
//
// errors.Is matches it with ErrApprovalRequired, and errors.As finds the
// underlying *STSError too.
type ApprovalRequiredError struct {
	// ApprovalID identifies the hold.
	ApprovalID string
	// ApprovalType is the kind of approval asked for.
	ApprovalType string
	// State is the hold's state when the STS answered, usually "pending".
	State string
	// Tier is the approval tier, when the STS gives one.
	Tier string
	// Binding is the hex binding a federated user's decision must echo.
	Binding string
	// ExpiresAt is when the hold expires; zero when not given.
	ExpiresAt time.Time
	// Err is the STS error response that carried the hold.
	Err *STSError
}

// Error describes e.
func (e *ApprovalRequiredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "caracal mandate: approval required: approval %q",
		e.ApprovalID)
	if e.ApprovalType != "" {
		fmt.Fprintf(&b, ", type %q", e.ApprovalType)
	}
	if e.State != "" {
		fmt.Fprintf(&b, ", state %q", e.State)
	}
	if !e.ExpiresAt.IsZero() {
		fmt.Fprintf(&b, ", expires %s", e.ExpiresAt.Format(time.RFC3339))
	}
	if e.Err != nil && e.Err.RequestID != "" {
		fmt.Fprintf(&b, " (request id %q)", e.Err.RequestID)
	}
	return b.String()
}

// Is reports whether target is ErrApprovalRequired.
func (e *ApprovalRequiredError) Is(target error) bool {
	return target == ErrApprovalRequired
}

// Unwrap returns the STS error response.
func (e *ApprovalRequiredError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// STSOption configures an STSClient.
type STSOption interface {
	applySTS(stsConfig) stsConfig
}

type stsOptionFunc func(stsConfig) stsConfig

func (f stsOptionFunc) applySTS(c stsConfig) stsConfig { return f(c) }

type stsConfig struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

func newSTSConfig(opts []STSOption) stsConfig {
	c := stsConfig{
		client:  &http.Client{},
		timeout: stsDefaultTimeout,
		now:     time.Now,
	}
	for _, o := range opts {
		if o != nil {
			c = o.applySTS(c)
		}
	}
	// A redirect would replay the client secret to wherever it points.
	hc := *c.client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	c.client = &hc
	return c
}

// WithSTSHTTPClient sets the HTTP client. nil keeps the default, a client
// with http.DefaultTransport. Redirects are never followed, whatever the
// client's CheckRedirect says. The STS must receive no trace headers
// (Caracal protocol §5.1), so the client's transport should not inject
// any. A Client.Timeout, if set, also bounds WaitApproval's long poll;
// prefer WithSTSTimeout.
func WithSTSHTTPClient(c *http.Client) STSOption {
	return stsOptionFunc(func(cfg stsConfig) stsConfig {
		if c != nil {
			cfg.client = c
		}
		return cfg
	})
}

// WithSTSTimeout bounds each exchange, from sending the request to
// reading the whole response. WaitApproval gets the wait on top. A value
// that is not positive keeps the default of 10 s.
func WithSTSTimeout(d time.Duration) STSOption {
	return stsOptionFunc(func(cfg stsConfig) stsConfig {
		if d > 0 {
			cfg.timeout = d
		}
		return cfg
	})
}

// WithSTSClock sets the clock that stamps Token.IssuedAt, dates
// Retry-After and, in a MintCache, decides freshness. nil keeps time.Now.
func WithSTSClock(now func() time.Time) STSOption {
	return stsOptionFunc(func(cfg stsConfig) stsConfig {
		if now != nil {
			cfg.now = now
		}
		return cfg
	})
}

// STSClient performs token exchanges with a Caracal STS (Caracal protocol
// §5). It is safe for concurrent use.
//
// STSClient never retries on its own; see STSError.Retryable. It sends no
// Authorization header and no trace headers; the credentials travel in the
// form body only, so use an https STS URL outside a trusted network.
type STSClient struct {
	base     string
	tokenURL string
	creds    CredentialSource
	cfg      stsConfig
}

// NewSTSClient returns a client for the STS at stsURL, an absolute http or
// https URL without user info, query or fragment; the token endpoint is
// stsURL + "/oauth/2/token". creds must not be nil, and a source made by
// StaticCredentials must be complete.
func NewSTSClient(
	stsURL string,
	creds CredentialSource,
	opts ...STSOption,
) (*STSClient, error) {
	u, err := url.Parse(stsURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("caracal mandate: STS URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("caracal mandate: STS URL %q is not an "+
			"absolute http or https URL", stsURL)
	case u.User != nil:
		// Go's client would send user info as an Authorization header.
		return nil, errors.New("caracal mandate: STS URL must not " +
			"carry user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("caracal mandate: STS URL %q must not "+
			"have a query or a fragment", stsURL)
	}
	if creds == nil {
		return nil, fmt.Errorf("%w: no CredentialSource",
			ErrSTSCredentialsUnavailable)
	}
	if s, ok := creds.(staticCredentials); ok {
		if m := s.get().missing(); m != "" {
			return nil, fmt.Errorf("%w: missing %s",
				ErrSTSCredentialsUnavailable, m)
		}
	}
	base := strings.TrimRight(u.String(), "/")
	return &STSClient{
		base:     base,
		tokenURL: base + stsTokenPath,
		creds:    creds,
		cfg:      newSTSConfig(opts),
	}, nil
}

// Exchange performs one token exchange: POST {sts}/oauth/2/token with the
// form of Caracal protocol §5.1. It asks the CredentialSource first and
// fails closed with ErrSTSCredentialsUnavailable.
//
// The error is an *ApprovalRequiredError for an approval hold, an
// *STSError for any other STS error response, or wraps
// ErrExchangeInvalidRequest, ErrSTSUnreachable or ErrSTSInvalidResponse.
// No error text holds the client secret or a token, unless a
// CredentialSource's own error does.
func (c *STSClient) Exchange(
	ctx context.Context,
	req ExchangeRequest,
) (*Token, error) {
	f, err := newExchangeForm(req)
	if err != nil {
		return nil, err
	}
	creds, err := c.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return c.exchange(ctx, creds, f)
}

// credentials asks the source and checks the triple is complete.
func (c *STSClient) credentials(ctx context.Context) (STSCredentials, error) {
	creds, err := c.creds.Credentials(ctx)
	if err != nil {
		return STSCredentials{}, fmt.Errorf("%w: %w",
			ErrSTSCredentialsUnavailable, err)
	}
	if creds.ZoneID == "" || creds.ApplicationID == "" ||
		creds.ClientSecret == "" {
		return STSCredentials{}, fmt.Errorf("%w: missing %s",
			ErrSTSCredentialsUnavailable, creds.missing())
	}
	return creds, nil
}

// exchange sends f with creds and reads the answer.
func (c *STSClient) exchange(
	ctx context.Context,
	creds STSCredentials,
	f exchangeForm,
) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()

	// Build the request: form body, no query, no auth or trace headers.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL,
		strings.NewReader(f.encode(creds)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExchangeInvalidRequest, err)
	}
	req.Header.Set("Content-Type", stsFormType)
	req.Header.Set("Accept", "application/json")

	// Send it and read at most stsMaxBody bytes of the answer.
	resp, body, over, err := c.do(req)
	if err != nil {
		return nil, err
	}

	// Anything but 200 is an STS error; a 200 must satisfy §5.2.
	if resp.StatusCode != http.StatusOK {
		return nil, c.stsError(resp, body, over, creds.ClientSecret)
	}
	if over {
		return nil, fmt.Errorf("%w: body exceeds %d bytes",
			ErrSTSInvalidResponse, stsMaxBody)
	}
	return c.parseToken(resp.Header, body, creds.ClientSecret)
}

// do sends req and reads the body up to stsMaxBody; over reports a longer
// body. The body is closed.
func (c *STSClient) do(
	req *http.Request,
) (resp *http.Response, body []byte, over bool, err error) {
	resp, err = c.cfg.client.Do(req)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", ErrSTSUnreachable, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, stsMaxBody+1))
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: reading %s response: %w",
			ErrSTSUnreachable, req.Method, err)
	}
	if len(body) > stsMaxBody {
		return resp, nil, true, nil
	}
	return resp, body, false, nil
}

// stsTokenBody is the success response of Caracal protocol §5.2.
type stsTokenBody struct {
	AccessToken     string   `json:"access_token"`
	TokenType       string   `json:"token_type"`
	ExpiresIn       int64    `json:"expires_in"`
	Scope           string   `json:"scope"`
	IssuedTokenType string   `json:"issued_token_type"`
	TargetResources []string `json:"target_resources"`
}

// parseToken checks a 200 response as Caracal protocol §5.2 asks.
func (c *STSClient) parseToken(
	h http.Header,
	body []byte,
	secret string,
) (*Token, error) {
	if err := stsCheckJSON(h, secret); err != nil {
		return nil, err
	}
	var b stsTokenBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: decoding token response: %w",
			ErrSTSInvalidResponse, err)
	}
	switch {
	case b.AccessToken == "":
		return nil, fmt.Errorf("%w: empty access_token",
			ErrSTSInvalidResponse)
	case !stsBearerToken(b.AccessToken):
		// Never quote it: it is, or is close to, a credential.
		return nil, fmt.Errorf("%w: access_token is not an RFC 6750 "+
			"bearer token", ErrSTSInvalidResponse)
	case b.TokenType != "" && b.TokenType != "Bearer":
		tt := stsSanitize(b.TokenType, secret, stsMaxErrorField)
		if strings.Contains(tt, b.AccessToken) {
			tt = ""
		}
		return nil, fmt.Errorf("%w: token_type %q is not Bearer",
			ErrSTSInvalidResponse, tt)
	case b.ExpiresIn <= 0 || b.ExpiresIn > math.MaxInt64/int64(time.Second):
		return nil, fmt.Errorf("%w: expires_in %d is out of range",
			ErrSTSInvalidResponse, b.ExpiresIn)
	}
	return &Token{
		AccessToken:     b.AccessToken,
		TokenType:       b.TokenType,
		ExpiresIn:       time.Duration(b.ExpiresIn) * time.Second,
		Scope:           b.Scope,
		IssuedTokenType: b.IssuedTokenType,
		TargetResources: b.TargetResources,
		IssuedAt:        c.cfg.now(),
	}, nil
}

// stsCheckJSON accepts an absent Content-Type, application/json and any
// +json type (Caracal protocol §5.2).
func stsCheckJSON(h http.Header, secret string) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil &&
		(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return fmt.Errorf("%w: Content-Type %q is not JSON",
		ErrSTSInvalidResponse, stsSanitize(ct, secret, stsMaxErrorField))
}

// stsBearerToken reports whether s is an RFC 6750 b64token, the only
// shape that fits an Authorization header.
func stsBearerToken(s string) bool {
	i := len(s)
	for i > 0 && s[i-1] == '=' {
		i--
	}
	if i == 0 {
		return false
	}
	for j := 0; j < i; j++ {
		switch c := s[j]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// stsError turns an error response into an *STSError, or an
// *ApprovalRequiredError for an approval hold. Every text is sanitized
// against secret.
func (c *STSClient) stsError(
	resp *http.Response,
	body []byte,
	over bool,
	secret string,
) error {
	var fields map[string]json.RawMessage
	if !over {
		// A body that is not a JSON object (a proxy's HTML page) is
		// ignored; the status still tells what happened.
		_ = json.Unmarshal(body, &fields)
	}
	str := func(name string, limit int) string {
		return stsSanitize(stsJSONString(fields[name]), secret, limit)
	}
	e := &STSError{
		StatusCode:  resp.StatusCode,
		Code:        str("error", stsMaxErrorField),
		Description: str("error_description", stsMaxDescription),
		RequestID:   str("requestId", stsMaxErrorField),
	}
	if e.RequestID == "" {
		e.RequestID = str("request_id", stsMaxErrorField)
	}
	if e.RequestID == "" {
		e.RequestID = stsSanitize(resp.Header.Get("X-Request-Id"), secret,
			stsMaxErrorField)
	}
	if resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = stsRetryAfter(resp.Header.Get("Retry-After"),
			c.cfg.now())
	}

	id := str("approval_id", stsMaxErrorField)
	if resp.StatusCode != http.StatusUnauthorized ||
		e.Code != "interaction_required" || id == "" {
		return e
	}
	a := &ApprovalRequiredError{
		ApprovalID:   id,
		ApprovalType: str("approval_type", stsMaxErrorField),
		State:        str("state", stsMaxErrorField),
		Tier:         str("tier", stsMaxErrorField),
		Binding:      str("binding", stsMaxDescription),
		Err:          e,
	}
	if t, err := time.Parse(time.RFC3339,
		str("approval_expires_at", stsMaxErrorField)); err == nil {
		a.ExpiresAt = t
	}
	return a
}

// stsJSONString returns a JSON string as is and a JSON number as its
// literal; anything else gives "".
func stsJSONString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// stsRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent, malformed or in the past.
func stsRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// stsSanitize returns s clipped to limit bytes, or "" when s holds the
// client secret (raw or form-encoded) or something shaped like a JWT.
func stsSanitize(s, secret string, limit int) string {
	if s == "" {
		return ""
	}
	if secret != "" && (strings.Contains(s, secret) ||
		strings.Contains(s, url.QueryEscape(secret))) {
		return ""
	}
	if stsHasJWT(s) {
		return ""
	}
	return stsClip(s, limit)
}

// stsClip returns s as valid UTF-8 of at most limit bytes.
func stsClip(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// stsHasJWT reports whether s contains a JWS or JWE in compact form: a run
// of base64url segments separated by dots, at least three of them, the
// first of which encodes a JSON object ("eyJ…", or "ew…" when the header
// starts with whitespace).
func stsHasJWT(s string) bool {
	isB64 := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' ||
			'0' <= r && r <= '9' || r == '-' || r == '_' || r == '='
	}
	notRun := func(r rune) bool { return r != '.' && !isB64(r) }
	for _, run := range strings.FieldsFunc(s, notRun) {
		segs := strings.Split(run, ".")
		for i, seg := range segs {
			if len(segs)-i >= 3 && len(seg) >= 10 &&
				(strings.HasPrefix(seg, "ey") || strings.HasPrefix(seg, "ew")) {
				return true
			}
		}
	}
	return false
}

// stsApprovalBody is the answer to an approval long poll (§5.2).
type stsApprovalBody struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// WaitApproval long-polls the approval hold approvalID: GET
// {sts}/approvals/{id}?wait=N, where N is wait rounded up to whole seconds
// within 1..25 (ApprovalMaxWait). It returns the hold's state, one of the
// Approval… constants; when it is ApprovalApproved, repeat the held
// request with ExchangeRequest.ApprovalID set. Any other state after the
// wait, or an error, means the request must not be repeated as approved.
//
// The call is bounded by wait plus the client timeout. Errors are as for
// Exchange.
func (c *STSClient) WaitApproval(
	ctx context.Context,
	approvalID string,
	wait time.Duration,
) (state string, err error) {
	if approvalID == "" || approvalID == "." || approvalID == ".." ||
		!exchangeValidID(approvalID) {
		return "", fmt.Errorf("%w: approval id %q",
			ErrExchangeInvalidRequest, approvalID)
	}
	secs := int64((min(max(wait, time.Second), ApprovalMaxWait) +
		time.Second - 1) / time.Second)
	ctx, cancel := context.WithTimeout(ctx,
		time.Duration(secs)*time.Second+c.cfg.timeout)
	defer cancel()

	u := c.base + stsApprovalsPath + url.PathEscape(approvalID) +
		"?wait=" + strconv.FormatInt(secs, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrExchangeInvalidRequest, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, body, over, err := c.do(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", c.stsError(resp, body, over, "")
	}
	if over {
		return "", fmt.Errorf("%w: body exceeds %d bytes",
			ErrSTSInvalidResponse, stsMaxBody)
	}
	if err := stsCheckJSON(resp.Header, ""); err != nil {
		return "", err
	}
	var b stsApprovalBody
	if err := json.Unmarshal(body, &b); err != nil {
		return "", fmt.Errorf("%w: decoding approval state: %w",
			ErrSTSInvalidResponse, err)
	}
	switch {
	case b.ID != "" && b.ID != approvalID:
		return "", fmt.Errorf("%w: asked for approval %q, got %q",
			ErrSTSInvalidResponse, approvalID,
			stsSanitize(b.ID, "", stsMaxErrorField))
	case !exchangeValidItem(b.State) || len(b.State) > stsMaxErrorField:
		return "", fmt.Errorf("%w: approval state %q",
			ErrSTSInvalidResponse, stsSanitize(b.State, "", stsMaxErrorField))
	}
	return b.State, nil
}
