// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/internal/httppath"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// Gateway limits (Caracal protocol §7.3–7.5).
const (
	maxBearerBytes   = 4096
	minRemainingLife = 35 * time.Second
	maxRequestBytes  = 10 << 20
	resourceTTL      = 5 * time.Minute
)

// tokenIDPattern is what zone_id and client_id must look like before the
// signature is checked (§7.3 step 6).
var tokenIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// hopByHop are the headers a proxy never forwards (§7.4).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// gatewayRequest is one request through the Gateway.
type gatewayRequest struct {
	w       http.ResponseWriter
	r       *http.Request
	id      string
	claims  *mandate.Claims
	expires time.Time
}

func (g *gatewayRequest) fail(status int, code, description string) {
	writeError(g.w, status, code, description, g.id)
}

// serveGateway applies the Gateway's checks in order (§7.3), exchanges the
// gateway mandate for a resource mandate and proxies to the upstream.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	s.count("gateway")
	g := &gatewayRequest{w: w, r: r, id: requestID(r.Header.Get("X-Request-Id"))}

	// Steps 2–7: the request's shape, before any signature work.
	tok, ok := g.bearer()
	if !ok {
		return
	}
	if !g.peek(tok, s.cfg.now()) {
		return
	}
	if r.Header.Get("X-Caracal-Client-ID") != "" {
		g.fail(http.StatusBadRequest, "invalid_token", "identity comes from the token")
		return
	}
	resource := strings.TrimSpace(r.Header.Get("X-Caracal-Resource"))
	if resource == "" {
		g.fail(http.StatusBadRequest, "invalid_token", "missing routing headers")
		return
	}
	if httppath.HasTraversal(r.URL.EscapedPath()) {
		g.fail(http.StatusBadRequest, "invalid_token", "path traversal")
		return
	}

	// Steps 8–10: signature, replay and revocation.
	if !s.verifyGatewayMandate(g, tok) {
		return
	}

	// Step 12: the exchange for a resource mandate.
	upstream, resTok, err := s.exchangeResource(g.claims, resource)
	if err != nil {
		var se *stsError
		if errors.As(err, &se) {
			g.fail(se.status, se.code, se.description)
		} else {
			g.fail(http.StatusBadGateway, "sts_unavailable", "sts response invalid")
		}
		return
	}
	s.proxy(g, upstream, resTok)
}

// bearer reads the bearer token (§7.3 step 2).
func (g *gatewayRequest) bearer() (string, bool) {
	auth := g.r.Header.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "Bearer ") {
		g.fail(http.StatusUnauthorized, "invalid_token", "missing bearer token")
		return "", false
	}
	tok := strings.TrimSpace(auth[7:])
	switch {
	case tok == "":
		g.fail(http.StatusUnauthorized, "invalid_token", "missing bearer token")
		return "", false
	case len(tok) > maxBearerBytes:
		g.fail(http.StatusUnauthorized, "invalid_token", "bearer token too large")
		return "", false
	}
	return tok, true
}

// peek reads exp, zone_id and client_id without verifying (§7.3 steps 3
// and 6); the signature is checked later.
func (g *gatewayRequest) peek(tok string, now time.Time) bool {
	var c jwt.MapClaims
	// An unknown alg is an error that still returns the decoded claims:
	// the signature check refuses it later.
	t, _, _ := jwt.NewParser().ParseUnverified(tok, &c)
	var exp *jwt.NumericDate
	err := errors.New("malformed")
	if t != nil {
		exp, err = c.GetExpirationTime()
	}
	if err != nil || exp == nil {
		g.fail(http.StatusUnauthorized, "invalid_token", "malformed bearer token")
		return false
	}
	g.expires = exp.Time
	if g.expires.Sub(now) < minRemainingLife {
		g.fail(http.StatusUnauthorized, "credential_expired_not_renewable", "mandate expires too soon")
		return false
	}
	zone, _ := c["zone_id"].(string)
	client, _ := c["client_id"].(string)
	if !tokenIDPattern.MatchString(zone) {
		g.fail(http.StatusUnauthorized, "invalid_token", "missing token zone")
		return false
	}
	if !tokenIDPattern.MatchString(client) {
		g.fail(http.StatusUnauthorized, "invalid_token", "missing token client")
		return false
	}
	return true
}

