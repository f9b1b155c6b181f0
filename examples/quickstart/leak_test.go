// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/otelcaracal/otelcaracal/gateway"
)

// TestNoTokenLeaks runs the demonstration and a set of refused calls while
// capturing everything the process exports or reports: spans with their
// attributes, events and status, errors handed to otel.Handle, log and
// slog output, response bodies and Go errors, and the printed output. No
// token the control plane issued, nor any of its segments, may appear.
func TestNoTokenLeaks(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
		logs bytes.Buffer
	)
	record := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { record(err.Error()) }))
	defer otel.SetErrorHandler(nil)
	log.SetOutput(&logs)
	defer log.SetOutput(io.Discard)
	prevSlog := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(prevSlog)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := start(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close(context.Background())
	if _, err := d.runTask(ctx, "leaks"); err != nil {
		t.Fatal(err)
	}

	// Refused calls: a replayed, a resource-class, a tampered and an
	// oversized mandate, at the Gateway and at a verifying service.
	sts, err := d.cp.STSClient()
	if err != nil {
		t.Fatal(err)
	}
	minted, err := sts.Exchange(ctx, mintRequest(d))
	if err != nil {
		t.Fatal(err)
	}
	tok := minted.AccessToken
	tampered := tok[:len(tok)-4] + "AAAA"
	for _, c := range []struct{ url, resource, bearer string }{
		{d.cp.GatewayURL() + "/search", toolResource, tok},
		{d.cp.GatewayURL() + "/search", toolResource, tok}, // replay
		{d.cp.GatewayURL() + "/search", toolResource, tampered},
		{d.cp.GatewayURL() + "/search", toolResource, strings.Repeat(tok, 8)},
		{d.tool.url + "/search", "", tok}, // gateway mandate at the resource
		{d.tool.url + "/search", "", tampered},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
		req.Header.Set("Authorization", "Bearer "+c.bearer)
		if c.resource != "" {
			req.Header.Set(gateway.ResourceHeader, c.resource)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			record(err.Error())
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		record(string(body))
		for k, vs := range resp.Header {
			record(k + ": " + strings.Join(vs, ","))
		}
	}
	http.DefaultClient.CloseIdleConnections()
	// Refused calls at the gRPC source index: a mandate minted for the tool
	// API, a tampered one and none.
	conn, err := grpc.NewClient(d.index.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	for _, bearer := range []string{tok, tampered, ""} {
		cctx := ctx
		if bearer != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+bearer)
		}
		err := conn.Invoke(cctx, lookupMethod, wrapperspb.String("q"), new(wrapperspb.Int32Value))
		if c := status.Code(err); c != codes.Unauthenticated && c != codes.PermissionDenied {
			t.Errorf("source index answered %v, want a refusal", err)
		}
		if err != nil {
			record(err.Error())
		}
	}
	_ = conn.Close()
	// A mint the STS refuses, and a call whose mandate cannot be minted.
	bad := mintRequest(d)
	bad.Scopes = []string{"admin"}
	if _, err := sts.Exchange(ctx, bad); err != nil {
		record(err.Error())
	}

	if err := d.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := d.print(&out); err != nil {
		t.Fatal(err)
	}
	record(out.String())
	record(logs.String())
	for _, s := range d.telemetry.memory.GetSpans() {
		record(s.Name)
		record(s.Status.Description)
		for _, kv := range s.Attributes {
			record(string(kv.Key) + "=" + kv.Value.Emit())
		}
		for _, e := range s.Events {
			record(e.Name)
			for _, kv := range e.Attributes {
				record(string(kv.Key) + "=" + kv.Value.Emit())
			}
		}
	}

	tokens := d.cp.IssuedTokens()
	if len(tokens) < 5 {
		t.Fatalf("only %d tokens issued: the scenario did not run", len(tokens))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tok := range append(tokens, tampered) {
		for _, part := range strings.Split(tok, ".")[1:] { // claims and signature
			for _, s := range seen {
				if strings.Contains(s, part) {
					t.Errorf("token material in %.200q", s)
				}
			}
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d texts captured", len(seen))
	}
}
