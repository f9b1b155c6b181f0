// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/exporter"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// link returns a claimed Link of one span of service "svc".
func link(session, delegation, parent string, hop int) *exporter.Link {
	return &exporter.Link{
		AgentSessionID: session,
		DelegationID:   delegation,
		ParentID:       parent,
		Hop:            hop,
		Attribution:    exporter.AttributionClaimed,
		SpanCount:      1,
		Services:       []exporter.ServiceSpans{svc("svc", "op")},
	}
}

// with returns l after applying f to it.
func with(l *exporter.Link, f func(*exporter.Link)) *exporter.Link {
	f(l)
	return l
}

// children returns l with its Children set to cs.
func children(l *exporter.Link, cs ...*exporter.Link) *exporter.Link {
	l.Children = cs
	return l
}

// rec returns a claimed SpanRecord of one span "op" of service "svc" in
// trace "t1".
func rec(session, delegation, parent string, hop int) exporter.SpanRecord {
	return envRecord("t1", "svc", "op", baggage.Envelope{
		AgentSession:   session,
		DelegationEdge: delegation,
		ParentEdge:     parent,
		Hop:            hop,
	})
}

func TestBuildChains(t *testing.T) {
	partial := func(l *exporter.Link) { l.Partial = true }
	cycle := func(l *exporter.Link) { l.Cycle = true }

	tests := []struct {
		name    string
		records []exporter.SpanRecord
		want    []exporter.Chain
	}{
		{
			name:    "two hops",
			records: twoHopRecords(),
			want:    []exporter.Chain{twoHopChain()},
		},
		{
			name: "missing parent",
			records: []exporter.SpanRecord{
				rec("root", "", "", 0),
				rec("fetch", "edge-2", "edge-1", 2),
			},
			want: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{
				link("root", "", "", 0),
				with(link("fetch", "edge-2", "edge-1", 2), partial),
			}}},
		},
		{
			name: "cycle",
			records: []exporter.SpanRecord{
				rec("a", "edge-a", "edge-b", 1),
				rec("b", "edge-b", "edge-a", 2),
				rec("d", "edge-d", "edge-b", 3),
				rec("c", "edge-c", "edge-c", 1),
			},
			want: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{
				children(with(link("a", "edge-a", "edge-b", 1), cycle),
					children(link("b", "edge-b", "edge-a", 2),
						link("d", "edge-d", "edge-b", 3))),
				with(link("c", "edge-c", "edge-c", 1), cycle),
			}}},
		},
		{
			name: "two traces",
			records: []exporter.SpanRecord{
				envRecord("t2", "svc", "op", baggage.Envelope{
					AgentSession: "s2", DelegationEdge: "edge-1", Hop: 1,
				}),
				rec("s1", "", "", 0),
				rec("s1b", "edge-1", "", 1),
				envRecord("t2", "svc", "op", baggage.Envelope{
					AgentSession: "s2-root",
				}),
			},
			want: []exporter.Chain{
				{TraceID: "t1", Roots: []*exporter.Link{
					children(link("s1", "", "", 0),
						link("s1b", "edge-1", "", 1)),
				}},
				{TraceID: "t2", Roots: []*exporter.Link{
					children(link("s2-root", "", "", 0),
						link("s2", "edge-1", "", 1)),
				}},
			},
		},
		{
			name: "session without delegation under a parent",
			records: []exporter.SpanRecord{
				rec("parent", "edge-1", "", 1),
				rec("child", "", "edge-1", 1),
			},
			want: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{
				children(link("parent", "edge-1", "", 1),
					link("child", "", "edge-1", 1)),
			}}},
		},
		{
			name: "two root sessions",
			records: []exporter.SpanRecord{
				rec("root-a", "", "", 0),
				rec("root-b", "", "", 0),
				rec("child", "edge-1", "", 1),
			},
			want: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{
				link("root-a", "", "", 0),
				link("root-b", "", "", 0),
				link("child", "edge-1", "", 1),
			}}},
		},
		{
			name: "wrong types",
			records: []exporter.SpanRecord{
				{TraceID: "t1", SpanName: "op", Service: "svc",
					Attributes: map[string]any{
						string(exporter.AgentSessionKey):  []any{"x"},
						string(exporter.DelegationKey):    int64(7),
						string(exporter.SubjectRecordKey): float64(12),
						string(exporter.HopKey):           "2",
						string(exporter.AttributionKey):   true,
					}},
				{TraceID: "t1", SpanName: "op", Service: "svc",
					Attributes: map[string]any{
						string(exporter.DelegationKey):       "edge-8",
						string(exporter.DelegationParentKey): 7.5,
						string(exporter.HopKey):              []int{3},
					}},
				{TraceID: "t1", SpanName: "op", Service: "svc",
					Attributes: map[string]any{
						string(exporter.DelegationKey): "edge-9",
						string(exporter.HopKey):        float64(99),
					}},
				{TraceID: "t1", SpanName: "op", Service: "svc",
					Attributes: map[string]any{
						string(exporter.DelegationKey): "edge-10",
						string(exporter.HopKey):        json.Number("-1"),
					}},
			},
			want: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{
				link("", "edge-10", "", 0),
				link("", "edge-8", "", 0),
				with(link("", "7", "", 2), func(l *exporter.Link) {
					l.SubjectRecordID = "12"
				}),
				link("", "edge-9", "", 10),
			}}},
		},
		{
			name: "verified and claimed spans",
			records: []exporter.SpanRecord{
				rec("claimed-session", "edge-1", "", 3),
				func() exporter.SpanRecord {
					r := rec("verified-session", "edge-1", "", 1)
					r.Attributes[string(exporter.AttributionKey)] =
						exporter.AttributionVerified
					r.SpanName = "verified op"
					return r
				}(),
			},
			want: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{{
				AgentSessionID: "verified-session",
				DelegationID:   "edge-1",
				Hop:            1,
				Attribution:    exporter.AttributionVerified,
				VerifiedSpans:  1,
				SpanCount:      2,
				Services: []exporter.ServiceSpans{
					svc("svc", "op", "verified op"),
				},
			}}}},
		},
		{
			name: "no attribution",
			records: []exporter.SpanRecord{
				{TraceID: "t1", SpanName: "op", Attributes: map[string]any{
					"tenant":       "example",
					"caracal.zone": "z",
				}},
				{TraceID: "t1", SpanName: "op"},
			},
			want: []exporter.Chain{},
		},
		{
			name: "no records",
			want: []exporter.Chain{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exporter.BuildChains(tt.records)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BuildChains() =\n%s\nwant\n%s",
					toJSON(t, got), toJSON(t, tt.want))
			}
		})
	}
}

