package awsapi

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// CallCounter counts API calls per "service:Operation" (e.g.
// "eks:DescribeAddon"): logical calls (one per client method call) and
// attempts (one per HTTP request, retries included). It is safe for
// concurrent use.
type CallCounter struct {
	log *slog.Logger

	mu       sync.Mutex
	calls    map[string]int
	attempts map[string]int
}

// NewCallCounter returns an empty counter; log (may be nil) receives one
// debug line per attempt.
func NewCallCounter(log *slog.Logger) *CallCounter {
	return &CallCounter{log: log, calls: map[string]int{}, attempts: map[string]int{}}
}

// Snapshot returns the logical calls per "service:Operation".
func (c *CallCounter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// Attempts returns the HTTP attempts per "service:Operation" (retries
// included), comparable to fakeaws' CallCounts.
func (c *CallCounter) Attempts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.attempts)
}

// Total is the number of logical calls.
func (c *CallCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

// TotalAttempts is the number of HTTP attempts.
func (c *CallCounter) TotalAttempts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.attempts {
		n += v
	}
	return n
}

// opKey is "service:Operation" with the service ID lowercased and its
// spaces made dashes: "eks", "iam", "sts", "eks-auth" (the IAM action
// prefixes, and the fake's keys).
func opKey(ctx context.Context) string {
	svc := strings.ReplaceAll(strings.ToLower(awsmiddleware.GetServiceID(ctx)), " ", "-")
	return svc + ":" + awsmiddleware.GetOperationName(ctx)
}

// AddMiddleware installs the counters on an operation's stack; it is an
// aws.Config APIOptions function.
func (c *CallCounter) AddMiddleware(stack *middleware.Stack) error {
	logical := middleware.InitializeMiddlewareFunc("podidCountCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			key := opKey(ctx)
			c.mu.Lock()
			c.calls[key]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		})
	// After the operation's own Initialize middlewares: clients generated
	// by older SDK releases (eksauth v1.1.0) register the service ID and
	// operation name there, not before the stack runs, so a counter in
	// front of them would count their calls under ":".
	if err := stack.Initialize.Add(logical, middleware.After); err != nil {
		return err
	}
	attempt := middleware.FinalizeMiddlewareFunc("podidCountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			key := opKey(ctx)
			c.mu.Lock()
			c.attempts[key]++
			n := c.attempts[key]
			c.mu.Unlock()
			start := time.Now()
			out, md, err := next.HandleFinalize(ctx, in)
			if c.log != nil {
				status := 0
				if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && r != nil {
					status = r.StatusCode
				}
				attrs := []any{"op", key, "n", n, "status", status, "elapsed", time.Since(start).Round(time.Millisecond)}
				if err != nil {
					attrs = append(attrs, "error", redact(err.Error()))
				}
				c.log.DebugContext(ctx, "aws call", attrs...)
			}
			return out, md, err
		})
	// After "Retry" so that every attempt passes through; fall back to the
	// end of the step if a client has no retry middleware.
	if err := stack.Finalize.Insert(attempt, "Retry", middleware.After); err != nil {
		return stack.Finalize.Add(attempt, middleware.After)
	}
	return nil
}
