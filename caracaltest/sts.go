// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// Limits of the STS (Caracal protocol §5.1, §5.3).
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	maxFormBytes       = 64 << 10
	defaultTTL         = 15 * time.Minute
	maxTTL             = 60 * time.Minute
	issuedTokenType    = "urn:ietf:params:oauth:token-type:access_token"
)

// stsError is a refusal with its HTTP status and error code.
type stsError struct {
	status            int
	code, description string
}

func (e *stsError) Error() string { return e.code + ": " + e.description }

func deny(status int, code, description string) error {
	return &stsError{status, code, description}
}

// serveToken is POST /oauth/2/token (Caracal protocol §5).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, err := s.exchange(r)
	var hold *approvalHold
	if errors.As(err, &hold) {
		w.Header().Set("WWW-Authenticate", `Bearer error="interaction_required"`)
		writeJSON(w, http.StatusUnauthorized, hold.body())
		return
	}
	if err != nil {
		var se *stsError
		if !errors.As(err, &se) {
			se = &stsError{http.StatusInternalServerError, "internal_error", "internal error"}
		}
		writeError(w, se.status, se.code, se.description, r.Header.Get("X-Request-Id"))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) exchange(r *http.Request) (map[string]any, error) {
	form, err := readForm(r)
	if err != nil {
		return nil, err
	}
	if form.Get("grant_type") != grantTokenExchange {
		return nil, deny(http.StatusBadRequest, "invalid_token", "unsupported grant_type")
	}
	if form.Has("actor_token") || form.Has("client_assertion") || form.Has("client_assertion_type") {
		return nil, deny(http.StatusBadRequest, "invalid_token", "unsupported parameter")
	}
	if err := s.authenticate(form); err != nil {
		return nil, err
	}
	if form.Has("subject_token") {
		return nil, deny(http.StatusForbidden, "access_denied", "resource exchanges must use the Gateway")
	}
	ttl, err := requestedTTL(form.Get("ttl_seconds"))
	if err != nil {
		return nil, err
	}
	resources := form["resource"]
	for i, res := range resources {
		if resources[i] = strings.TrimSpace(res); resources[i] == "" {
			return nil, deny(http.StatusBadRequest, "invalid_token", "empty resource")
		}
	}
	slices.Sort(resources)
	resources = slices.Compact(resources)
	if len(resources) == 0 {
		return nil, deny(http.StatusBadRequest, "invalid_token", "missing resource")
	}
	scopes := strings.Fields(form.Get("scope"))
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, res := range resources {
		if s.resources[res] == nil {
			return nil, deny(http.StatusForbidden, "access_denied", "policy denied (resource_not_found)")
		}
	}
	c := &mandate.Claims{Scope: strings.Join(scopes, " "), Target: resources}
	session, edgeID := form.Get("agent_session_id"), form.Get("delegation_edge_id")
	switch {
	case session == "" && edgeID != "":
		return nil, deny(http.StatusForbidden, "access_denied", "delegation requires an agent session")
	case session == "":
		if c.Scope != LifecycleScope {
			return nil, deny(http.StatusForbidden, "access_denied", "policy denied (operation_not_permitted)")
		}
		c.Use = mandate.UseSession
	case edgeID == "":
		if _, err := s.liveSessionLocked(session); err != nil {
			return nil, err
		}
		c.Use, c.AgentSessionID = mandate.UseSession, session
	default:
		explicit := form.Get("ttl_seconds") != "" && form.Get("ttl_seconds") != "0"
		if ttl, err = s.bindDelegationLocked(c, session, edgeID, ttl, explicit); err != nil {
			return nil, err
		}
		if err := s.holdLocked(form, resources); err != nil {
			return nil, err
		}
	}
	tok, err := s.issueLocked(c, []string{s.Issuer()}, ttl)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"access_token":      tok,
		"token_type":        "Bearer",
		"expires_in":        int(ttl / time.Second),
		"issued_token_type": issuedTokenType,
		"target_resources":  resources,
	}
	if c.Scope != "" {
		resp["scope"] = c.Scope
	}
	return resp, nil
}

// readForm reads the form body with the STS's request rules (§5.1).
func readForm(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, deny(http.StatusMethodNotAllowed, "invalid_request", "POST only")
	}
	if r.URL.RawQuery != "" {
		return nil, deny(http.StatusBadRequest, "invalid_request", "query string not allowed")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, deny(http.StatusUnsupportedMediaType, "invalid_request", "form body required")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return nil, deny(http.StatusBadRequest, "invalid_request", "unreadable body")
	}
	if len(body) > maxFormBytes {
		return nil, deny(http.StatusRequestEntityTooLarge, "payload_too_large", "body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, deny(http.StatusBadRequest, "invalid_token", "malformed form")
	}
	for k, v := range form {
		if k != "resource" && len(v) > 1 {
			return nil, deny(http.StatusBadRequest, "invalid_token", "duplicate form field")
		}
	}
	return form, nil
}

