// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package caracalprocessor is an OpenTelemetry Collector traces processor,
// of type "caracal", for the delegation data that otelcaracal records on
// spans (the caracal.* attributes of package exporter). On each batch it
// does three things, in this order, and it never drops a span.
//
// # Credentials
//
// Every attribute of the resource, the scope, the span, its events and its
// links is checked. An attribute is a credential when a segment of its key
// (the parts between dots) ends with authorization, cookie(s), token,
// secret(s), password(s), passwd, passphrase, apikey(s), api_key(s),
// access_key, accesskey, secret_key, secretkey, private_key, privatekey,
// credential(s), bearer or jwt (ignoring ASCII case, "-" equal to "_"), or
// with a name of CredentialsConfig.Keys; when its key matches one
// of CredentialsConfig.KeyPatterns; or when its value, or any string nested
// in an array or map value, holds a JWT or a bearer token. So
// http.request.header.authorization, set-cookie, accessToken and x-api-key
// are credentials, while gen_ai.usage.input_tokens and llm.token_count are
// not. A credential attribute is dropped, or its whole value replaced by
// the mask, and counted in MetricCredentialsRemoved by location. Neither
// its value nor its key is ever logged. Byte values are not searched.
//
// # Attribution policy
//
// Baggage is unsigned, so a claimed attribution is only what a caller
// said; a verified one says the service checked a signed mandate. A
// service could as well write caracal.attribution=verified on any span,
// so the processor lets verified stand only when:
//
//   - the span's service (the service.name of its resource) is listed in
//     AttributionConfig.TrustedServices, and
//   - the span carries the attributes that only the verified claims of a
//     mandate give it: a non-empty caracal.zone.id and
//     caracal.application.id, and, under a delegation, a
//     caracal.delegation.path that ends in caracal.delegation.id, after
//     caracal.delegation.parent_id when there is one.
//
// Otherwise caracal.attribution is rewritten to claimed and
// caracal.attribution.downgraded says why (DowngradedKey). The service
// name itself is what the sender says: list a service only where the
// receiver authenticates who sends to it. A claimed span from a service
// that is not trusted keeps its caracal.* attributes with
// caracal.attribution.untrusted=true, or loses them all, as
// AttributionConfig.UntrustedClaims says.
//
// # Chains
//
// Within each trace of the batch, every delegation edge is linked to its
// parent: the signed path of a verified span wins over a trusted service's
// claimed parent id, which wins over an untrusted one's; between claims of
// one rank a parent wins over none, then the smaller id, so the result does
// not depend on the order of spans. On each attributed span that lacks
// them, the processor writes caracal.delegation.path (root first) and
// caracal.delegation.depth (DepthKey); a span that disagrees with the
// chain gets caracal.attribution.conflict (ConflictKey), for instance when
// its caracal.hop differs from the depth of its delegation.
//
// Chains can only be completed from the spans in one batch. Put a
// processor that gathers whole traces ahead of this one, such as
// groupbytrace (the distribution otelcol-caracal includes it):
//
//	processors: [memory_limiter, groupbytrace, caracal, batch]
//
// On a partial trace, a span whose chain leads to an edge no span of the
// batch acted under gets no path and no depth, since they would be
// guesses, no conflict, and is counted in MetricChainsPartial. A loop of
// parent edges, or a chain deeper than baggage.MaxHop, is flagged instead.
//
// # Configuration
//
//	processors:
//	  caracal:
//	    credentials:
//	      action: drop            # or mask
//	      mask: "[REDACTED]"
//	      keys: [x-internal-auth]
//	      key_patterns: ['^app\.signing\.']
//	      allowed_keys: []
//	    attribution:
//	      trusted_services: [research-agent, tool-api]
//	      untrusted_claims: flag  # or drop
//	    chains:
//	      enabled: true
//
// Config documents each field and its default. Errors in it are reported
// when the Collector starts, each named by its path.
package caracalprocessor // import "github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