// TestBuildChainsOrder checks that the input order does not change the
// result.
func TestBuildChainsOrder(t *testing.T) {
	records := append(twoHopRecords(), rec("a", "edge-a", "edge-b", 1),
		rec("b", "edge-b", "edge-a", 1), rec("c", "edge-c", "gone", 1))
	want := exporter.BuildChains(records)
	for i := range records {
		rotated := append(records[i:len(records):len(records)], records[:i]...)
		if got := exporter.BuildChains(rotated); !reflect.DeepEqual(got, want) {
			t.Errorf("rotation %d =\n%s\nwant\n%s",
				i, toJSON(t, got), toJSON(t, want))
		}
	}
}

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	chains := exporter.BuildChains(twoHopRecords())
	if err := exporter.WriteText(&buf, chains); err != nil {
		t.Fatal(err)
	}
	golden(t, "two_hops.golden", buf.String())
}

// golden compares got with the file name in testdata, or rewrites the file
// when the -update flag is set.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("text =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteText(t *testing.T) {
	tests := []struct {
		name   string
		chains []exporter.Chain
		want   string
	}{
		{
			name: "none",
			want: "",
		},
		{
			name: "partial, cycle and subject",
			chains: []exporter.Chain{{TraceID: "t1", Roots: []*exporter.Link{
				with(link("s", "edge-2", "edge-1", 2), func(l *exporter.Link) {
					l.Partial = true
					l.SubjectRecordID = "record-1"
				}),
				children(
					with(link("a", "edge-a", "edge-b", 1), func(l *exporter.Link) {
						l.Cycle = true
						l.Attribution = exporter.AttributionVerified
						l.VerifiedSpans = 1
						l.SpanCount = 2
					}),
					link("b", "edge-b", "edge-a", 2),
					link("c", "", "edge-a", 2),
				),
			}}},
			want: `trace t1
├─ delegation edge-2 (parent edge-1) → session s  subject record-1  hop 2  claimed  partial  [svc: 1 span]
└─ delegation edge-a (parent edge-b) → session a  hop 1  verified (1 of 2 spans)  cycle  [svc: 1 span]
   ├─ delegation edge-b (parent edge-a) → session b  hop 2  claimed  [svc: 1 span]
   └─ session c (parent edge-a)  hop 2  claimed  [svc: 1 span]
`,
		},
		{
			name: "values that could forge lines",
			chains: []exporter.Chain{
				{TraceID: "t1", Roots: []*exporter.Link{
					with(link("x\n└─ session forged", "", "", 0),
						func(l *exporter.Link) {
							l.Services = []exporter.ServiceSpans{
								svc("", "a"), svc("my svc", "b"),
							}
						}),
				}},
				{TraceID: "t2", Roots: []*exporter.Link{
					link("", "\xff", "", 1),
				}},
			},
			want: `trace t1
└─ session "x\n└─ session forged"  hop 0  claimed  [unknown_service: 1 span, "my svc": 1 span]

trace t2
└─ delegation "\xff"  hop 1  claimed  [svc: 1 span]
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := exporter.WriteText(&buf, tt.chains); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("WriteText() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	want := exporter.BuildChains(append(twoHopRecords(),
		rec("a", "edge-a", "edge-a", 1), rec("c", "edge-c", "gone", 1)))
	var buf bytes.Buffer
	if err := exporter.WriteJSON(&buf, want); err != nil {
		t.Fatal(err)
	}
	var got []exporter.Chain
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip =\n%s\nwant\n%s", toJSON(t, got), buf.String())
	}
	for _, key := range []string{
		`"trace_id"`, `"roots"`, `"agent_session_id"`, `"delegation_id"`,
		`"parent_id"`, `"subject_record_id"`, `"hop"`, `"attribution"`,
		`"span_count"`, `"services"`, `"span_names"`, `"partial"`,
		`"cycle"`, `"children"`,
	} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("JSON has no %s key:\n%s", key, buf.String())
		}
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := exporter.WriteJSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "[]\n"; got != want {
		t.Errorf("WriteJSON(nil) = %q, want %q", got, want)
	}
}

// TestBuildChainsFromJSON reads records the way a command would read them
// from a tracing backend: numbers arrive as float64.
func TestBuildChainsFromJSON(t *testing.T) {
	var records []exporter.SpanRecord
	for _, r := range twoHopRecords() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back exporter.SpanRecord
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		records = append(records, back)
	}
	got := exporter.BuildChains(records)
	if want := []exporter.Chain{twoHopChain()}; !reflect.DeepEqual(got, want) {
		t.Errorf("BuildChains() =\n%s\nwant\n%s",
			toJSON(t, got), toJSON(t, want))
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		env  baggage.Envelope
		want string
	}{
		{
			name: "protocol §10.10",
			env: baggage.Envelope{
				SubjectRecord:  "sid",
				AgentSession:   "agent",
				ParentEdge:     "parent-edge",
				DelegationEdge: "edge",
				Hop:            2,
			},
			want: "subject:sid > session:agent > " +
				"parent-delegation:parent-edge > delegation:edge",
		},
		{
			name: "root",
			want: "",
		},
		{
			name: "hop only",
			env:  baggage.Envelope{Hop: 3},
			want: "",
		},
		{
			name: "session and delegation",
			env: baggage.Envelope{
				AgentSession:   "agent",
				DelegationEdge: "edge",
			},
			want: "session:agent > delegation:edge",
		},
		{
			name: "subject only",
			env:  baggage.Envelope{SubjectRecord: "sid"},
			want: "subject:sid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exporter.Describe(tt.env); got != tt.want {
				t.Errorf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}

// toJSON returns v as indented JSON for failure messages.
func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
