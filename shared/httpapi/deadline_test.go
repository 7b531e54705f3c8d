package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/httpapi"
)

func TestBudget(t *testing.T) {
	tests := []struct {
		name     string
		left     time.Duration // 0: no deadline
		wantLeft time.Duration // approximately; 0: unchanged
	}{
		{"no deadline stays without one", 0, 0},
		{"a Lambda deadline keeps a reserve", 5 * time.Second, 5*time.Second - httpapi.Reserve},
		{"too little time is left alone", httpapi.Reserve, httpapi.Reserve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.left > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.left)
				defer cancel()
			}
			got, cancel := httpapi.Budget(ctx)
			defer cancel()
			d, ok := got.Deadline()
			if tt.left == 0 {
				if ok {
					t.Fatal("a deadline appeared")
				}
				return
			}
			if left := time.Until(d); left > tt.wantLeft || left < tt.wantLeft-100*time.Millisecond {
				t.Fatalf("time left %v, want about %v", left, tt.wantLeft)
			}
		})
	}
}
