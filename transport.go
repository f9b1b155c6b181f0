// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// defaultMandateTTL is the mandate lifetime of an application transport
// that sets none (Caracal protocol §7.2).
const defaultMandateTTL = 15 * time.Minute

// TransportOptions configure Transport and Fetch.
type TransportOptions struct {
	// Scopes, when set, make every gateway-bound request mint a mandate
	// for its resource and these scopes, acting under the context's
	// session and delegation: a fresh single-use one per request when the
	// context has both (Caracal protocol §5.5). Without scopes, requests
	// carry the context's own token; a token that is a JWT of another
	// class than use=gateway is refused before sending (§7.2).
	Scopes []string
	// TTL is the lifetime asked for each minted mandate; 0 lets the STS
	// choose, except with AsApplication, where it is 15 minutes.
	TTL time.Duration
	// AsApplication lets requests on a context that is not bound act as
	// the application itself. With Scopes, this is the application
	// transport of Caracal protocol §7.2: for each resource the client
	// starts two task sessions and a delegation between them, once, and
	// every request mints a mandate under that delegation. Without
	// Scopes, requests carry the application's root token, which the
	// Gateway does not accept.
	AsApplication bool
	// Labels are the role labels of the sessions an application transport
	// starts. Empty means the application id.
	Labels []string
	// Propagation says which requests carry the envelope. The zero value,
	// gateway.PropagateGatewayOnly, keeps it to gateway-bound requests;
	// others carry trace context and third-party baggage only.
	Propagation gateway.Propagation
}

// Transport returns an HTTP client whose requests go through the Caracal
// Gateway as Caracal protocol §7.2 describes: a request under a binding's
// upstream prefix, or to the Gateway with X-Caracal-Resource set, is
// routed to the Gateway with a mandate, and its context's envelope; other
// requests get neither the mandate nor, by default, the envelope. It is
// gateway.NewClient over base (nil means http.DefaultTransport) with the
// client's Gateway URL and bindings, and the options of
// WithGatewayOptions.
//
// A redirect of a gateway-bound request is never followed, so a mandate
// is never replayed: with a nil base the 3xx response is returned; with
// another base the request fails with gateway.ErrRedirect.
//
// A gateway-bound request on a context that is not bound fails with
// ErrNotBound, unless opts.AsApplication is set.
func (c *Client) Transport(base http.RoundTripper, opts TransportOptions) *http.Client {
	if opts.AsApplication && opts.TTL == 0 {
		opts.TTL = defaultMandateTTL
	}
	gopts := append([]gateway.Option{
		gateway.WithGateway(c.gatewayURL, c.bindings...),
		gateway.WithPropagation(opts.Propagation),
		gateway.WithMandates(c.mandates(opts)),
	}, c.cfg.gatewayOpts...)
	var hc *http.Client
	if base == nil {
		hc = gateway.NewClient(gopts...)
	} else {
		hc = &http.Client{Transport: gateway.NewTransport(base, gopts...)}
	}
	if opts.AsApplication && len(opts.Scopes) > 0 {
		hc.Transport = &appTransport{c: c, opts: opts, next: hc.Transport}
	}
	return hc
}

// mandates returns the mandate source of a transport.
func (c *Client) mandates(opts TransportOptions) gateway.MandateSource {
	if len(opts.Scopes) > 0 {
		mint := gateway.Mint(c.mints, opts.Scopes, opts.TTL)
		return gateway.MandateSourceFunc(func(ctx context.Context, resource string) (string, error) {
			switch {
			case c.mints == nil:
				return "", ErrNoClientSecret
			case !isBound(ctx) && !opts.AsApplication:
				return "", ErrNotBound
			}
			return mint.Mandate(ctx, resource)
		})
	}
	pinned := gateway.SubjectToken()
	return gateway.MandateSourceFunc(func(ctx context.Context, resource string) (string, error) {
		tok, _, err := c.subjectToken(ctx, opts.AsApplication)
		if err != nil {
			return "", err
		}
		return pinned.Mandate(propagator.ContextWithSubjectToken(ctx, tok), resource)
	})
}

// Fetch sends a request for path of resource through the Gateway, as
// GatewayRequest builds it, with a client from Transport(nil, opts). The
// caller must close the response body.
func (c *Client) Fetch(
	ctx context.Context,
	method, resource, path string,
	body io.Reader,
	opts TransportOptions,
) (*http.Response, error) {
	t, err := c.GatewayRequest(resource, path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, t.URL.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	return c.Transport(nil, opts).Do(req)
}

// GatewayTarget is where a request for a resource goes: the Gateway URL
// and the headers that route it.
type GatewayTarget struct {
	// URL is the Gateway URL of the path.
	URL *url.URL
	// Header holds X-Caracal-Resource.
	Header http.Header
}

// GatewayRequest returns the Gateway URL and routing header of path for
// resource (Caracal protocol §7.1). path must be relative, without a
// fragment, and free of "." and ".." segments and backslashes, also when
// percent-decoded repeatedly; an empty path is "/". The URL is the
// Gateway's, base path included, followed by path and its query.
// Refused paths give errors matching gateway.ErrPath; a blank resource,
// ErrInvalidRequest.
func (c *Client) GatewayRequest(resource, path string) (*GatewayTarget, error) {
	if strings.TrimSpace(resource) == "" {
		return nil, fmt.Errorf("%w: gateway request: blank resource id", ErrInvalidRequest)
	}
	u, err := c.router.RequestURL(path)
	if err != nil {
		return nil, err
	}
	return &GatewayTarget{URL: u, Header: http.Header{gateway.ResourceHeader: {resource}}}, nil
}

// appTransport is the application transport of Caracal protocol §7.2: a
// request on a context that is not bound acts under the delegation the
// client provisioned for its resource.
type appTransport struct {
	c    *Client
	opts TransportOptions
	next http.RoundTripper
}

func (t *appTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	if isBound(ctx) {
		return t.next.RoundTrip(r)
	}
	fail := func(err error) (*http.Response, error) {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, err
	}
	resource, err := t.c.resourceOf(r)
	if err != nil {
		return fail(err)
	}
	p, err := t.c.apps.get(ctx, resource, t.opts)
	if err != nil {
		return fail(err)
	}
	bctx, err := baggage.ContextWithEnvelope(ctx, baggage.Envelope{AgentSession: p.target, DelegationEdge: p.edge})
	if err != nil {
		return fail(err)
	}
	// Caracal's SDKs send a traceparent on every request (§2.3); without
	// a trace in the context, the request starts one.
	if !trace.SpanContextFromContext(bctx).IsValid() {
		bctx = freshSpan(bctx, true)
	}
	// A shallow copy with another context: r itself is not changed.
	return t.next.RoundTrip(r.WithContext(withBinding(bctx, binding{own: true})))
}

// resourceOf returns the resource a request is routed to, as the gateway
// transport will route it, so that the envelope of the provisioned
// delegation is in the context before the gateway transport injects it.
func (c *Client) resourceOf(r *http.Request) (string, error) {
	if _, res, ok := c.router.Resolve(r); ok {
		return res, nil
	}
	return "", fmt.Errorf("%w: %s %s", ErrNotGatewayBound, r.Method, r.URL.Redacted())
}
