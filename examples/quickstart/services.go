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
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// The ids a Caracal coordinator would hand out for this task.
const (
	subjectRecord    = "authority-record-7"
	plannerSession   = "session-planner"
	researchSession  = "session-research"
	fetcherSession   = "session-fetcher"
	plannerToResearh = "edge-planner-research"
	researchToFetch  = "edge-research-fetcher"
)

// service is one program of the demonstration: an HTTP server with its own
// tracer provider, and a client for its outbound calls.
type service struct {
	name   string
	srv    *http.Server
	url    string
	client *http.Client
	tracer trace.Tracer
}

// demo is the running set of services.
type demo struct {
	telemetry *telemetry
	planner   *service
	research  *service
	tool      *service
}

func start(ctx context.Context, otlp bool) (*demo, error) {
	otel.SetTextMapPropagator(propagator.New())
	t, err := newTelemetry(ctx, otlp)
	if err != nil {
		return nil, err
	}
	d := &demo{telemetry: t}
	if d.tool, err = d.serve("tool-api", "/search", d.search); err != nil {
		return nil, errors.Join(err, d.close(ctx))
	}
	if d.research, err = d.serve("research-agent", "/research", d.researchTopic); err != nil {
		return nil, errors.Join(err, d.close(ctx))
	}
	if d.planner, err = d.serve("planner-agent", "/task", d.plan); err != nil {
		return nil, errors.Join(err, d.close(ctx))
	}
	return d, nil
}

// serve starts a service on a loopback port.
func (d *demo) serve(name, path string, h http.HandlerFunc) (*service, error) {
	tp := d.telemetry.provider(name)
	opts := []gateway.Option{gateway.WithOTelHTTPOptions(otelhttp.WithTracerProvider(tp))}
	mux := http.NewServeMux()
	mux.Handle(path, gateway.NewHandler(h, name+" "+path, opts...))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &service{
		name:   name,
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		url:    "http://" + ln.Addr().String(),
		client: &http.Client{Transport: gateway.NewTransport(nil, opts...), Timeout: 10 * time.Second},
		tracer: tp.Tracer("github.com/otelcaracal/otelcaracal/examples/quickstart"),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (d *demo) close(ctx context.Context) error {
	var errs []error
	for _, s := range []*service{d.planner, d.research, d.tool} {
		if s != nil {
			s.client.CloseIdleConnections()
			errs = append(errs, s.srv.Shutdown(ctx))
		}
	}
	errs = append(errs, d.telemetry.shutdown(ctx))
	return errors.Join(errs...)
}

// runTask sends a task to the planner as its user would, with a plain
// client: no envelope, no trace. The planner starts the root session.
func (d *demo) runTask(ctx context.Context, topic string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	return get(ctx, c, d.planner.url+"/task?topic="+url.QueryEscape(topic))
}

// plan is the planner agent: it acts under the root session and delegates
// the research to the research agent's session.
func (d *demo) plan(w http.ResponseWriter, r *http.Request) {
	ctx, err := baggage.ContextWithEnvelope(r.Context(), baggage.Envelope{
		AgentSession:  plannerSession,
		SubjectRecord: subjectRecord,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, span := d.planner.tracer.Start(ctx, "plan task")
	defer span.End()

	ctx, err = delegate(ctx, researchSession, plannerToResearh)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	topic := r.URL.Query().Get("topic")
	answer, err := get(ctx, d.planner.client, d.research.url+"/research?topic="+url.QueryEscape(topic))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.WriteString(w, answer)
}

// researchTopic is the research agent: it runs under the delegation it was
// given and hands the search to a fetcher sub-agent, one hop deeper.
func (d *demo) researchTopic(w http.ResponseWriter, r *http.Request) {
	ctx, span := d.research.tracer.Start(r.Context(), "research topic")
	defer span.End()

	ctx, err := delegate(ctx, fetcherSession, researchToFetch)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx, fetch := d.research.tracer.Start(ctx, "fetch sources")
	defer fetch.End()
	q := r.URL.Query().Get("topic")
	answer, err := get(ctx, d.research.client, d.tool.url+"/search?q="+url.QueryEscape(q))
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
// delegation edge from the current context: the current edge becomes its
// parent edge and the hop grows by one (Caracal protocol §2.6). In a
// deployment the coordinator creates the session and the edge.
func delegate(ctx context.Context, session, edge string) (context.Context, error) {
	env := baggage.FromContext(ctx)
	env.AgentSession = session
	env, err := env.AcceptDelegation(edge)
	if err != nil {
		return ctx, err
	}
	return baggage.ContextWithEnvelope(ctx, env)
}

func get(ctx context.Context, c *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
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
