// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// ErrInsecureTransport is returned by NewGRPCCredentials for a bound call
// on a connection without transport security to a server that is not on
// loopback: a mandate is a bearer credential and is not sent in clear.
var ErrInsecureTransport = errors.New(
	"caracal gateway: mandate not sent without transport security")

// NewGRPCCredentials returns per-RPC credentials that put the mandate of
// a bound call in its authorization metadata, as "Bearer <token>"
// (Caracal protocol §2.5). Use it with grpc.WithPerRPCCredentials. Other
// calls get no metadata from it.
//
// A call is bound when it is to one of the targets of WithGRPCTargets, or
// when it is to the Gateway of WithGateway (same host and port, and a
// gateway URL without a base path) and names its resource with
// ResourceMetadataKey in its outgoing metadata. A call to several matching
// targets uses the one its ResourceMetadataKey names, else one limited to
// its service, else one for the whole authority. The bindings of
// WithGateway are HTTP URL prefixes and do not apply to gRPC. The mandate
// comes from WithMandates, SubjectToken by default, for the resource.
//
// The mandate is sent only over a connection with transport security
// (credentials.PrivacyAndIntegrity) or to a loopback authority; otherwise
// the call fails with ErrInsecureTransport, unless WithUnsafeGRPCPlaintext
// is set. The check is made per call, so RequireTransportSecurity reports
// false and the credentials may be dialed with insecure transport
// credentials for loopback servers. Do not set authorization metadata on
// a bound call: it would go as a second value, after the mandate, and
// NewGRPCServerHandler reads the first.
func NewGRPCCredentials(opts ...Option) credentials.PerRPCCredentials {
	c := newGRPCConfig(opts)
	g := &grpcCredentials{mandates: c.mandates, plaintext: c.plaintext}
	var errs []error
	for _, t := range c.targets {
		t.Resource, t.Authority = strings.TrimSpace(t.Resource), strings.TrimSpace(t.Authority)
		t.Service = strings.Trim(t.Service, "/")
		if t.Resource == "" || t.Authority == "" {
			errs = append(errs, fmt.Errorf(
				"caracal gateway: gRPC target %q for %q needs a resource and an authority",
				t.Authority, t.Resource))
			continue
		}
		t.Authority = trimDefaultPort(t.Authority)
		g.targets = append(g.targets, t)
	}
	if c.gatewayURL != "" {
		rt, err := NewRouter(c.gatewayURL)
		switch {
		case err != nil:
			errs = append(errs, err)
		case rt.base.Path == "":
			// A gRPC method path cannot lie below a base path.
			g.gateway = trimDefaultPort(rt.base.Host)
		}
	}
	g.err = errors.Join(errs...)
	return g
}

// grpcCredentials is the PerRPCCredentials of NewGRPCCredentials.
type grpcCredentials struct {
	mandates  MandateSource
	targets   []GRPCTarget // trimmed, default port removed
	gateway   string       // the Gateway's authority, or ""
	plaintext bool
	err       error
}

// GetRequestMetadata returns the authorization metadata of a bound call,
// and nothing for other calls. uri holds the URI gRPC builds for the call,
// https://<authority>/<service>.
func (g *grpcCredentials) GetRequestMetadata(
	ctx context.Context,
	uri ...string,
) (map[string]string, error) {
	if g.err != nil {
		return nil, g.err
	}
	ri, _ := credentials.RequestInfoFromContext(ctx)
	authority := ""
	if len(uri) > 0 {
		authority = uriAuthority(uri[0])
	}
	resource, ok := g.resolve(ctx, authority, ri.Method)
	if !ok {
		return nil, nil
	}
	if !g.plaintext && !isLoopback(authority) &&
		credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity) != nil {
		return nil, fmt.Errorf("%w to %q", ErrInsecureTransport, authority)
	}
	tok, err := g.mandates.Mandate(ctx, resource)
	if err != nil {
		return nil, fmt.Errorf("caracal gateway: mandate for %q: %w", resource, err)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity reports false: transport security is checked
// per call by GetRequestMetadata, which allows loopback servers.
func (*grpcCredentials) RequireTransportSecurity() bool { return false }

// resolve returns the resource of a call to authority for method, or ok
// false when the call is not bound. The resource the call names is looked
// up only when it decides: copying the outgoing metadata costs more than
// the rest.
func (g *grpcCredentials) resolve(
	ctx context.Context,
	authority, method string,
) (resource string, ok bool) {
	service := strings.TrimPrefix(method, "/")
	if i := strings.LastIndexByte(service, '/'); i >= 0 {
		service = service[:i]
	}
	var buf [4]*GRPCTarget
	matches := buf[:0]
	for i := range g.targets {
		t := &g.targets[i]
		if strings.EqualFold(t.Authority, authority) && (t.Service == "" || t.Service == service) {
			matches = append(matches, t)
		}
	}
	gateway := g.gateway != "" && strings.EqualFold(authority, g.gateway)
	named := ""
	if len(matches) > 1 || (len(matches) == 0 && gateway) {
		named = namedResource(ctx)
	}
	var best *GRPCTarget
	rank := func(t *GRPCTarget) int {
		r := 0
		if t.Service != "" {
			r++
		}
		if named != "" && t.Resource == named {
			r += 2
		}
		return r
	}
	for _, t := range matches {
		if best == nil || rank(t) > rank(best) {
			best = t
		}
	}
	switch {
	case best != nil:
		return best.Resource, true
	case named != "" && gateway:
		return named, true
	}
	return "", false
}

// namedResource returns the resource the call names in its outgoing
// metadata, if any.
func namedResource(ctx context.Context) string {
	md, _ := metadata.FromOutgoingContext(ctx)
	if vs := md.Get(ResourceMetadataKey); len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

// uriAuthority returns the authority of the URI gRPC passes to per-RPC
// credentials.
func uriAuthority(uri string) string {
	if i := strings.Index(uri, "://"); i >= 0 {
		uri = uri[i+3:]
	}
	if i := strings.IndexByte(uri, '/'); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

// trimDefaultPort removes port 443, which gRPC leaves out of the URI it
// passes to per-RPC credentials.
func trimDefaultPort(authority string) string {
	return strings.TrimSuffix(authority, ":443")
}

// isLoopback reports whether authority names localhost or a loopback
// address.
func isLoopback(authority string) bool {
	host := authority
	if h, _, err := net.SplitHostPort(authority); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
