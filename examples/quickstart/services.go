// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// The resources the Gateway routes to, and their scopes.
const (
	researchResource = "resource://research-agent"
	toolResource     = "resource://tool-api"
	researchScope    = "research:run"
	searchScope      = "search:read"
)

// service is one program of the demonstration: an HTTP server with its own
// tracer provider, and a client that calls resources through the Gateway.
type service struct {
	name   string
	srv    *http.Server
	url    string
	client *http.Client
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// demo is the running control plane and services, and the sessions and
// delegations of the task.
type demo struct {
	telemetry *telemetry
	cp        *caracaltest.Server
	planner   *service
	research  *service
	tool      *service
	index     *sourceIndex // the gRPC service

	plannerSession, researchSession, fetcherSession string
	plannerToResearch, researchToFetcher            string
}

func start(ctx context.Context, otlp bool) (*demo, error) {
	otel.SetTextMapPropagator(propagator.New())
	t, err := newTelemetry(ctx, otlp)
	if err != nil {
		return nil, err
	}
	d := &demo{telemetry: t, cp: caracaltest.NewServer()}
	if err := d.startServices(); err != nil {
		return nil, errors.Join(err, d.close(ctx))
	}
	if err := d.provision(); err != nil {
		return nil, errors.Join(err, d.close(ctx))
	}
	return d, nil
}

// startServices starts the three HTTP services and the gRPC source index.
// The research agent and the tool API are resources behind the Gateway:
// they accept only mandates the Gateway minted for them, and verify them.
// The source index is called over gRPC, directly, and verifies the
// mandates minted for it.
func (d *demo) startServices() error {
	var err error
	if d.tool, err = d.serve("tool-api", "/search", toolResource, d.search); err != nil {
		return err
	}
	if d.research, err = d.serve("research-agent", "/research", researchResource, d.researchTopic); err != nil {
		return err
	}
	if d.index, err = d.startIndex(d.research.tp); err != nil {
		return err
	}
	d.cp.AddResource(indexResource, "", indexScope)
	d.planner, err = d.serve("planner-agent", "/task", "", d.plan)
	return err
}

// provision sets up what a coordinator holds for the task: the planner's
// root session, the research agent's session under it with a delegation
// for research, search and the source index, and a fetcher sub-agent with
// a narrower delegation, for search and the index only, chained below the
// first.
func (d *demo) provision() error {
	var err error
	if d.plannerSession, err = d.cp.NewSession(""); err != nil {
		return err
	}
	if d.researchSession, err = d.cp.NewSession(d.plannerSession); err != nil {
		return err
	}
	if d.fetcherSession, err = d.cp.NewSession(d.researchSession); err != nil {
		return err
	}
	d.plannerToResearch, err = d.cp.NewDelegation(caracaltest.Delegation{
		Source: d.plannerSession, Target: d.researchSession,
		Scopes: []string{researchScope, searchScope, indexScope},
		Constraints: caracaltest.Constraints{
			Resources: []string{researchResource, toolResource, indexResource}, MaxHops: 2,
		},
		TTL: 10 * time.Minute,
	})
	if err != nil {
		return err
	}
	d.researchToFetcher, err = d.cp.NewDelegation(caracaltest.Delegation{
		Source: d.researchSession, Target: d.fetcherSession, Parent: d.plannerToResearch,
		Scopes:      []string{searchScope, indexScope},
		Constraints: caracaltest.Constraints{Resources: []string{toolResource, indexResource}},
		TTL:         5 * time.Minute,
	})
	return err
}

// serve starts a service on a loopback port. A service that is a resource
// verifies the mandate of every request.
func (d *demo) serve(name, path, resource string, h http.HandlerFunc) (*service, error) {
	tp := d.telemetry.provider(name)
	otelOpt := gateway.WithOTelHTTPOptions(otelhttp.WithTracerProvider(tp))
	handlerOpts := []gateway.Option{otelOpt}
	if resource != "" {
		v, err := d.cp.Verifier(resource)
		if err != nil {
			return nil, err
		}
		handlerOpts = append(handlerOpts, gateway.WithVerifier(v))
	}
	sts, err := d.cp.STSClient()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(path, gateway.NewHandler(h, name+" "+path, handlerOpts...))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &service{
		name: name,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		url:  "http://" + ln.Addr().String(),
		client: gateway.NewClient(otelOpt,
			gateway.WithGateway(d.cp.GatewayURL()),
			gateway.WithMandates(gateway.Mint(mandate.NewMintCache(sts), nil, 0))),
		tp:     tp,
		tracer: tp.Tracer("github.com/otelcaracal/otelcaracal/examples/quickstart"),
	}
	if resource != "" {
		d.cp.AddResource(resource, s.url, researchScope, searchScope)
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (d *demo) close(ctx context.Context) error {
	var errs []error
	d.index.stop()
	for _, s := range []*service{d.planner, d.research, d.tool} {
		if s != nil {
			s.client.CloseIdleConnections()
			errs = append(errs, s.srv.Shutdown(ctx))
		}
	}
	d.cp.Close()
	errs = append(errs, d.telemetry.shutdown(ctx))
	return errors.Join(errs...)
}

// runTask sends a task to the planner as its user would, with a plain
// client: no envelope, no trace.
func (d *demo) runTask(ctx context.Context, topic string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	return get(ctx, c, d.planner.url+"/task?topic="+url.QueryEscape(topic), "")
}

// plan is the planner agent. It acts under its root session and hands the
// research to the research agent's session, under the delegation the
// planner gave it. The call goes through the Gateway, which checks the
// mandate minted for it.
func (d *demo) plan(w http.ResponseWriter, r *http.Request) {
	ctx, err := baggage.ContextWithEnvelope(r.Context(), baggage.Envelope{AgentSession: d.plannerSession})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, span := d.planner.tracer.Start(ctx, "plan task")
	defer span.End()

	ctx, err = delegate(ctx, d.researchSession, d.plannerToResearch)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	topic := r.URL.Query().Get("topic")
	answer, err := get(ctx, d.planner.client, d.cp.GatewayURL()+"/research?topic="+url.QueryEscape(topic),
		researchResource)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.WriteString(w, answer)
}

// researchTopic is the research agent. Its context holds the verified
// mandate; it hands the search to its fetcher sub-agent, one delegation
// deeper, which looks the topic up in the source index over gRPC, then
// searches through the Gateway over HTTP.
func (d *demo) researchTopic(w http.ResponseWriter, r *http.Request) {
	ctx, span := d.research.tracer.Start(r.Context(), "research topic")
	defer span.End()

	ctx, err := delegate(ctx, d.fetcherSession, d.researchToFetcher)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, fetch := d.research.tracer.Start(ctx, "fetch sources")
	defer fetch.End()
	q := r.URL.Query().Get("topic")
	sources, err := d.index.lookup(ctx, q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fetch.SetAttributes(attribute.Int("index.sources", sources))
	answer, err := get(ctx, d.research.client, d.cp.GatewayURL()+"/search?q="+url.QueryEscape(q), toolResource)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.WriteString(w, answer)
}

// search is the tool API.
func (d *demo) search(w http.ResponseWriter, r *http.Request) {
	_, span := d.tool.tracer.Start(r.Context(), "query index")
	defer span.End()
	q := r.URL.Query().Get("q")
	span.SetAttributes(attribute.Int("search.results", 3))
	fmt.Fprintf(w, "3 sources on %q", q)
}

// delegate returns the context of a child session that has accepted the
// delegation edge from the current context (Caracal protocol §2.6).
func delegate(ctx context.Context, session, edge string) (context.Context, error) {
	env, err := baggage.FromContext(ctx).Child(session, edge)
	if err != nil {
		return ctx, err
	}
	return baggage.ContextWithEnvelope(ctx, env)
}

// get sends a GET; a resource names the Gateway resource it is for.
func get(ctx context.Context, c *http.Client, u, resource string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	if resource != "" {
		req.Header.Set(gateway.ResourceHeader, resource)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	return string(body), nil
}

// mintRequest is the exchange the research agent's fetcher makes for the
// tool API.
func mintRequest(d *demo) mandate.ExchangeRequest {
	return mandate.ExchangeRequest{
		Resources: []string{toolResource}, Scopes: []string{searchScope},
		AgentSessionID: d.fetcherSession, DelegationEdgeID: d.researchToFetcher,
	}
}
