// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package baggage holds Caracal's authority envelope as typed members of
// OpenTelemetry baggage.
//
// The envelope is five W3C baggage members: the agent session
// (caracal.agent_session), the current delegation edge
// (caracal.delegation_edge), the edge held before it (caracal.parent_edge),
// the subject authority record (caracal.session) and the delegation depth
// (caracal.hop). They live in the go.opentelemetry.io/otel/baggage.Baggage
// of a context.Context beside any third-party members, so anything that
// already carries OpenTelemetry baggage carries the envelope too.
//
// Baggage is unsigned. Whoever sends a request chooses its baggage, so an
// Envelope read from a request is a claim, never proof of authority. Only
// the claims of a verified mandate count as verified.
//
// # Usage
//
//	ctx, err := baggage.ContextWithEnvelope(ctx, baggage.Envelope{
//		AgentSession: "session-planner",
//	})
//	...
//	// The receiver of delegation edge-1 takes it on:
//	ctx, err = baggage.AcceptDelegation(ctx, "edge-1")
//	env := baggage.FromContext(ctx) // Hop 1, DelegationEdge "edge-1"
package baggage // import "github.com/otelcaracal/otelcaracal/baggage"
