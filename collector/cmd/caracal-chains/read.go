// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcaracal/otelcaracal/exporter"
)

// maxInput is the most bytes read from a file or a response.
const maxInput = 256 << 20

// caracalPrefix starts the attribute keys BuildChains reads.
const caracalPrefix = "caracal."

// fromFile reads the records of a file, or of stdin when name is "-".
func fromFile(name string, stdin io.Reader) ([]exporter.SpanRecord, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	recs, err := decodeDocuments(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return recs, nil
}

// readAll reads r up to maxInput bytes.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err == nil && len(b) > maxInput {
		err = fmt.Errorf("larger than %d bytes", maxInput)
	}
	return b, err
}

// decodeDocuments reads one or more JSON documents in a row, each OTLP
// JSON or a Jaeger API response.
func decodeDocuments(b []byte) ([]exporter.SpanRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var recs []exporter.SpanRecord
	for n := 1; ; n++ {
		var doc json.RawMessage
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			if n == 1 {
				return nil, errors.New("no JSON document")
			}
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		r, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		recs = append(recs, r...)
	}
}

// decodeDocument tells the format of doc by its top-level keys.
func decodeDocument(doc []byte) ([]exporter.SpanRecord, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, err
	}
	switch {
	case top["resourceSpans"] != nil || len(top) == 0:
		return fromOTLP(doc)
	case top["result"] != nil: // Jaeger's /api/v3 wraps OTLP in "result"
		return fromOTLP(top["result"])
	case top["data"] != nil:
		return fromJaegerJSON(doc)
	}
	return nil, errors.New("neither OTLP JSON (resourceSpans) nor a Jaeger API response (data)")
}

// fromOTLP reads OTLP JSON.
func fromOTLP(doc []byte) ([]exporter.SpanRecord, error) {
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(doc)
	if err != nil {
		return nil, err
	}
	var recs []exporter.SpanRecord
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		service := ""
		if v, ok := rss.At(i).Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				r := exporter.SpanRecord{
					TraceID:  s.TraceID().String(),
					SpanName: s.Name(),
					Service:  service,
				}
				for key, v := range s.Attributes().All() {
					if strings.HasPrefix(key, caracalPrefix) {
						if r.Attributes == nil {
							r.Attributes = map[string]any{}
						}
						r.Attributes[key] = v.AsRaw()
					}
				}
				recs = append(recs, r)
			}
		}
	}
	return recs, nil
}

// jaegerResponse is a response of Jaeger's /api/traces endpoints.
type jaegerResponse struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			OperationName string `json:"operationName"`
			ProcessID     string `json:"processID"`
			Tags          []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
		Processes map[string]struct {
			ServiceName string `json:"serviceName"`
		} `json:"processes"`
	} `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// fromJaegerJSON reads a response of Jaeger's /api/traces endpoints.
func fromJaegerJSON(doc []byte) ([]exporter.SpanRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // ids and hops as BuildChains reads them
	var resp jaegerResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, err
	}
	if len(resp.Errors) > 0 {
		return nil, fmt.Errorf("jaeger: %s (%d)", resp.Errors[0].Msg, resp.Errors[0].Code)
	}
	var recs []exporter.SpanRecord
	for _, t := range resp.Data {
		for _, s := range t.Spans {
			r := exporter.SpanRecord{
				TraceID:  s.TraceID,
				SpanName: s.OperationName,
				Service:  t.Processes[s.ProcessID].ServiceName,
			}
			if r.TraceID == "" {
				r.TraceID = t.TraceID
			}
			for _, tag := range s.Tags {
				if strings.HasPrefix(tag.Key, caracalPrefix) {
					if r.Attributes == nil {
						r.Attributes = map[string]any{}
					}
					r.Attributes[tag.Key] = tag.Value
				}
			}
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// fromJaeger queries Jaeger's HTTP API: one trace by id, or the recent
// traces of a service.
func fromJaeger(ctx context.Context, o options) ([]exporter.SpanRecord, error) {
	base, err := url.Parse(strings.TrimSuffix(o.jaeger, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%w: -jaeger %q is not an http or https URL", errUsage, o.jaeger)
	}
	u := *base
	if o.trace != "" {
		u.Path += "/api/traces/" + url.PathEscape(o.trace)
	} else {
		end := time.Now()
		u.Path += "/api/traces"
		u.RawQuery = url.Values{
			"service": {o.service},
			"start":   {strconv.FormatInt(end.Add(-o.lookback).UnixMicro(), 10)},
			"end":     {strconv.FormatInt(end.UnixMicro(), 10)},
			"limit":   {strconv.Itoa(o.limit)},
		}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	return fromJaegerJSON(b)
}
