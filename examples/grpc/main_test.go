// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/exporter"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startDemo(t *testing.T) (*demo, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	d, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return d, ctx
}

// TestTask: the agent's calls reach the tool, and the spans of both sides
// carry the attribution: claimed by the agent, verified at the tool.
func TestTask(t *testing.T) {
	d, ctx := startDemo(t)
	answer, sources, err := d.task(ctx, "chains")
	if err != nil {
		t.Fatal(err)
	}
	if want := `3 results for "chains", for session ` + d.agentSession; answer != want {
		t.Errorf("answer %q, want %q", answer, want)
	}
	if len(sources) != 3 {
		t.Errorf("sources %v", sources)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.flush(ctx); err != nil {
		t.Fatal(err)
	}

	chains := d.chains.Chains()
	if len(chains) != 1 || len(chains[0].Roots) != 1 || len(chains[0].Roots[0].Children) != 1 {
		t.Fatalf("want one chain, root and child: %+v", chains)
	}
	root, child := chains[0].Roots[0], chains[0].Roots[0].Children[0]
	if root.AgentSessionID != d.plannerSession || root.Hop != 0 {
		t.Errorf("root %+v", root)
	}
	if child.AgentSessionID != d.agentSession || child.DelegationID != d.edge || child.Hop != 1 ||
		child.Attribution != exporter.AttributionVerified {
		t.Errorf("child %+v", child)
	}

	var toolSpans, rpcClients int
	for _, s := range d.memory.GetSpans() {
		attrs := attribute.NewSet(s.Attributes...)
		get := func(k attribute.Key) string { v, _ := attrs.Value(k); return v.Emit() }
		var want string
		switch {
		case serviceName(s.Resource) == "tool-service":
			toolSpans++
			want = exporter.AttributionVerified
			zone, path := get(exporter.ZoneKey), get(exporter.DelegationPathKey)
			if zone != d.cp.ZoneID || path != `["`+d.edge+`"]` {
				t.Errorf("%s: zone %q, path %s", s.Name, zone, path)
			}
		case s.SpanKind == trace.SpanKindClient:
			rpcClients++
			want = exporter.AttributionClaimed
		default:
			continue
		}
		if get(exporter.AttributionKey) != want || get(exporter.DelegationKey) != d.edge ||
			get(exporter.HopKey) != "1" {
			t.Errorf("%s (%s): %s", s.Name, serviceName(s.Resource), attribution(s.Attributes))
		}
	}
	if toolSpans != 4 || rpcClients != 2 {
		t.Errorf("%d tool spans and %d client spans, want 4 and 2", toolSpans, rpcClients)
	}

	var out bytes.Buffer
	if err := d.print(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"delegation " + d.edge, "tool-service spans:", "attribution=verified"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}

// TestRefusals: the tool refuses calls without a valid mandate, with the
// status of the Caracal error, and no token appears in any status, error,
// span or output.
func TestRefusals(t *testing.T) {
	d, ctx := startDemo(t)
	sts, err := d.cp.STSClient()
	if err != nil {
		t.Fatal(err)
	}
	minted, err := sts.Exchange(ctx, mandate.ExchangeRequest{
		Resources: []string{toolResource}, Scopes: []string{toolScope},
		AgentSessionID: d.agentSession, DelegationEdgeID: d.edge,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := minted.AccessToken
	var conns []*grpc.ClientConn
	dial := func(src gateway.MandateSource) toolsClient {
		var opts []gateway.Option
		if src != nil {
			target := gateway.GRPCTarget{Resource: toolResource, Authority: d.addr}
			opts = append(opts, gateway.WithGRPCTargets(target), gateway.WithMandates(src))
		}
		conn, err := grpc.NewClient(d.addr, append(gateway.GRPCDialOptions(opts...),
			grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		t.Cleanup(func() { _ = conn.Close() })
		return toolsClient{conn}
	}
	fixed := func(tok string) gateway.MandateSource {
		return gateway.MandateSourceFunc(func(context.Context, string) (string, error) { return tok, nil })
	}
	ctx, err = baggage.ContextWithEnvelope(ctx, baggage.Envelope{
		AgentSession: d.agentSession, DelegationEdge: d.edge, Hop: 1,
	})
	if err != nil {
		t.Fatal(err)
	}

	var seen []string
	for _, tc := range []struct {
		name    string
		client  toolsClient
		code    codes.Code
		message string
	}{
		{"first use", dial(fixed(tok)), codes.OK, ""},
		{"replayed", dial(fixed(tok)), codes.Unauthenticated, "invalid_token: Token validation failed"},
		{"no mandate", dial(nil), codes.Unauthenticated, "missing_token: Missing bearer token"},
		{"tampered", dial(fixed(tok[:len(tok)-4] + "AAAA")), codes.Unauthenticated,
			"invalid_token: Token validation failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Search(ctx, "q")
			if err != nil {
				seen = append(seen, err.Error())
			}
			s := status.Convert(err)
			if s.Code() != tc.code || s.Message() != tc.message {
				t.Errorf("status %s %q, want %s %q", s.Code(), s.Message(), tc.code, tc.message)
			}
		})
	}
	_, err = dial(nil).Sources(ctx, "q")
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without a mandate: %v", err)
	}

	for _, c := range conns {
		_ = c.Close()
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := d.print(&out); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, out.String())
	for _, s := range d.memory.GetSpans() {
		seen = append(seen, spanTexts(s)...)
	}
	for _, tok := range append(d.cp.IssuedTokens(), tok) {
		for _, part := range strings.Split(tok, ".")[1:] { // claims and signature
			for _, s := range seen {
				if strings.Contains(s, part) {
					t.Errorf("token material in %.200q", s)
				}
			}
		}
	}
}

func spanTexts(s tracetest.SpanStub) []string {
	texts := []string{s.Name, s.Status.Description}
	for _, kv := range s.Attributes {
		texts = append(texts, kv.Value.Emit())
	}
	for _, e := range s.Events {
		texts = append(texts, e.Name)
		for _, kv := range e.Attributes {
			texts = append(texts, kv.Value.Emit())
		}
	}
	return texts
}
