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
	"go.uber.org/goleak"

	"github.com/otelcaracal/otelcaracal/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickstart runs the services in-process and checks the chain and the
// attribution of every service's spans.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := start(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	answer, err := d.runTask(ctx, "chains")
	if err != nil {
		t.Fatal(err)
	}
	if answer != `3 sources on "chains"` {
		t.Errorf("answer = %q", answer)
	}
	if err := d.flush(ctx); err != nil {
		t.Fatal(err)
	}

	chains := d.telemetry.chains.Chains()
	if len(chains) != 1 || len(chains[0].Roots) != 1 {
		t.Fatalf("want one chain with one root, got %+v", chains)
	}
	root := chains[0].Roots[0]
	want := []struct {
		session, delegation, parent string
		hop                         int
		attribution                 string
	}{
		{d.plannerSession, "", "", 0, exporter.AttributionClaimed},
		{d.researchSession, d.plannerToResearch, "", 1, exporter.AttributionVerified},
		{d.fetcherSession, d.researchToFetcher, d.plannerToResearch, 2, exporter.AttributionVerified},
	}
	l := root
	for i, w := range want {
		if l == nil {
			t.Fatalf("chain ends at depth %d", i)
		}
		if l.AgentSessionID != w.session || l.DelegationID != w.delegation || l.ParentID != w.parent || l.Hop != w.hop {
			t.Errorf("depth %d: %+v, want %+v", i, l, w)
		}
		if l.Attribution != w.attribution {
			t.Errorf("depth %d attribution %q", i, l.Attribution)
		}
		var next *exporter.Link
		if len(l.Children) == 1 {
			next = l.Children[0]
		} else if i < len(want)-1 {
			t.Fatalf("depth %d has %d children", i, len(l.Children))
		}
		l = next
	}

	// Every span of the tool API acts at hop 2 under the fetcher's edge.
	spans := 0
	for _, s := range d.telemetry.memory.GetSpans() {
		if serviceName(s.Resource) != "tool-api" {
			continue
		}
		spans++
		attrs := attribute.NewSet(s.Attributes...)
		if v, _ := attrs.Value(exporter.DelegationKey); v.AsString() != d.researchToFetcher {
			t.Errorf("%s: delegation %q", s.Name, v.AsString())
		}
		if v, _ := attrs.Value(exporter.HopKey); v.AsInt64() != 2 {
			t.Errorf("%s: hop %d", s.Name, v.AsInt64())
		}
		if v, _ := attrs.Value(exporter.AttributionKey); v.AsString() != exporter.AttributionVerified {
			t.Errorf("%s: attribution %q", s.Name, v.AsString())
		}
		if v, _ := attrs.Value(exporter.DelegationPathKey); strings.Join(v.AsStringSlice(), ">") !=
			d.plannerToResearch+">"+d.researchToFetcher {
			t.Errorf("%s: path %v", s.Name, v.AsStringSlice())
		}
	}
	if spans != 2 {
		t.Errorf("tool-api spans = %d, want 2", spans)
	}

	// The hop-2 delegation crosses gRPC: the source index verified it,
	// and the research agent's gRPC client span claims it.
	hop2 := root.Children[0].Children[0]
	services := map[string]int{}
	for _, s := range hop2.Services {
		services[s.Service] = len(s.SpanNames)
	}
	if services["source-index"] != 2 || services["tool-api"] != 2 {
		t.Errorf("hop 2 spans by service: %v", services)
	}
	grpcSpans := map[string]string{}
	for _, s := range d.telemetry.memory.GetSpans() {
		if s.Name != "index.v1.SourceIndex/Lookup" && serviceName(s.Resource) != "source-index" {
			continue
		}
		attrs := attribute.NewSet(s.Attributes...)
		v, _ := attrs.Value(exporter.AttributionKey)
		grpcSpans[serviceName(s.Resource)+" "+s.Name] = v.AsString()
		if v, _ := attrs.Value(exporter.DelegationKey); v.AsString() != d.researchToFetcher {
			t.Errorf("%s: delegation %q", s.Name, v.AsString())
		}
		if v, _ := attrs.Value(exporter.HopKey); v.AsInt64() != 2 {
			t.Errorf("%s: hop %d", s.Name, v.AsInt64())
		}
	}
	for name, want := range map[string]string{
		"research-agent index.v1.SourceIndex/Lookup": exporter.AttributionClaimed,
		"source-index index.v1.SourceIndex/Lookup":   exporter.AttributionVerified,
		"source-index look up sources":               exporter.AttributionVerified,
	} {
		if grpcSpans[name] != want {
			t.Errorf("%s: attribution %q, want %q (spans %v)", name, grpcSpans[name], want, grpcSpans)
		}
	}

	var out bytes.Buffer
	if err := d.print(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"delegation " + d.researchToFetcher, "tool-api spans:", "source-index spans:", "attribution=verified",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
}
