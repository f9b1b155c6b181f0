// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/exporter"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// The tool's resource and the scope the agent is delegated.
const (
	toolResource = "resource://tools"
	toolScope    = "tools:read"
)

const instrumentation = "github.com/otelcaracal/otelcaracal/examples/grpc"

// demo is the control plane, the tool service and the agent's connection
// to it, the sessions and delegation of the task, and the recorded spans.
type demo struct {
	cp        *caracaltest.Server
	chains    *exporter.ChainExporter
	memory    *tracetest.InMemoryExporter
	providers []*sdktrace.TracerProvider
	server    *grpc.Server
	addr      string // the tool's
	served    chan struct{}
	conn      *grpc.ClientConn
	tools     toolsClient
	agent     trace.Tracer

	plannerSession, agentSession, edge string
}

// start provisions the task and starts the tool service and the agent's
// connection.
func start() (*demo, error) {
	d := &demo{
		cp:     caracaltest.NewServer(),
		chains: exporter.NewChainExporter(),
		memory: tracetest.NewInMemoryExporter(),
	}
	if err := d.provision(); err != nil {
		return nil, errors.Join(err, d.close(context.Background()))
	}
	if err := d.serveTool(); err != nil {
		return nil, errors.Join(err, d.close(context.Background()))
	}
	if err := d.dialTool(); err != nil {
		return nil, errors.Join(err, d.close(context.Background()))
	}
	return d, nil
}

// provision sets up what a coordinator holds for the task: the planner's
// root session, the agent's session under it, and a delegation from the
// planner to the agent for the tool.
func (d *demo) provision() error {
	d.cp.AddResource(toolResource, "", toolScope)
	var err error
	if d.plannerSession, err = d.cp.NewSession(""); err != nil {
		return err
	}
	if d.agentSession, err = d.cp.NewSession(d.plannerSession); err != nil {
		return err
	}
	d.edge, err = d.cp.NewDelegation(caracaltest.Delegation{
		Source: d.plannerSession, Target: d.agentSession,
		Resource: toolResource, Scopes: []string{toolScope}, TTL: 10 * time.Minute,
	})
	return err
}

// provider returns the tracer provider of one service: Caracal's span
// processor, then the chain exporter and an in-memory copy for printing.
func (d *demo) provider(service string) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()),
		sdktrace.WithSyncer(d.chains),
		sdktrace.WithSyncer(d.memory),
	)
	d.providers = append(d.providers, tp)
	return tp
}

// serveTool starts the tool service on a loopback port. It verifies the
// mandate of every call before the server span starts.
//
// The Caracal Gateway proxies HTTP, so a gRPC tool is called directly and
// checks what the Gateway would: it accepts the delegated mandate the STS
// mints for it (use=gateway, audience the issuer, target the tool, with
// the tool's scope), and each such mandate only once.
func (d *demo) serveTool() error {
	v, err := d.cp.Verifier(d.cp.Issuer(),
		mandate.WithAllowedUses(mandate.UseGateway),
		mandate.WithRequiredTargets(toolResource),
		mandate.WithRequiredScopes(toolScope),
		mandate.WithReplayCheck())
	if err != nil {
		return err
	}
	tp := d.provider("tool-service")
	d.server = grpc.NewServer(gateway.GRPCServerOptions(
		gateway.WithVerifier(v),
		gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(tp)),
	)...)
	d.server.RegisterService(&toolsService, &tool{tracer: tp.Tracer(instrumentation)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.addr = ln.Addr().String()
	d.served = make(chan struct{})
	go func() {
		defer close(d.served)
		_ = d.server.Serve(ln)
	}()
	return nil
}

// dialTool connects the agent to the tool. Each call gets a mandate
// minted for the tool under the delegation of its context. The tool is on
// loopback: the connection has no transport security.
func (d *demo) dialTool() error {
	sts, err := d.cp.STSClient()
	if err != nil {
		return err
	}
	tp := d.provider("agent")
	d.agent = tp.Tracer(instrumentation)
	target := gateway.GRPCTarget{Resource: toolResource, Authority: d.addr}
	opts := append(gateway.GRPCDialOptions(
		gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(tp)),
		gateway.WithGRPCTargets(target),
		gateway.WithMandates(gateway.Mint(mandate.NewMintCache(sts), []string{toolScope}, 0)),
	), grpc.WithTransportCredentials(insecure.NewCredentials()))
	d.conn, err = grpc.NewClient(target.Authority, opts...)
	d.tools = toolsClient{d.conn}
	return err
}

