// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter_test

import (
	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/exporter"
)

// twoHopTraceID is the trace of the two-hop scenario.
const twoHopTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// twoHopSpan is one span of the two-hop scenario: a planner session
// delegates edge-1 to a research session, which delegates edge-2 on to a
// fetch session that calls a tool API.
type twoHopSpan struct {
	service string
	name    string
	env     baggage.Envelope
}

var (
	plannerEnv  = baggage.Envelope{AgentSession: "session-planner"}
	researchEnv = baggage.Envelope{
		AgentSession:   "session-research",
		DelegationEdge: "edge-1",
		Hop:            1,
	}
	fetchEnv = baggage.Envelope{
		AgentSession:   "session-fetch",
		DelegationEdge: "edge-2",
		ParentEdge:     "edge-1",
		Hop:            2,
	}
)

var twoHopSpans = []twoHopSpan{
	{"planner", "plan", plannerEnv},
	{"planner", "delegate research", plannerEnv},
	{"research", "research", researchEnv},
	{"research", "delegate fetch", researchEnv},
	{"research", "fetch", fetchEnv},
	{"tool-api", "GET /data", fetchEnv},
}

// twoHopRecords returns the two-hop scenario as SpanRecords with the
// attributes SpanProcessor sets.
func twoHopRecords() []exporter.SpanRecord {
	rs := make([]exporter.SpanRecord, 0, len(twoHopSpans))
	for _, s := range twoHopSpans {
		rs = append(rs, envRecord(twoHopTraceID, s.service, s.name, s.env))
	}
	return rs
}

// twoHopChain is the chain of the two-hop scenario.
func twoHopChain() exporter.Chain {
	return exporter.Chain{
		TraceID: twoHopTraceID,
		Roots: []*exporter.Link{{
			AgentSessionID: "session-planner",
			Attribution:    exporter.AttributionClaimed,
			SpanCount:      2,
			Services: []exporter.ServiceSpans{
				svc("planner", "delegate research", "plan"),
			},
			Children: []*exporter.Link{{
				AgentSessionID: "session-research",
				DelegationID:   "edge-1",
				Hop:            1,
				Attribution:    exporter.AttributionClaimed,
				SpanCount:      2,
				Services: []exporter.ServiceSpans{
					svc("research", "delegate fetch", "research"),
				},
				Children: []*exporter.Link{{
					AgentSessionID: "session-fetch",
					DelegationID:   "edge-2",
					ParentID:       "edge-1",
					Hop:            2,
					Attribution:    exporter.AttributionClaimed,
					SpanCount:      2,
					Services: []exporter.ServiceSpans{
						svc("research", "fetch"),
						svc("tool-api", "GET /data"),
					},
				}},
			}},
		}},
	}
}

// envRecord returns a SpanRecord with the claimed attributes of env.
func envRecord(
	trace, service, name string,
	env baggage.Envelope,
) exporter.SpanRecord {
	attrs := map[string]any{
		string(exporter.HopKey):         int64(env.Hop),
		string(exporter.AttributionKey): exporter.AttributionClaimed,
	}
	for k, v := range map[string]string{
		string(exporter.AgentSessionKey):     env.AgentSession,
		string(exporter.DelegationKey):       env.DelegationEdge,
		string(exporter.DelegationParentKey): env.ParentEdge,
		string(exporter.SubjectRecordKey):    env.SubjectRecord,
	} {
		if v != "" {
			attrs[k] = v
		}
	}
	return exporter.SpanRecord{
		TraceID:    trace,
		SpanName:   name,
		Service:    service,
		Attributes: attrs,
	}
}

// svc returns the ServiceSpans of service with the sorted names.
func svc(service string, names ...string) exporter.ServiceSpans {
	return exporter.ServiceSpans{Service: service, SpanNames: names}
}
