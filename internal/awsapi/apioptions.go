package awsapi

import (
	"slices"

	"github.com/aws/smithy-go/middleware"
)

// WithAPIOptions returns clients built from c's configuration plus extra
// middleware (podid apply adds its shared caches and EKS pacing). They share
// c's CallCounter, whose middleware is already on every stack, so calls made
// through them count where c's calls count; an option can place itself
// before the counter with stack.Initialize.Insert(m, CountCallsID,
// middleware.Before) to keep answers it serves itself out of the count.
func (c *Clients) WithAPIOptions(opts ...func(*middleware.Stack) error) *Clients {
	cfg := c.cfg.Copy()
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), opts...)
	return &Clients{cfg: cfg, Calls: c.Calls}
}

// CountCallsID is the ID of the call-counting Initialize middleware.
const CountCallsID = "podidCountCalls"
