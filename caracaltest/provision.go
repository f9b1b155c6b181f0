// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import (
	"net/http"
	"slices"
	"time"
)

// Delegation describes an edge for NewDelegation.
type Delegation struct {
	// Source is the issuing session; Target the receiving one.
	Source, Target string
	// Parent is the edge the source holds, if any.
	Parent string
	// Resource is a resource identifier the edge is for, if any.
	Resource string
	// Scopes are the scopes the edge grants.
	Scopes []string
	// Constraints are the edge's constraints; Resources or Resource must
	// name at least one resource.
	Constraints Constraints
	// TTL is the edge's life. Zero means one hour.
	TTL time.Duration
}

// NewSession starts a live task session of the application directly, as
// the coordinator would, under parent if it is not empty, and returns its
// id. Tests and examples use it to set up a scenario without a client.
func (s *Server) NewSession(parent string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := &session{
		id: s.nextIDLocked("session"), application: s.ApplicationID, lifecycle: LifecycleTask,
		status: "active", expires: s.cfg.now().Add(time.Hour),
	}
	if parent != "" {
		p, err := s.liveSessionLocked(parent)
		if err != nil {
			return "", err
		}
		p.children++
		ses.parent, ses.depth = p.id, p.depth+1
	}
	s.sessions[ses.id] = ses
	return ses.id, nil
}

// NewDelegation creates a live delegation edge directly, with the checks of
// the coordinator's create call, and returns its id.
func (s *Server) NewDelegation(d Delegation) (string, error) {
	if d.TTL == 0 {
		d.TTL = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Resource == "" && len(d.Constraints.Resources) == 0 {
		return "", fail(http.StatusForbidden, "broad_delegation_permission_required", "delegation names no resource")
	}
	for _, id := range []string{d.Source, d.Target} {
		if _, err := s.liveSessionLocked(id); err != nil {
			return "", err
		}
	}
	e := &edge{
		id: s.nextIDLocked("edge"), source: d.Source, target: d.Target, issuer: s.ApplicationID,
		receiver: s.ApplicationID, parent: d.Parent, resource: d.Resource, scopes: slices.Clone(d.Scopes),
		constraints: d.Constraints, expires: s.cfg.now().Add(d.TTL),
	}
	if err := s.checkParentLocked(e); err != nil {
		return "", err
	}
	s.edges[e.id] = e
	s.epoch++
	return e.id, nil
}
