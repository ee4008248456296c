// Package podidentity is podid's AWS-side domain: the cluster lookup, the
// Pod Identity Agent add-on, IAM role resolution and verification, and the
// pod identity association. Each change is a step.Step (Check is read-only,
// Apply is idempotent and waits). Dependencies are narrow interfaces with
// the SDK's own signatures, so *eks.Client and *iam.Client satisfy them.
package podidentity

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/podid/podid/internal/awsapi"
	"github.com/podid/podid/internal/fail"
)

// ClusterAPI is what the cluster lookup needs from EKS.
type ClusterAPI interface {
	DescribeCluster(ctx context.Context, in *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// ClusterInfo is what podid needs to know about an EKS cluster.
type ClusterInfo struct {
	Name            string `json:"name"`
	Arn             string `json:"arn"`
	Account         string `json:"account"`
	Region          string `json:"region"`
	Version         string `json:"version"`         // Kubernetes minor, "1.35"
	PlatformVersion string `json:"platformVersion"` // "eks.5"
	Status          string `json:"status"`
	Endpoint        string `json:"endpoint"`
	CAData          string `json:"-"` // base64 PEM
	AutoMode        bool   `json:"autoMode"`
}

// LookupCluster describes the cluster and checks that it supports EKS Pod
// Identity. region is used in messages only.
func LookupCluster(ctx context.Context, api ClusterAPI, name, region string) (ClusterInfo, error) {
	out, err := api.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		if awsapi.IsCode(err, "ResourceNotFoundException") {
			return ClusterInfo{}, awsapi.ClusterNotFound(name, region, err)
		}
		return ClusterInfo{}, awsapi.Explain(err, "describe", fmt.Sprintf("cluster %q", name))
	}
	c := out.Cluster
	if c == nil {
		return ClusterInfo{}, fmt.Errorf("describe cluster %q: the answer has no cluster", name)
	}
	info := ClusterInfo{
		Name:            aws.ToString(c.Name),
		Arn:             aws.ToString(c.Arn),
		Region:          region,
		Version:         aws.ToString(c.Version),
		PlatformVersion: aws.ToString(c.PlatformVersion),
		Status:          string(c.Status),
		Endpoint:        aws.ToString(c.Endpoint),
		AutoMode:        c.ComputeConfig != nil && aws.ToBool(c.ComputeConfig.Enabled),
	}
	if c.CertificateAuthority != nil {
		info.CAData = aws.ToString(c.CertificateAuthority.Data)
	}
	if parts := strings.Split(info.Arn, ":"); len(parts) > 4 {
		info.Account = parts[4]
		if info.Region == "" {
			info.Region = parts[3]
		}
	}
	if info.Status != "" && c.Status != ekstypes.ClusterStatusActive && c.Status != ekstypes.ClusterStatusUpdating {
		return info, fail.Errorf(fmt.Sprintf("wait until it is ACTIVE: aws eks wait cluster-active --name %s", name),
			"cluster %q is %s, not ACTIVE", name, info.Status)
	}
	if err := SupportsPodIdentity(info.Version, info.PlatformVersion); err != nil {
		return info, fmt.Errorf("cluster %q: %w", name, err)
	}
	return info, nil
}

// minPlatform is the first EKS platform version with Pod Identity for the
// Kubernetes minors that got it late; 1.29 and later always have it.
var minPlatform = map[int]int{26: 9, 27: 8, 28: 4}

// SupportsPodIdentity reports whether an EKS cluster of Kubernetes version
// (e.g. "1.28") and platform version (e.g. "eks.4") supports EKS Pod
// Identity: 1.26 needs eks.9+, 1.27 eks.8+, 1.28 eks.4+, 1.29 and later
// always, earlier never.
func SupportsPodIdentity(version, platformVersion string) error {
	maj, minor, ok := parseMinor(version)
	if !ok {
		return fmt.Errorf("kubernetes version %q is not of the form 1.N", version)
	}
	upgrade := fmt.Sprintf("upgrade the cluster: aws eks update-cluster-version --kubernetes-version 1.%d (or later)", max(minor+1, 29))
	switch {
	case maj > 1 || minor >= 29:
		return nil
	case minor < 26:
		return fail.Errorf(upgrade, "kubernetes %s does not support EKS Pod Identity (it needs 1.26 or later with a recent platform version)", version)
	}
	need := minPlatform[minor]
	p, ok := parsePlatform(platformVersion)
	if !ok {
		return fail.Errorf("check the cluster with aws eks describe-cluster",
			"platform version %q is not of the form eks.N; EKS Pod Identity on Kubernetes %s needs eks.%d or later", platformVersion, version, need)
	}
	if p < need {
		return fail.Errorf("EKS updates platform versions automatically; wait for eks."+strconv.Itoa(need)+" or "+upgrade,
			"kubernetes %s on platform %s does not support EKS Pod Identity: it needs platform eks.%d or later", version, platformVersion, need)
	}
	return nil
}

func parseMinor(v string) (maj, minor int, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if !found {
		return 0, 0, false
	}
	if i := strings.IndexByte(b, '.'); i >= 0 {
		b = b[:i]
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return x, y, err1 == nil && err2 == nil
}

func parsePlatform(p string) (int, bool) {
	n, ok := strings.CutPrefix(p, "eks.")
	if !ok {
		return 0, false
	}
	x, err := strconv.Atoi(n)
	return x, err == nil
}
