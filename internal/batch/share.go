package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/podid/podid/internal/awsapi"
)

// shared is what the entries of one run share, as SDK middleware so that
// the flow's steps use it unchanged:
//
//   - EKS pacing: one token bucket for every EKS request (attempt), so the
//     entries together stay under the account's EKS request rate instead of
//     provoking throttling and riding it out with retries;
//   - associations: one paginated ListPodIdentityAssociations per namespace;
//     a step's List for (namespace, service account) is answered from it (a
//     Describe still follows for a match), and creates are added to it;
//   - IAM reads: GetRole, the role's policies and simulations are read once
//     per distinct input; any IAM write drops them.
//
// Answers served from the caches never reach the call counter.
type shared struct {
	limiter *rate.Limiter
	lister  *eks.Client // un-cached, paced: fills the namespace caches

	mu     sync.Mutex
	assocs map[string]*nsAssocs // cluster/namespace
	reads  map[string]*readEntry
}

type nsAssocs struct {
	once sync.Once
	err  error
	mu   sync.Mutex
	list []ekstypes.PodIdentityAssociationSummary
}

type readEntry struct {
	done chan struct{}
	out  any
	err  error
}

const (
	paceID  = "podidBatchPaceEKS"
	cacheID = "podidBatchShare"
)

// newShared wraps clients: the returned clients pace EKS at eksRate
// requests/s (burst burst) and share the caches.
func newShared(clients *awsapi.Clients, eksRate float64, burst int) (*awsapi.Clients, *shared) {
	s := &shared{
		limiter: rate.NewLimiter(rate.Limit(eksRate), burst),
		assocs:  map[string]*nsAssocs{},
		reads:   map[string]*readEntry{},
	}
	s.lister = clients.WithAPIOptions(s.pace).EKS()
	return clients.WithAPIOptions(s.pace, s.cache), s
}

// pace waits for a token before every EKS attempt (retries included).
func (s *shared) pace(stack *middleware.Stack) error {
	m := middleware.FinalizeMiddlewareFunc(paceID, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if awsmiddleware.GetServiceID(ctx) == eks.ServiceID {
			if err := s.limiter.Wait(ctx); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("waiting for the EKS request budget: %w", err)
			}
		}
		return next.HandleFinalize(ctx, in)
	})
	if err := stack.Finalize.Insert(m, "Retry", middleware.After); err != nil {
		return stack.Finalize.Add(m, middleware.After)
	}
	return nil
}

// cache answers reads from the shared state.
func (s *shared) cache(stack *middleware.Stack) error {
	m := middleware.InitializeMiddlewareFunc(cacheID, func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		switch p := in.Parameters.(type) {
		case *eks.ListPodIdentityAssociationsInput:
			if p.Namespace != nil && p.NextToken == nil {
				list, err := s.namespace(ctx, aws.ToString(p.ClusterName), aws.ToString(p.Namespace))
				if err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				out := &eks.ListPodIdentityAssociationsOutput{}
				for _, a := range list {
					if p.ServiceAccount == nil || aws.ToString(a.ServiceAccount) == aws.ToString(p.ServiceAccount) {
						out.Associations = append(out.Associations, a)
					}
				}
				return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
			}
		case *eks.CreatePodIdentityAssociationInput:
			out, md, err := next.HandleInitialize(ctx, in)
			if r, ok := out.Result.(*eks.CreatePodIdentityAssociationOutput); ok && err == nil && r.Association != nil {
				s.added(r.Association)
			}
			return out, md, err
		case *iam.GetRoleInput, *iam.ListAttachedRolePoliciesInput, *iam.GetPolicyInput, *iam.GetPolicyVersionInput,
			*iam.ListRolePoliciesInput, *iam.GetRolePolicyInput, *iam.ListRolesInput, *iam.SimulatePrincipalPolicyInput:
			return s.read(ctx, in, next)
		}
		if awsmiddleware.GetServiceID(ctx) == iam.ServiceID {
			// A write (or a read not listed above): forget every IAM read.
			s.mu.Lock()
			s.reads = map[string]*readEntry{}
			s.mu.Unlock()
		}
		return next.HandleInitialize(ctx, in)
	})
	if err := stack.Initialize.Insert(m, awsapi.CountCallsID, middleware.Before); err != nil {
		return stack.Initialize.Add(m, middleware.Before)
	}
	return nil
}

// namespace lists the namespace's associations once (paginated).
func (s *shared) namespace(ctx context.Context, cluster, ns string) ([]ekstypes.PodIdentityAssociationSummary, error) {
	key := cluster + "/" + ns
	s.mu.Lock()
	e := s.assocs[key]
	if e == nil {
		e = &nsAssocs{}
		s.assocs[key] = e
	}
	s.mu.Unlock()
	e.once.Do(func() {
		p := eks.NewListPodIdentityAssociationsPaginator(s.lister, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster), Namespace: aws.String(ns)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				e.err = err
				return
			}
			e.list = append(e.list, page.Associations...)
		}
	})
	if e.err != nil {
		// Let the next entry try again rather than fail every entry of the
		// namespace on one error.
		s.mu.Lock()
		if s.assocs[key] == e {
			delete(s.assocs, key)
		}
		s.mu.Unlock()
		return nil, e.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ekstypes.PodIdentityAssociationSummary(nil), e.list...), nil
}

// added records an association this run created.
func (s *shared) added(a *ekstypes.PodIdentityAssociation) {
	key := aws.ToString(a.ClusterName) + "/" + aws.ToString(a.Namespace)
	s.mu.Lock()
	e := s.assocs[key]
	s.mu.Unlock()
	if e == nil {
		return // not listed yet: the listing will show it
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.list {
		if aws.ToString(x.AssociationId) == aws.ToString(a.AssociationId) {
			return
		}
	}
	e.list = append(e.list, ekstypes.PodIdentityAssociationSummary{
		AssociationArn: a.AssociationArn, AssociationId: a.AssociationId, ClusterName: a.ClusterName,
		Namespace: a.Namespace, ServiceAccount: a.ServiceAccount, OwnerArn: a.OwnerArn,
	})
}

// read serves an IAM read once per distinct input; errors are not kept.
func (s *shared) read(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	b, err := json.Marshal(in.Parameters)
	if err != nil {
		return next.HandleInitialize(ctx, in)
	}
	key := fmt.Sprintf("%T %s", in.Parameters, b)
	for {
		s.mu.Lock()
		e, ok := s.reads[key]
		if !ok {
			e = &readEntry{done: make(chan struct{})}
			s.reads[key] = e
		}
		s.mu.Unlock()
		if !ok {
			out, md, err := next.HandleInitialize(ctx, in)
			e.out, e.err = shallowCopy(out.Result), err
			if err != nil {
				s.mu.Lock()
				if s.reads[key] == e {
					delete(s.reads, key)
				}
				s.mu.Unlock()
			}
			close(e.done)
			return out, md, err
		}
		select {
		case <-ctx.Done():
			return middleware.InitializeOutput{}, middleware.Metadata{}, ctx.Err()
		case <-e.done:
		}
		if e.err != nil {
			continue // the first reader failed; try ourselves
		}
		return middleware.InitializeOutput{Result: shallowCopy(e.out)}, middleware.Metadata{}, nil
	}
}

// shallowCopy copies *T so that each caller may set ResultMetadata on its own.
func shallowCopy(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return v
	}
	cp := reflect.New(rv.Elem().Type())
	cp.Elem().Set(rv.Elem())
	return cp.Interface()
}
