// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package propagator carries Caracal's authority envelope across process
// boundaries as an OpenTelemetry propagation.TextMapPropagator.
//
// Caracal is a drop-in replacement for propagation.Baggage: it reads and
// writes the whole W3C baggage header in the encoding Caracal services use
// (Caracal protocol §2.2–2.5), so the five caracal.* members and every
// third-party member travel together. Compose it after
// propagation.TraceContext, or use New, which does:
//
//	otel.SetTextMapPropagator(propagator.New())
//
// Importing this package also registers Caracal with the contrib autoprop
// registry under the name "caracal", so OTEL_PROPAGATORS=tracecontext,caracal
// works with autoprop.NewTextMapPropagator. FromEnv reads the same variable
// and, unlike autoprop, trims spaces around the names.
//
// # Security
//
// Baggage is unsigned: anyone who can send a request chooses its envelope.
// An envelope extracted here is a claim; nothing in this package checks it.
// Extract also reads an "Authorization: Bearer" credential into the context
// as the subject token (see SubjectTokenFromContext). The token never enters
// baggage, and Inject never writes Authorization.
//
// # Differences from propagation.Baggage
//
// Parsing is tolerant per member, as Caracal's SDKs are: a member without
// "=", with an empty key or with a key that is not a W3C token is dropped
// alone, and a malformed percent escape such as "broken%zz" is kept as
// literal text. propagation.Baggage instead drops such a value, and it
// reports a malformed header through otel.Handle. Caracal reports nothing:
// a bad header is caller input, and a service should not log once per
// request on its behalf. Several baggage header lines (or metadata values)
// are joined and checked together against the W3C limits of 8192 bytes and
// 64 members; a header over the limits is ignored as a whole. W3C member
// properties are not carried (Caracal never emits them).
//
// Values are written percent-encoded byte by byte, leaving only
// A–Z a–z 0–9 - . _ ~ as they are, members sorted by key: the exact header
// Caracal's own SDKs send.
package propagator // import "github.com/otelcaracal/otelcaracal/propagator"
