// Deadlines keep a Lambda handler's dependency calls inside the invocation's time
// limit, so that a slow or unreachable dependency ends in the handler's own answer (a 503 in the
// error shape) instead of the runtime killing the invocation (a bare 502/504, or an authorizer
// failure without the gateway response's Retry-After).

package httpapi

import (
	"context"
	"time"
)

// Reserve is the time kept back from the Lambda deadline to render and return the answer.
const Reserve = 300 * time.Millisecond

// Budget returns ctx with a deadline Reserve before ctx's own (the Lambda invocation's), or ctx
// unchanged when it has none or too little time left to reserve any.
func Budget(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok || time.Until(d) <= 2*Reserve {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, d.Add(-Reserve))
}
