package flow

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

// reads is the one cache of AWS reads of a run, as SDK middleware so that
// every step uses it unchanged (Run wraps the session's clients in it):
//
//   - associations: a ListPodIdentityAssociations is answered from an
//     earlier identical one, and a Describe from an earlier Describe of the
//     same association. With share (apply), one paginated listing per
//     namespace answers every (namespace, service account) lookup of the
//     run's entries. A create adds what it created; any other association
//     write (update, delete, or a create that failed, such as a 409 from a
//     concurrent creator) forgets what was remembered of its namespace, so
//     a lookup after it asks EKS again;
//   - IAM reads: GetRole, the role's policies and simulations are read once
//     per distinct input until the run's first IAM write; after it, IAM
//     reads go to IAM (a wait for a written trust policy must see it);
//   - EKS pacing (share only): one token bucket for every EKS request
//     (attempt), so the entries together stay under the account's EKS
//     request rate instead of provoking throttling.
//
// Answers served from the cache never reach the call counter.
type reads struct {
	share   bool
	limiter *rate.Limiter
	lister  *eks.Client // un-cached: fills the namespace listings

	mu       sync.Mutex
	assocs   map[string]*nsAssocs // cluster/namespace (share)
	lists    map[string]*readEntry
	descs    map[string]*readEntry
	iam      map[string]*readEntry
	iamWrote bool
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
	paceID  = "podidPaceEKS"
	cacheID = "podidReads"
)

// newReads wraps clients in the run's cache; with share, EKS is paced at
// eksRate requests/s (DefaultEKSRate when 0).
func newReads(clients *awsapi.Clients, share bool, eksRate float64) *awsapi.Clients {
	r := &reads{share: share, assocs: map[string]*nsAssocs{}}
	r.forgetAssociations()
	r.iam = map[string]*readEntry{}
	if !share {
		return clients.WithAPIOptions(r.cache)
	}
	if eksRate <= 0 {
		eksRate = DefaultEKSRate
	}
	r.limiter = rate.NewLimiter(rate.Limit(eksRate), DefaultEKSBurst)
	r.lister = clients.WithAPIOptions(r.pace).EKS()
	return clients.WithAPIOptions(r.pace, r.cache)
}

func (r *reads) forgetAssociations() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists = map[string]*readEntry{}
	r.descs = map[string]*readEntry{}
}

