// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/otelcaracal/otelcaracal/internal/httppath"
)

// ResourceHeader names the resource a gateway-bound request is for
// (Caracal protocol §7.1).
const ResourceHeader = "X-Caracal-Resource"

// Binding routes requests under an upstream prefix through the Gateway as
// a resource (Caracal protocol §7.2).
type Binding struct {
	// Resource is the resource identifier, such as resource://tools.
	Resource string
	// UpstreamPrefix is an absolute http or https URL. Requests whose URL
	// has the same scheme and host and whose path is the prefix's path or
	// lies below it are bound; the longest prefix wins.
	UpstreamPrefix string
}

// ErrPath is returned for a gateway path that is absolute, has a fragment
// or holds a dot segment or backslash (Caracal protocol §7.1).
var ErrPath = errors.New("caracal gateway: path rejected")

// router holds a gateway URL and bindings, checked at construction.
type router struct {
	base     *url.URL // scheme, host and base path without a trailing "/"
	bindings []route
}

type route struct {
	resource string
	prefix   *url.URL
}

func newRouter(gatewayURL string, bindings []Binding) (*router, error) {
	base, err := url.Parse(gatewayURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("caracal gateway: gateway URL %q must be an absolute http(s) URL", gatewayURL)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath, base.RawQuery, base.Fragment = "", "", ""
	r := &router{base: base}
	var errs []error
	for _, b := range bindings {
		p, err := url.Parse(b.UpstreamPrefix)
		switch {
		case strings.TrimSpace(b.Resource) == "":
			errs = append(errs, fmt.Errorf("caracal gateway: binding for %q has no resource", b.UpstreamPrefix))
		case err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "":
			errs = append(errs, fmt.Errorf("caracal gateway: upstream prefix %q must be an absolute http(s) URL",
				b.UpstreamPrefix))
		default:
			p.Path = strings.TrimRight(p.Path, "/")
			r.bindings = append(r.bindings, route{resource: b.Resource, prefix: p})
		}
	}
	return r, errors.Join(errs...)
}

// resolve returns the gateway URL and resource for u, or ok false when u
// is not bound to a resource. A resource named by the caller selects its
// binding; otherwise the longest matching prefix does.
func (rt *router) resolve(u *url.URL, resource string) (out *url.URL, res string, ok bool) {
	var best *route
	for i := range rt.bindings {
		b := &rt.bindings[i]
		if resource != "" && b.resource != resource {
			continue
		}
		if !underPrefix(u, b.prefix) {
			continue
		}
		if best == nil || len(b.prefix.Path) > len(best.prefix.Path) {
			best = b
		}
	}
	if best == nil {
		return nil, "", false
	}
	rest := strings.TrimPrefix(u.EscapedPath(), best.prefix.EscapedPath())
	out = rt.join(rest, u.RawQuery)
	return out, best.resource, true
}

// inGateway reports whether u already addresses the Gateway: same scheme
// and host, and a path at or below its base path without traversal.
func (rt *router) inGateway(u *url.URL) bool {
	if !strings.EqualFold(u.Scheme, rt.base.Scheme) || !strings.EqualFold(u.Host, rt.base.Host) {
		return false
	}
	p := u.EscapedPath()
	if p != rt.base.Path && !strings.HasPrefix(p, rt.base.Path+"/") {
		return false
	}
	return !httppath.HasTraversal(p)
}

func (rt *router) join(path, query string) *url.URL {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	out := *rt.base
	raw := rt.base.EscapedPath() + path
	out.Path, _ = url.PathUnescape(raw)
	out.RawPath = raw
	out.RawQuery = query
	return &out
}

// request returns the gateway URL of a resource path (Caracal protocol
// §7.1): relative, no fragment, no traversal.
func (rt *router) request(path string) (*url.URL, error) {
	p, err := url.Parse(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %q is not a URL path", ErrPath, path)
	case p.Scheme != "" || p.Host != "" || strings.HasPrefix(path, "//"):
		return nil, fmt.Errorf("%w: path must be relative", ErrPath)
	case p.Fragment != "" || strings.Contains(path, "#"):
		return nil, fmt.Errorf("%w: path must not contain a fragment", ErrPath)
	}
	esc := p.EscapedPath()
	if esc == "" {
		esc = "/"
	}
	if !strings.HasPrefix(esc, "/") {
		esc = "/" + esc
	}
	if httppath.HasTraversal(esc) {
		return nil, fmt.Errorf("%w: path must not contain dot segments", ErrPath)
	}
	return rt.join(esc, p.RawQuery), nil
}

func underPrefix(u, prefix *url.URL) bool {
	if !strings.EqualFold(u.Scheme, prefix.Scheme) || !strings.EqualFold(u.Host, prefix.Host) {
		return false
	}
	p := u.EscapedPath()
	pp := prefix.EscapedPath()
	return pp == "" || p == pp || strings.HasPrefix(p, pp+"/")
}
