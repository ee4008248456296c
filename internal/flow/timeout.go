package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/step"
)

// explainTimeout says "timed out" and what to do when --timeout ran out
// during an API call that had no hint of its own (the SDK's "request
// canceled, context deadline exceeded" alone names neither).
func explainTimeout(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) || fail.KindOf(err) != fail.KindTimeout || fail.HintOf(err) != "" {
		return err
	}
	return &fail.Error{Kind: fail.KindTimeout, Err: fmt.Errorf("timed out: %w", err), Hint: step.TimeoutHint}
}