func (s *Server) authenticate(form url.Values) error {
	secretOK := subtle.ConstantTimeCompare([]byte(form.Get("client_secret")), []byte(s.ClientSecret)) == 1
	if !secretOK || form.Get("application_id") != s.ApplicationID {
		return deny(http.StatusUnauthorized, "access_denied", "invalid client credentials")
	}
	if form.Get("zone_id") != s.ZoneID {
		return deny(http.StatusForbidden, "zone_invalid", "credentials are for another zone")
	}
	return nil
}

func requestedTTL(raw string) (time.Duration, error) {
	if raw == "" {
		return defaultTTL, nil
	}
	n, err := strconv.Atoi(raw)
	switch {
	case err != nil:
		return 0, deny(http.StatusBadRequest, "invalid_token", "ttl_seconds must be an integer")
	case n < 0:
		return 0, deny(http.StatusBadRequest, "invalid_token", "ttl_seconds must be positive")
	case n == 0:
		return defaultTTL, nil
	case time.Duration(n)*time.Second > maxTTL:
		return 0, deny(http.StatusBadRequest, "invalid_token", "ttl_seconds exceeds token TTL cap")
	}
	return time.Duration(n) * time.Second, nil
}

// bindDelegationLocked fills c for a delegated mint (use=gateway) and
// returns the TTL clamped to the edge (§5.3).
func (s *Server) bindDelegationLocked(
	c *mandate.Claims,
	session, edgeID string,
	ttl time.Duration,
	explicit bool,
) (time.Duration, error) {
	if c.Scope == LifecycleScope || slices.Contains(strings.Fields(c.Scope), LifecycleScope) {
		return 0, deny(http.StatusForbidden, "access_denied", "policy denied (operation_not_permitted)")
	}
	e, err := s.liveEdgeLocked(edgeID)
	if err != nil {
		return 0, err
	}
	if e.target != session {
		return 0, deny(http.StatusForbidden, "access_denied", "delegation is not bound to the session")
	}
	if _, err := s.liveSessionLocked(session); err != nil {
		return 0, err
	}
	for _, sc := range strings.Fields(c.Scope) {
		if !slices.Contains(e.scopes, sc) {
			return 0, deny(http.StatusForbidden, "access_denied", "policy denied (scope_mismatch)")
		}
	}
	for _, res := range c.Target {
		if !e.allowsResource(res) {
			return 0, deny(http.StatusForbidden, "access_denied", "policy denied (resource_outside_delegation)")
		}
	}
	path, chain, err := s.lineageLocked(e)
	if err != nil {
		return 0, err
	}
	// A requested TTL above the edge's cap is refused; the default one is
	// capped at issuance (§5.3).
	if edgeCap := time.Duration(e.constraints.TTLSeconds) * time.Second; edgeCap > 0 && ttl > edgeCap {
		if explicit {
			return 0, deny(http.StatusForbidden, "access_denied", "policy denied (ttl exceeds delegation)")
		}
		ttl = edgeCap
	}
	ttl = min(ttl, e.expires.Sub(s.cfg.now()))
	c.Use = mandate.UseGateway
	c.AgentSessionID, c.DelegationEdgeID = session, e.id
	c.SourceSessionID, c.TargetSessionID = e.source, e.target
	c.DelegationPath, c.DelegationChain, c.HopCount = path, chain, len(path)
	c.DelegationGraphEpoch = s.epoch
	return ttl, nil
}

// lineageLocked returns the edge ids from the root to e and the chain of
// applications along them, checking every edge is live and no lineage is
// longer than an edge on it allows (§4.8 max_hops).
func (s *Server) lineageLocked(e *edge) ([]string, []mandate.ChainHop, error) {
	var rev []*edge
	for cur := e; cur != nil; {
		if len(rev) > maxDepth {
			return nil, nil, deny(http.StatusForbidden, "access_denied", "policy denied (lineage too long)")
		}
		rev = append(rev, cur)
		if cur.parent == "" {
			break
		}
		p, err := s.liveEdgeLocked(cur.parent)
		if err != nil {
			return nil, nil, err
		}
		cur = p
	}
	slices.Reverse(rev)
	path := make([]string, len(rev))
	chain := make([]mandate.ChainHop, 0, len(rev)+1)
	for i, ed := range rev {
		if len(rev)-i > ed.maxHops() {
			return nil, nil, deny(http.StatusForbidden, "access_denied", "policy denied (max_hops exceeded)")
		}
		path[i] = ed.id
		chain = append(chain, mandate.ChainHop{
			ApplicationID: ed.issuer, AgentSessionID: ed.source, DelegationEdgeID: ed.id,
		})
	}
	chain = append(chain, mandate.ChainHop{ApplicationID: e.receiver, AgentSessionID: e.target})
	return path, chain, nil
}

// issueLocked completes and signs c for ttl from now.
func (s *Server) issueLocked(c *mandate.Claims, aud []string, ttl time.Duration) (string, error) {
	now := s.cfg.now().Truncate(time.Second)
	c.Issuer, c.Audience, c.Subject = s.Issuer(), aud, s.ApplicationID
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(ttl))
	c.ID = randomHex(16)
	c.ZoneID, c.ClientID = s.ZoneID, s.ApplicationID
	c.SubjectType = mandate.SubjectTypeApplication
	c.SID = s.nextIDLocked("record")
	if c.RootSID == "" {
		c.RootSID = c.SID
	}
	return s.signLocked(c)
}
