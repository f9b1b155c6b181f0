// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"testing"

	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestClaimsContext(t *testing.T) {
	c := &mandate.Claims{SID: "rec"}
	tests := []struct {
		name   string
		ctx    context.Context
		want   *mandate.Claims
		wantOK bool
	}{
		{name: "empty", ctx: context.Background()},
		{name: "stored", ctx: mandate.ContextWithClaims(context.Background(), c), want: c, wantOK: true},
		{name: "nil stored", ctx: mandate.ContextWithClaims(context.Background(), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := mandate.ClaimsFromContext(tt.ctx)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ClaimsFromContext = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
