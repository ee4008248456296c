package podidentity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// fakeClock is a virtual clock whose Sleep advances time at once.
type fakeClock struct {
	now    time.Duration
	sleeps []time.Duration
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now += d
	return nil
}

func TestPollerPacing(t *testing.T) {
	t.Parallel()
	for _, activeAt := range []time.Duration{0, 150 * time.Millisecond, 900 * time.Millisecond, 5 * time.Second, 37*time.Second + 300*time.Millisecond, 10 * time.Minute} {
		clock := &fakeClock{}
		p := DefaultPoller()
		p.Sleep = clock.Sleep
		calls := 0
		err := p.Poll(context.Background(), func(context.Context) (bool, error) {
			calls++
			return clock.now >= activeAt, nil
		})
		if err != nil {
			t.Fatalf("activeAt %v: %v", activeAt, err)
		}
		if late := clock.now - activeAt; late > time.Second {
			t.Errorf("activeAt %v: noticed %v late, want ≤ 1s", activeAt, late)
		}
		// About one call per second of waiting: at most 3 in the first
		// second, then one per second (plus the final one).
		if limit := 4 + int(activeAt/time.Second); calls > limit {
			t.Errorf("activeAt %v: %d calls, want ≤ %d", activeAt, calls, limit)
		}
	}
}

func TestPollerSchedule(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	p := DefaultPoller()
	p.Sleep = clock.Sleep
	n := 0
	_ = p.Poll(context.Background(), func(context.Context) (bool, error) { n++; return n == 5, nil })
	want := []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second}
	if diff := cmp.Diff(want, clock.sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestPollerThrottleBacksOff(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	p := DefaultPoller()
	p.Sleep = clock.Sleep
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	// ok, throttled ×5, ok, ok, done
	script := []error{nil, throttle, throttle, throttle, throttle, throttle, nil, nil, nil}
	i := 0
	err := p.Poll(context.Background(), func(context.Context) (bool, error) {
		e := script[i]
		i++
		return i == len(script), e
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{200 * time.Millisecond, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second, 500 * time.Millisecond, time.Second}
	if diff := cmp.Diff(want, clock.sleeps); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestPollerStopsOnErrorAndContext(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	clock := &fakeClock{}
	p := DefaultPoller()
	p.Sleep = clock.Sleep
	if err := p.Poll(context.Background(), func(context.Context) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("got %v, want boom", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := p.Poll(ctx, func(context.Context) (bool, error) {
		n++
		if n == 3 {
			cancel()
		}
		return false, nil
	})
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Errorf("got %v after %d calls, want context.Canceled after 3", err, n)
	}
}
