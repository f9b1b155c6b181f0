// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

type delegationRequest struct {
	IssuerApplicationID   string          `json:"issuer_application_id"`
	SourceSessionID       string          `json:"source_session_id"`
	TargetSessionID       string          `json:"target_session_id"`
	ReceiverApplicationID string          `json:"receiver_application_id"`
	Scopes                []string        `json:"scopes"`
	ResourceID            string          `json:"resource_id"`
	ParentEdgeID          string          `json:"parent_edge_id"`
	Constraints           json.RawMessage `json:"constraints"`
	TTLSeconds            int             `json:"ttl_seconds"`
	ExpiresAt             string          `json:"expires_at"`
}

// createDelegation is POST /zones/{zone}/delegations (§4.8).
func (s *Server) createDelegation(c *coordinatorCall) (int, any, error) {
	var req delegationRequest
	if err := c.decode(&req); err != nil {
		return 0, nil, err
	}
	cons, err := decodeConstraints(req.Constraints)
	if err != nil {
		return 0, nil, err
	}
	if req.IssuerApplicationID != c.claims.ClientID {
		return 0, nil, fail(http.StatusForbidden, "issuer_ownership_required", "not the caller's application")
	}
	if req.SourceSessionID == "" || req.TargetSessionID == "" || req.ReceiverApplicationID == "" {
		return 0, nil, fail(http.StatusBadRequest, "invalid_body", "missing required field")
	}
	if req.SourceSessionID == req.TargetSessionID {
		return 0, nil, fail(http.StatusBadRequest, "self_delegation_denied", "source and target are the same")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	expires, err := s.expiry(req, &cons)
	if err != nil {
		return 0, nil, err
	}
	if req.ResourceID == "" && len(cons.Resources) == 0 {
		return 0, nil, fail(http.StatusForbidden, "broad_delegation_permission_required", "delegation names no resource")
	}
	for _, id := range []string{req.SourceSessionID, req.TargetSessionID} {
		if _, err := s.liveSessionLocked(id); err != nil {
			return 0, nil, err
		}
	}
	e := &edge{
		id: s.nextIDLocked("edge"), source: req.SourceSessionID, target: req.TargetSessionID,
		issuer: req.IssuerApplicationID, receiver: req.ReceiverApplicationID, parent: req.ParentEdgeID,
		resource: req.ResourceID, scopes: slices.Clone(req.Scopes), constraints: cons, expires: expires,
	}
	if err := s.checkParentLocked(e); err != nil {
		return 0, nil, err
	}
	s.edges[e.id] = e
	s.epoch++
	return http.StatusCreated, s.edgeBody(e), nil
}

// decodeConstraints decodes constraints strictly: unknown keys and out of
// range values are refused.
func decodeConstraints(raw json.RawMessage) (Constraints, error) {
	var c Constraints
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fail(http.StatusBadRequest, "invalid_delegation_constraint", "unknown or malformed constraint")
	}
	switch {
	case c.MaxDepth != 0 && c.MaxHops != 0 && c.MaxDepth != c.MaxHops:
		return c, fail(http.StatusBadRequest, "invalid_delegation_constraint", "max_depth and max_hops differ")
	case c.MaxDepth < 0 || c.MaxDepth > maxDepth || c.MaxHops < 0 || c.MaxHops > maxDepth:
		return c, fail(http.StatusBadRequest, "invalid_delegation_constraint", "max_hops out of range")
	case c.TTLSeconds < 0 || c.TTLSeconds > maxTTLSeconds, c.Budget < 0 || c.Budget > 64:
		return c, fail(http.StatusBadRequest, "invalid_delegation_constraint", "value out of range")
	case len(c.Resources) > 64:
		return c, fail(http.StatusBadRequest, "invalid_delegation_constraint", "too many resources")
	}
	if c.MaxHops == 0 {
		c.MaxHops = c.MaxDepth
	}
	return c, nil
}

// expiry returns when the new edge expires; one of expires_at and
// ttl_seconds is required.
func (s *Server) expiry(req delegationRequest, c *Constraints) (time.Time, error) {
	if c.TTLSeconds == 0 {
		c.TTLSeconds = req.TTLSeconds
	}
	at := req.ExpiresAt
	if at == "" {
		at = c.ExpiresAt
	}
	now := s.cfg.now()
	var exp time.Time
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return exp, fail(http.StatusBadRequest, "invalid_expires_at", "expires_at is not RFC 3339")
		}
		exp = t
	}
	if req.TTLSeconds > 0 {
		if t := now.Add(time.Duration(req.TTLSeconds) * time.Second); exp.IsZero() || t.Before(exp) {
			exp = t
		}
	}
	switch {
	case exp.IsZero():
		return exp, fail(http.StatusBadRequest, "delegation_expiry_required", "ttl_seconds or expires_at required")
	case !exp.After(now):
		return exp, fail(http.StatusBadRequest, "delegation_expired", "expiry in the past")
	}
	return exp, nil
}

