package fakeaws

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// faultState holds the injected faults, their random source and the EKS
// token bucket.
type faultState struct {
	mu     sync.Mutex
	f      Faults
	rng    *rand.Rand
	tokens float64
	last   time.Time
	// authBucket limits EKS Auth (Faults.EKSAuthRateLimit).
	authBucket bucket
}

// bucket is a token bucket with burst = ceil(rate).
type bucket struct {
	tokens float64
	last   time.Time
}

// take reports whether a request may pass at rate per second.
func (b *bucket) take(rate float64, now time.Time) bool {
	b.tokens = math.Min(bucketSize(rate), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func newFaultState(f Faults) *faultState {
	seed := f.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	return &faultState{
		f:          f,
		rng:        rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		tokens:     bucketSize(f.EKSRateLimit),
		last:       time.Now(),
		authBucket: bucket{tokens: bucketSize(f.EKSAuthRateLimit), last: time.Now()},
	}
}

func bucketSize(rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return math.Max(1, math.Ceil(rate))
}

// SetFaults replaces the injected faults; the random source restarts from
// f.Seed, so the same Seed gives the same sequence of faults.
func (s *Server) SetFaults(f Faults) {
	fs := newFaultState(f)
	s.mu.Lock()
	s.faults = fs
	s.mu.Unlock()
}

// Faults returns the faults in effect.
func (s *Server) Faults() Faults {
	fs := s.faultState()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f
}

func (s *Server) faultState() *faultState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

func (s *Server) faultLatency() time.Duration {
	fs := s.faultState()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f.Latency
}

// injectFault decides whether this call fails before it reaches the
// handler (so a faulted call never changes anything).
func (s *Server) injectFault(service string) *apiError {
	fs := s.faultState()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if slices.Contains(fs.f.Down, service) {
		return unavailable(service)
	}
	if service == "eks" && fs.f.EKSRateLimit > 0 {
		now := time.Now()
		fs.tokens = math.Min(bucketSize(fs.f.EKSRateLimit), fs.tokens+now.Sub(fs.last).Seconds()*fs.f.EKSRateLimit)
		fs.last = now
		if fs.tokens < 1 {
			return throttled(service)
		}
		fs.tokens--
	}
	// EKS Auth has its own per-account request rate (pod churn gets 429s:
	// aws/eks-pod-identity-agent#34, #50, #171).
	if service == "eks-auth" && fs.f.EKSAuthRateLimit > 0 && !fs.authBucket.take(fs.f.EKSAuthRateLimit, time.Now()) {
		return throttled(service)
	}
	if fs.f.ThrottleRate <= 0 && fs.f.ServerErrorRate <= 0 {
		return nil
	}
	x := fs.rng.Float64()
	switch {
	case x < fs.f.ThrottleRate:
		return throttled(service)
	case x < fs.f.ThrottleRate+fs.f.ServerErrorRate:
		return serverError(service)
	}
	return nil
}

func throttled(service string) *apiError {
	if service == "eks" || service == "eks-auth" {
		return &apiError{status: http.StatusTooManyRequests, code: "ThrottlingException", message: "Rate exceeded"}
	}
	return &apiError{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded"}
}

func serverError(service string) *apiError {
	switch service {
	case "eks":
		return &apiError{status: http.StatusInternalServerError, code: "ServerException", message: "fakeaws: injected server error"}
	case "eks-auth":
		return &apiError{status: http.StatusInternalServerError, code: "InternalServerException", message: "fakeaws: injected server error"}
	case "iam":
		return &apiError{status: http.StatusInternalServerError, code: "ServiceFailure", message: "fakeaws: injected server error"}
	}
	return &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: "fakeaws: injected server error"}
}

func unavailable(service string) *apiError {
	if service == "eks" || service == "eks-auth" {
		return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailableException", message: "fakeaws: service " + service + " is down"}
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", message: "fakeaws: service " + service + " is down"}
}
