package flow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
	"github.com/podid/podid/internal/kube"
	"github.com/podid/podid/internal/podidentity"
	"github.com/podid/podid/internal/step"
)

// Clients builds a run's clients on first use (the command layer's factory
// implements it): --help and bad flags build none.
type Clients interface {
	AWS(ctx context.Context) (*awsapi.Clients, error)
	Kube() (*kube.Cluster, error)
}

// Session is a run's connection to one EKS cluster and, when the command
// needs Kubernetes, to the same cluster's API server.
type Session struct {
	AWS     *awsapi.Clients
	Cluster podidentity.ClusterInfo
	Kube    *kube.Cluster // nil when the command does not need Kubernetes
}

// connect describes the cluster and, with needKube, loads the kubeconfig and
// refuses when its context points at another cluster. It is podid's first
// step ("cluster") and is reported as one; it changes nothing.
func connect(ctx context.Context, env Env, needKube bool) (*Session, step.Report, error) {
	start := time.Now()
	line := env.sink().Start("cluster")
	s, msg, note, err := dial(ctx, env, needKube)
	rep := step.Report{Name: "cluster", Status: step.Unchanged, Message: msg}
	if note != "" {
		rep.Warnings = []string{note}
	}
	if err != nil {
		err = explainTimeout(err)
		rep = step.Report{Name: "cluster", Status: step.Failed, Error: err.Error(), Hint: fail.HintOf(err)}
	}
	rep.Duration = time.Since(start)
	rep.Seconds = rep.Duration.Seconds()
	line.Done(rep)
	return s, rep, err
}

// dial returns the session, the cluster step's message, and a note when
// the kube context was matched to the cluster by other means than its
// endpoint (a tunnel or proxy; see kube.MatchCluster).
func dial(ctx context.Context, env Env, needKube bool) (s *Session, msg, note string, err error) {
	clients, err := env.Clients.AWS(ctx)
	if err != nil {
		return nil, "", "", err
	}
	info, err := podidentity.LookupCluster(ctx, clients.EKS(), env.Cluster, clients.Region())
	if err != nil {
		return nil, "", "", err
	}
	s = &Session{AWS: clients, Cluster: info}
	msg = fmt.Sprintf("%s: Kubernetes %s (%s), %s", info.Name, info.Version, info.PlatformVersion, info.Status)
	if !needKube {
		return s, msg, "", nil
	}
	// Kubernetes hints name the cluster generically; name this one.
	named := func(err error) error {
		h := fail.HintOf(err)
		if !strings.Contains(h, "<cluster>") {
			return err
		}
		return fail.WithHint(err, strings.ReplaceAll(h, "<cluster>", info.Name+" --region "+clients.Region()))
	}
	kc, err := env.Clients.Kube()
	if err != nil {
		return nil, "", "", named(err)
	}
	note, err = kube.MatchCluster(kube.Endpoint{Server: kc.Server, CAData: kc.CAData, TLSServerName: kc.TLSServerName}, info.Endpoint, info.CAData)
	if err != nil {
		return nil, "", "", named(err)
	}
	s.Kube = kc
	if note != "" {
		note = fmt.Sprintf("note: kube context %q: %s", kc.Context, note)
	}
	return s, msg + fmt.Sprintf("; kube context %q points at it", kc.Context), note, nil
}