// checkParentLocked checks that e stays within the edge its source holds.
func (s *Server) checkParentLocked(e *edge) error {
	if e.parent == "" {
		return nil
	}
	p := s.edges[e.parent]
	if p == nil || p.revoked || !p.expires.After(s.cfg.now()) || p.target != e.source {
		return fail(http.StatusForbidden, "parent_delegation_not_active", "parent delegation is not held by the source")
	}
	for _, sc := range e.scopes {
		if !slices.Contains(p.scopes, sc) {
			return fail(http.StatusForbidden, "delegation_exceeds_parent_authority", "scope beyond the parent's")
		}
	}
	for _, r := range append(slices.Clone(e.constraints.Resources), e.resource) {
		if r != "" && !p.allowsResource(r) {
			return fail(http.StatusForbidden, "delegation_exceeds_parent_authority", "resource beyond the parent's")
		}
	}
	if e.expires.After(p.expires) {
		e.expires = p.expires
	}
	return nil
}

func (s *Server) edgeBody(e *edge) map[string]any {
	cons, _ := json.Marshal(e.constraints)
	status := "active"
	if e.revoked {
		status = "revoked"
	}
	return map[string]any{
		"delegation_edge_id":      e.id,
		"scopes":                  e.scopes,
		"expires_at":              e.expires.UTC().Format(time.RFC3339),
		"zone_id":                 s.ZoneID,
		"source_session_id":       e.source,
		"target_session_id":       e.target,
		"issuer_application_id":   e.issuer,
		"receiver_application_id": e.receiver,
		"parent_edge_id":          nullable(e.parent),
		"resource_id":             nullable(e.resource),
		"constraints_json":        json.RawMessage(cons),
		"status":                  status,
		"edge_version":            1,
		"warnings":                []string{},
	}
}

// revokeDelegation is PATCH /zones/{zone}/delegations/{id}/revoke (§4.9):
// the edge and every edge chained below it.
func (s *Server) revokeDelegation(c *coordinatorCall) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	root := s.edges[c.r.PathValue("id")]
	switch {
	case root == nil:
		return 0, nil, fail(http.StatusNotFound, "delegation_not_found", "no such delegation")
	case root.issuer != c.claims.ClientID:
		return 0, nil, fail(http.StatusForbidden, "issuer_ownership_required", "not the caller's delegation")
	}
	n, sessions := s.revokeEdgeLocked(root, map[string]bool{})
	s.epoch++
	return http.StatusOK, map[string]any{
		"revoked_edges": n, "affected_sessions": len(sessions), "terminated_sessions": 0,
	}, nil
}

func (s *Server) revokeEdgeLocked(e *edge, sessions map[string]bool) (int, map[string]bool) {
	n := 0
	if !e.revoked {
		e.revoked, n = true, 1
		s.revoked[e.id] = true
		sessions[e.target] = true
	}
	for _, child := range s.edges {
		if child.parent == e.id && !child.revoked {
			m, _ := s.revokeEdgeLocked(child, sessions)
			n += m
		}
	}
	return n, sessions
}

// RevokeDelegation revokes the edge id and the edges chained below it, as
// the coordinator's revoke call does. It reports whether the edge exists.
func (s *Server) RevokeDelegation(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.edges[id]
	if e == nil {
		return false
	}
	s.revokeEdgeLocked(e, map[string]bool{})
	s.epoch++
	return true
}

// inboundDelegation is GET /zones/{zone}/delegations/inbound/{session}/{id}.
func (s *Server) inboundDelegation(c *coordinatorCall) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.edges[c.r.PathValue("id")]
	if e == nil || e.target != c.r.PathValue("session") || e.revoked || !e.expires.After(s.cfg.now()) {
		return 0, nil, fail(http.StatusNotFound, "delegation_not_found", "no live inbound delegation")
	}
	return http.StatusOK, map[string]any{"id": e.id, "status": "active"}, nil
}

// inboundDelegations is GET /zones/{zone}/delegations/inbound/{session}.
func (s *Server) inboundDelegations(c *coordinatorCall) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []map[string]any{}
	for _, e := range s.edges {
		if e.target == c.r.PathValue("session") && !e.revoked && e.expires.After(s.cfg.now()) {
			items = append(items, map[string]any{
				"id": e.id, "status": "active", "expires_at": e.expires.UTC().Format(time.RFC3339),
			})
		}
	}
	slices.SortFunc(items, func(a, b map[string]any) int {
		return strings.Compare(a["id"].(string), b["id"].(string))
	})
	return http.StatusOK, map[string]any{"items": items, "next_cursor": nil}, nil
}