// pace waits for a token before every EKS attempt (retries included).
func (r *reads) pace(stack *middleware.Stack) error {
	m := middleware.FinalizeMiddlewareFunc(paceID, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if awsmiddleware.GetServiceID(ctx) == eks.ServiceID {
			if err := r.limiter.Wait(ctx); err != nil {
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

// cache answers reads from what the run has read.
func (r *reads) cache(stack *middleware.Stack) error {
	m := middleware.InitializeMiddlewareFunc(cacheID, func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		switch p := in.Parameters.(type) {
		case *eks.ListPodIdentityAssociationsInput:
			if r.share && p.Namespace != nil && p.NextToken == nil {
				return r.fromNamespace(ctx, p)
			}
			return r.read(ctx, r.lists, in, next)
		case *eks.DescribePodIdentityAssociationInput:
			return r.read(ctx, r.descs, in, next)
		case *eks.CreatePodIdentityAssociationInput:
			out, md, err := next.HandleInitialize(ctx, in)
			if res, ok := out.Result.(*eks.CreatePodIdentityAssociationOutput); ok && err == nil && res.Association != nil {
				r.added(res.Association)
				r.forgetLists()
			} else {
				r.forgetNamespace(aws.ToString(p.ClusterName), aws.ToString(p.Namespace))
			}
			return out, md, err
		case *eks.UpdatePodIdentityAssociationInput, *eks.DeletePodIdentityAssociationInput:
			r.forgetAll()
			return next.HandleInitialize(ctx, in)
		case *iam.GetRoleInput, *iam.ListAttachedRolePoliciesInput, *iam.GetPolicyInput, *iam.GetPolicyVersionInput,
			*iam.ListRolePoliciesInput, *iam.GetRolePolicyInput, *iam.ListRolesInput, *iam.SimulatePrincipalPolicyInput:
			r.mu.Lock()
			wrote := r.iamWrote
			r.mu.Unlock()
			if wrote {
				return next.HandleInitialize(ctx, in)
			}
			return r.read(ctx, r.iam, in, next)
		}
		if awsmiddleware.GetServiceID(ctx) == iam.ServiceID {
			// A write (or a read not listed above): IAM reads go to IAM from now on.
			r.mu.Lock()
			r.iamWrote, r.iam = true, map[string]*readEntry{}
			r.mu.Unlock()
		}
		return next.HandleInitialize(ctx, in)
	})
	if err := stack.Initialize.Insert(m, awsapi.CountCallsID, middleware.Before); err != nil {
		return stack.Initialize.Add(m, middleware.Before)
	}
	return nil
}

// forgetLists forgets the remembered List and Describe answers (not the
// namespace listings, which are kept up to date).
func (r *reads) forgetLists() { r.forgetAssociations() }

// forgetNamespace forgets a namespace's listing and every List and
// Describe answer.
func (r *reads) forgetNamespace(cluster, ns string) {
	r.mu.Lock()
	delete(r.assocs, cluster+"/"+ns)
	r.mu.Unlock()
	r.forgetAssociations()
}

// forgetAll forgets every association read.
func (r *reads) forgetAll() {
	r.mu.Lock()
	r.assocs = map[string]*nsAssocs{}
	r.mu.Unlock()
	r.forgetAssociations()
}

// fromNamespace answers a List for a namespace (and service account) from
// the namespace's one listing.
func (r *reads) fromNamespace(ctx context.Context, p *eks.ListPodIdentityAssociationsInput) (middleware.InitializeOutput, middleware.Metadata, error) {
	list, err := r.namespace(ctx, aws.ToString(p.ClusterName), aws.ToString(p.Namespace))
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

// namespace lists the namespace's associations once (paginated).
func (r *reads) namespace(ctx context.Context, cluster, ns string) ([]ekstypes.PodIdentityAssociationSummary, error) {
	key := cluster + "/" + ns
	r.mu.Lock()
	e := r.assocs[key]
	if e == nil {
		e = &nsAssocs{}
		r.assocs[key] = e
	}
	r.mu.Unlock()
	e.once.Do(func() {
		p := eks.NewListPodIdentityAssociationsPaginator(r.lister, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster), Namespace: aws.String(ns)})
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
		r.mu.Lock()
		if r.assocs[key] == e {
			delete(r.assocs, key)
		}
		r.mu.Unlock()
		return nil, e.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ekstypes.PodIdentityAssociationSummary(nil), e.list...), nil
}

// added records an association this run created.
func (r *reads) added(a *ekstypes.PodIdentityAssociation) {
	key := aws.ToString(a.ClusterName) + "/" + aws.ToString(a.Namespace)
	r.mu.Lock()
	e := r.assocs[key]
	r.mu.Unlock()
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

// read serves a read once per distinct input from table; errors are not
// kept.
func (r *reads) read(ctx context.Context, table map[string]*readEntry, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	b, err := json.Marshal(in.Parameters)
	if err != nil {
		return next.HandleInitialize(ctx, in)
	}
	key := fmt.Sprintf("%T %s", in.Parameters, b)
	for {
		r.mu.Lock()
		e, ok := table[key]
		if !ok {
			e = &readEntry{done: make(chan struct{})}
			table[key] = e
		}
		r.mu.Unlock()
		if !ok {
			out, md, err := next.HandleInitialize(ctx, in)
			e.out, e.err = shallowCopy(out.Result), err
			if err != nil {
				r.mu.Lock()
				if table[key] == e {
					delete(table, key)
				}
				r.mu.Unlock()
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