func (s *Server) verifyGatewayMandate(g *gatewayRequest, tok string) bool {
	v, err := s.Verifier(s.Issuer(),
		mandate.WithAllowedUses(mandate.UseGateway, mandate.UseSession, mandate.UseResource),
		mandate.WithClock(s.cfg.now))
	if err != nil {
		g.fail(http.StatusInternalServerError, "internal_error", "verifier unavailable")
		return false
	}
	c, err := v.Verify(g.r.Context(), tok)
	switch {
	case errors.Is(err, mandate.ErrSessionRevoked):
		g.fail(http.StatusUnauthorized, "invalid_token", "session revoked")
		return false
	case err != nil:
		g.fail(http.StatusUnauthorized, "invalid_token", "bearer signature invalid")
		return false
	}
	g.claims = c
	if c.Use == mandate.UseSession {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	for jti, exp := range s.seenJTI {
		if now.After(exp) {
			delete(s.seenJTI, jti)
		}
	}
	if _, seen := s.seenJTI[c.ID]; seen {
		g.fail(http.StatusUnauthorized, "invalid_token", "token replay detected")
		return false
	}
	s.seenJTI[c.ID] = c.ExpiresAt.Time
	return true
}

// exchangeResource mints the use=resource mandate for the upstream, as the
// STS does for the Gateway's HMAC-signed exchange.
func (s *Server) exchangeResource(sub *mandate.Claims, resource string) (*Resource, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.Use != mandate.UseGateway {
		return nil, "", deny(http.StatusForbidden, "access_denied", "gateway mandate required")
	}
	if !sub.HasTarget(resource) {
		return nil, "", deny(http.StatusForbidden, "access_denied", "policy denied (resource_outside_delegation)")
	}
	res := s.resources[resource]
	if res == nil || res.Upstream == "" {
		return nil, "", deny(http.StatusForbidden, "access_denied", "resource upstream not configured")
	}
	if sub.DelegationEdgeID != "" {
		if _, err := s.liveEdgeLocked(sub.DelegationEdgeID); err != nil {
			return nil, "", err
		}
	}
	c := *sub
	c.Use, c.Target, c.RootSID, c.SID = mandate.UseResource, []string{resource}, sub.RootSID, ""
	ttl := min(resourceTTL, time.Until(sub.ExpiresAt.Time))
	tok, err := s.issueLocked(&c, []string{resource}, ttl)
	return res, tok, err
}

// proxy forwards the request to the upstream (§7.4) and streams the
// response back (§7.5).
func (s *Server) proxy(g *gatewayRequest, res *Resource, tok string) {
	up, err := url.Parse(res.Upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.User != nil {
		g.fail(http.StatusBadGateway, "internal_error", "upstream not addressable")
		return
	}
	target := *up
	target.Path = strings.TrimRight(up.Path, "/") + "/" + strings.TrimLeft(g.r.URL.Path, "/")
	target.RawPath = ""
	q := g.r.URL.Query()
	for k, v := range up.Query() {
		q[k] = v
	}
	target.RawQuery, target.Fragment = q.Encode(), ""

	ctx, cancel := context.WithTimeout(g.r.Context(), 30*time.Second)
	defer cancel()
	body := http.MaxBytesReader(nil, g.r.Body, maxRequestBytes)
	out, err := http.NewRequestWithContext(ctx, g.r.Method, target.String(), body)
	if err != nil {
		g.fail(http.StatusBadGateway, "internal_error", "upstream not addressable")
		return
	}
	out.Header = upstreamHeaders(g.r, tok, g.id)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(out)
	if err != nil {
		g.fail(http.StatusBadGateway, "internal_error", "upstream unreachable")
		return
	}
	defer resp.Body.Close()
	h := g.w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	for _, k := range append(hopByHop, "X-Caracal-Identity", "Server", "X-Powered-By",
		"X-Aspnet-Version", "X-Aspnetmvc-Version", "Refresh") {
		h.Del(k)
	}
	for _, k := range []string{"Location", "Content-Location"} {
		if u, err := url.Parse(h.Get(k)); err == nil && (u.IsAbs() || u.Host != "") {
			h.Del(k)
		}
	}
	h.Set("X-Request-Id", g.id)
	h.Set("X-Caracal-Token-Expires-In", strconv.Itoa(int(time.Until(g.expires)/time.Second)))
	g.w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(g.w, resp.Body)
}

// upstreamHeaders returns the headers sent to the upstream (§7.4).
func upstreamHeaders(r *http.Request, tok, id string) http.Header {
	h := r.Header.Clone()
	for _, k := range strings.Split(h.Get("Connection"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			h.Del(k)
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Caracal-") || strings.HasPrefix(k, "X-Forwarded-") {
			delete(h, k)
		}
	}
	h.Del("Forwarded")
	h.Del("X-Real-Ip")
	stripCaracalBaggage(h)
	h.Set("Authorization", "Bearer "+tok)
	h.Set("X-Request-Id", id)
	in := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
	sc := trace.SpanContextFromContext(in)
	if !sc.IsValid() {
		h.Set("Traceparent", "00-"+randomHex(16)+"-"+randomHex(8)+"-01")
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", host)
	}
	h.Set("X-Forwarded-Proto", "http")
	h.Set("X-Forwarded-Host", r.Host)
	return h
}

// stripCaracalBaggage removes every baggage member whose key starts with
// "caracal.", keeping the others verbatim (§7.4).
func stripCaracalBaggage(h http.Header) {
	var kept []string
	for _, line := range h.Values("Baggage") {
		for m := range strings.SplitSeq(line, ",") {
			k, _, _ := strings.Cut(m, "=")
			if !strings.HasPrefix(strings.TrimSpace(k), "caracal.") && strings.TrimSpace(m) != "" {
				kept = append(kept, m)
			}
		}
	}
	h.Del("Baggage")
	if len(kept) > 0 {
		h.Set("Baggage", strings.Join(kept, ","))
	}
}

// requestID keeps an inbound X-Request-Id of 1–128 printable ASCII
// characters, or makes a new one (§7.5).
func requestID(in string) string {
	if len(in) >= 1 && len(in) <= 128 {
		ok := true
		for i := 0; i < len(in); i++ {
			ok = ok && in[i] >= 0x21 && in[i] <= 0x7e
		}
		if ok {
			return in
		}
	}
	return randomHex(16)
}
