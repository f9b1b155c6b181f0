// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"errors"
	"fmt"
	"net/http"
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

// Router decides which HTTP requests are gateway-bound and where they go
// (Caracal protocol §7.1–7.2). NewTransport uses one; it is exported for
// clients that need the same decision before a request is sent.
type Router struct {
	base     *url.URL // scheme, host and base path without a trailing "/"
	bindings []route
}

type route struct {
	resource string
	prefix   *url.URL
}

// NewRouter returns a Router for the Gateway at gatewayURL, an absolute
// http or https URL that may include a base path, and the bindings. All
// problems are reported together; the Router returned with an error is
// nil.
func NewRouter(gatewayURL string, bindings ...Binding) (*Router, error) {
	base, err := url.Parse(gatewayURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("caracal gateway: gateway URL %q must be an absolute http(s) URL", gatewayURL)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath, base.RawQuery, base.Fragment = "", "", ""
	r := &Router{base: base}
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
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Resolve returns the Gateway URL and resource of a gateway-bound request,
// or ok false. A request is gateway-bound when its URL lies under a
// binding's upstream prefix (the binding named by X-Caracal-Resource, or
// else the longest prefix), or when it already addresses the Gateway and
// names its resource in X-Caracal-Resource.
func (rt *Router) Resolve(r *http.Request) (u *url.URL, resource string, ok bool) {
	named := strings.TrimSpace(r.Header.Get(ResourceHeader))
	if u, res, ok := rt.resolve(r.URL, named); ok {
		return u, res, true
	}
	if named != "" && rt.inGateway(r.URL) {
		return r.URL, named, true
	}
	return nil, "", false
}

// RequestURL returns the Gateway URL of a resource path (Caracal protocol
// §7.1): the path must be relative, without a fragment, and free of "."
// and ".." segments and backslashes, also when percent-decoded again and
// again; an empty path is "/". Refused paths give errors matching ErrPath.
func (rt *Router) RequestURL(path string) (*url.URL, error) { return rt.request(path) }

// resolve returns the gateway URL and resource for u, or ok false when u
// is not bound to a resource. A resource named by the caller selects its
// binding; otherwise the longest matching prefix does.
func (rt *Router) resolve(u *url.URL, resource string) (out *url.URL, res string, ok bool) {
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
func (rt *Router) inGateway(u *url.URL) bool {
	if !strings.EqualFold(u.Scheme, rt.base.Scheme) || !strings.EqualFold(u.Host, rt.base.Host) {
		return false
	}
	p := u.EscapedPath()
	if p != rt.base.Path && !strings.HasPrefix(p, rt.base.Path+"/") {
		return false
	}
	return !httppath.HasTraversal(p)
}

func (rt *Router) join(path, query string) *url.URL {
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
func (rt *Router) request(path string) (*url.URL, error) {
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
