package podidentity

import (
	"context"
	"time"

	"github.com/podid/podid/internal/awsapi"
)

// Poller paces a wait on an AWS resource.
//
// Why this schedule: an add-on usually turns ACTIVE within seconds to a
// minute, and the user watches a spinner. The SDK waiter polls every 10 s
// to 2 min, so podid would notice ACTIVE up to 10 s late; a fixed 100 ms
// loop would notice at once but spend ~10 DescribeAddon calls a second of
// the account's shared EKS request quota. The schedule 200 ms, 500 ms, then
// 1 s steady notices a fast transition almost at once, notices any later
// one at most 1 s after it happens, and costs about one call per second of
// waiting (three in the first second). When EKS throttles anyway (the SDK
// retried and gave up) the delay doubles up to MaxDelay instead of failing
// the wait, and returns to the steady delay after the next good answer.
type Poller struct {
	// Delays is the schedule between checks; the last entry repeats.
	Delays []time.Duration
	// MaxDelay caps the back-off after throttling.
	MaxDelay time.Duration
	// Sleep waits d or until ctx ends (tests inject a fake clock).
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultPoller is the pacing used for add-on and IAM waits.
func DefaultPoller() Poller {
	return Poller{
		Delays:   []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second},
		MaxDelay: 8 * time.Second,
		Sleep:    sleepCtx,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Poll calls check at once and then on the schedule until it reports done,
// returns an error, or ctx ends (then Poll returns ctx's error; the caller
// reports the last state it saw). Throttling errors from check are absorbed
// by backing off.
func (p Poller) Poll(ctx context.Context, check func(ctx context.Context) (done bool, err error)) error {
	if len(p.Delays) == 0 {
		p.Delays = DefaultPoller().Delays
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultPoller().MaxDelay
	}
	if p.Sleep == nil {
		p.Sleep = sleepCtx
	}
	step := 0
	var backoff time.Duration
	for {
		done, err := check(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && awsapi.IsThrottle(err):
			if backoff == 0 {
				backoff = p.Delays[len(p.Delays)-1]
			}
			backoff = min(2*backoff, p.MaxDelay)
		case err != nil:
			return err
		case done:
			return nil
		default:
			backoff = 0
		}
		d := backoff
		if d == 0 {
			d = p.Delays[min(step, len(p.Delays)-1)]
			step++
		}
		if err := p.Sleep(ctx, d); err != nil {
			return err
		}
	}
}
