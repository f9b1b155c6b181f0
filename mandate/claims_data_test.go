// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"time"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// Protocol vectors shared by the claims, verifier, fuzz and benchmark
// tests.

// claimsFixture is the interoperability fixture jwt-claims.resource.valid.json
// of the Caracal protocol notes (§10.1), byte for byte.
const claimsFixture = `{
  "iss": "https://sts.example.com",
  "sub": "user-1",
  "aud": "resource://api",
  "exp": 1790000300,
  "iat": 1790000000,
  "jti": "018f7d6a-8f4a-7d9f-9a54-5e4fd7df0001",
  "zone_id": "zone-1",
  "client_id": "app-1",
  "scope": "read write",
  "sid": "authority-record-1",
  "root_sid": "authority-record-root",
  "use": "resource",
  "sub_type": "user",
  "target": ["resource://api"],
  "agent_session_id": "session-child",
  "delegation_edge_id": "delegation-1",
  "source_session_id": "session-parent",
  "target_session_id": "session-child",
  "delegation_path": ["delegation-1"],
  "delegation_chain": [
    {
      "application_id": "app-parent",
      "agent_session_id": "session-parent",
      "delegation_edge_id": "delegation-1"
    },
    {
      "application_id": "app-1",
      "agent_session_id": "session-child"
    }
  ],
  "hop_count": 1,
  "delegation_graph_epoch": 7
}`

// The values of claimsFixture that the verifier tests configure.
const (
	fixtureIssuer   = "https://sts.example.com"
	fixtureZone     = "zone-1"
	fixtureAudience = "resource://api"
)

// fixtureNow lies between the fixture's iat (1790000000) and exp
// (1790000300).
var fixtureNow = time.Unix(1790000100, 0)

// fixtureEnvelope is the projection of claimsFixture (Caracal protocol §3):
// a one-edge path has no parent edge.
var fixtureEnvelope = baggage.Envelope{
	AgentSession:   "session-child",
	DelegationEdge: "delegation-1",
	SubjectRecord:  "authority-record-1",
	Hop:            1,
}