// stop closes the agent's connection and stops the tool service once its
// calls are done. A server span ends after the client has its answer:
// once stop returns, every span has ended.
func (d *demo) stop() error {
	var err error
	if d.conn != nil {
		err = d.conn.Close()
		d.conn = nil
	}
	if d.server != nil {
		d.server.GracefulStop()
		<-d.served
		d.server = nil
	}
	return err
}

func (d *demo) close(ctx context.Context) error {
	errs := []error{d.stop()}
	d.cp.Close()
	for _, tp := range d.providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// task is the planner handing a query to the agent under its delegation,
// and the agent calling the tool with it.
func (d *demo) task(
	ctx context.Context,
	query string,
) (answer string, sources []string, err error) {
	ctx, err = baggage.ContextWithEnvelope(ctx, baggage.Envelope{AgentSession: d.plannerSession})
	if err != nil {
		return "", nil, err
	}
	ctx, plan := d.agent.Start(ctx, "plan task")
	defer plan.End()

	// The agent's session accepts the planner's delegation: one hop deeper.
	env, err := baggage.FromContext(ctx).Child(d.agentSession, d.edge)
	if err == nil {
		ctx, err = baggage.ContextWithEnvelope(ctx, env)
	}
	if err != nil {
		return "", nil, err
	}
	ctx, research := d.agent.Start(ctx, "research")
	defer research.End()
	if answer, err = d.tools.Search(ctx, query); err != nil {
		return "", nil, err
	}
	sources, err = d.tools.Sources(ctx, query)
	return answer, sources, err
}

func (d *demo) flush(ctx context.Context) error {
	var errs []error
	for _, tp := range d.providers {
		errs = append(errs, tp.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

// print writes the delegation chain, then each service's spans.
func (d *demo) print(w io.Writer) error {
	fmt.Fprintln(w, "delegation chain:")
	if err := d.chains.WriteText(w); err != nil {
		return err
	}
	byService := map[string][]tracetest.SpanStub{}
	for _, s := range d.memory.GetSpans() {
		svc := serviceName(s.Resource)
		byService[svc] = append(byService[svc], s)
	}
	for _, svc := range slices.Sorted(maps.Keys(byService)) {
		fmt.Fprintf(w, "\n%s spans:\n", svc)
		spans := byService[svc]
		slices.SortFunc(spans, func(a, b tracetest.SpanStub) int {
			return a.StartTime.Compare(b.StartTime)
		})
		for _, s := range spans {
			fmt.Fprintf(w, "  %-24s %s\n", s.Name, attribution(s.Attributes))
		}
	}
	return nil
}

func serviceName(r *resource.Resource) string {
	v, _ := r.Set().Value(semconv.ServiceNameKey)
	return v.AsString()
}

// attribution renders the caracal.* attributes of a span.
func attribution(attrs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range attrs {
		if k, ok := strings.CutPrefix(string(kv.Key), "caracal."); ok {
			parts = append(parts, k+"="+kv.Value.Emit())
		}
	}
	if len(parts) == 0 {
		return "(no envelope)"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// tool is the tool service. Its context holds the verified mandate.
type tool struct{ tracer trace.Tracer }

func (t *tool) Search(ctx context.Context, query string) (string, error) {
	_, span := t.tracer.Start(ctx, "query index")
	defer span.End()
	claims, _ := mandate.ClaimsFromContext(ctx)
	return fmt.Sprintf("3 results for %q, for session %s", query, claims.AgentSessionID), nil
}

func (t *tool) Sources(ctx context.Context, query string, send func(string) error) error {
	_, span := t.tracer.Start(ctx, "list sources")
	defer span.End()
	for _, s := range []string{"spec", "blog", "paper"} {
		if err := send(query + ": " + s); err != nil {
			return err
		}
	}
	return nil
}
