package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab/agent"
)

// AgentProcessName is the lab agent's name in `podid-lab status`.
const AgentProcessName = "pod-identity-agent"

// AgentHost is where the lab agent listens: loopback, because the agent's
// link-local 169.254.170.23 is not routable on a machine without the
// agent's init container. The agent's Host check admits it as well.
const AgentHost = "127.0.0.1"

// agentEKSAuthTimeout bounds each EKS Auth HTTP request of the lab agent.
// The real agent allows 1 s; the lab shares two cores with a control plane
// and test binaries, so it allows more.
const agentEKSAuthTimeout = 5 * time.Second

// AgentState records the lab agent of a lab started by `podid-lab up`
// (Dir/run/agent.json). It runs inside the fake's process.
type AgentState struct {
	Process
}

const agentFile = "agent.json"

// LoadAgent reads the agent's record of the lab in dir.
func LoadAgent(dir string) (*AgentState, error) {
	p := filepath.Join(RunDir(dir), agentFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read lab agent state %s: %w", p, err)
	}
	var a AgentState
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("parse lab agent state %s: %w", p, err)
	}
	return &a, nil
}

// SaveAgent records the agent for the lab in dir.
func SaveAgent(dir string, a AgentState) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(RunDir(dir), agentFile), b, 0o600)
}

// NodeRoleConfig is the AWS configuration the lab agent signs EKS Auth calls
// with: the credentials of the workshop node role (what IMDS hands the real
// agent on an EKS node: a session of the node role for the instance), renewed
// from the fake before they expire, and the fake as the EKS Auth endpoint.
func NodeRoleConfig(fake *fakeaws.Server) (aws.Config, error) {
	if _, err := NodeRoleCredentials(fake); err != nil {
		return aws.Config{}, err
	}
	provider := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		c, err := NodeRoleCredentials(fake)
		if err != nil {
			return aws.Credentials{}, err
		}
		return aws.Credentials{
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			CanExpire: true, Expires: c.Expiration, Source: "lab node role " + WorkshopNodeRole,
		}, nil
	})
	return aws.Config{
		Region:       WorkshopRegion,
		Credentials:  aws.NewCredentialsCache(provider),
		BaseEndpoint: aws.String(fake.URL()),
		HTTPClient:   &http.Client{Timeout: agentEKSAuthTimeout},
	}, nil
}

// StartAgent starts a lab agent for the workshop cluster on 127.0.0.1 (a
// free port), exchanging tokens with the fake's EKS Auth under the node
// role. opts.Cluster and opts.EKSAuth are filled in when empty; the Host
// check admits 127.0.0.1. Close the agent when done.
func StartAgent(fake *fakeaws.Server, opts agent.Options, logger *slog.Logger) (*agent.Agent, error) {
	if opts.Cluster == "" {
		opts.Cluster = WorkshopCluster
	}
	if opts.EKSAuth == nil {
		cfg, err := NodeRoleConfig(fake)
		if err != nil {
			return nil, fmt.Errorf("node role credentials for the lab agent: %w", err)
		}
		opts.EKSAuth = agent.NewEKSAuthClient(cfg, fake.URL(), agentEKSAuthTimeout)
	}
	opts.Hosts = append(opts.Hosts, AgentHost)
	if opts.Logger == nil {
		opts.Logger = logger
	}
	a, err := agent.New(opts)
	if err != nil {
		return nil, err
	}
	if _, err := a.Start(AgentHost + ":0"); err != nil {
		return nil, err
	}
	return a, nil
}
