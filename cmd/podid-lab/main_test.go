package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/labtest"
)

// build compiles pkg (relative to this folder) into dir/name.
func build(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestUpRunsAgentAndExecUsesIt drives the podid-lab binary: up starts the
// agent next to the fake, status shows it, exec runs a command with a pod's
// identity (and refuses a pod without injection), down stops everything.
func TestUpRunsAgentAndExecUsesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab with podid-lab up; skipped with -short")
	}
	tmp := t.TempDir()
	bin := build(t, tmp, ".", "podid-lab")
	whoami := build(t, tmp, "../../internal/lab/whoami", "podid-lab-whoami")
	dir := filepath.Join(tmp, "lab")
	run := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args[:1:1], append([]string{"--dir", dir}, args[1:]...)...)...)
		cmd.Env = append(os.Environ(), env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("podid-lab %v: %v", args, err)
		}
		return out.String(), errOut.String(), code
	}
	t.Cleanup(func() {
		if _, errOut, code := run(nil, "down"); code != 0 {
			t.Errorf("podid-lab down: exit %d: %s", code, errOut)
		}
	})
	if _, errOut, code := run(nil, "up", "--addon-delay", "0s", "--propagation-delay", "0s"); code != 0 {
		t.Fatalf("podid-lab up: exit %d\n%s", code, errOut)
	} else if !strings.Contains(errOut, "pod identity agent serving at http://127.0.0.1:") {
		t.Errorf("up did not report the agent:\n%s", errOut)
	}
	out, _, code := run(nil, "status")
	agentRow := regexp.MustCompile(`(?m)^pod-identity-agent\s+\d+\s+yes\s+http://127\.0\.0\.1:\d+/v1/credentials\s`)
	if code != 0 || !agentRow.MatchString(out) || !strings.Contains(out, "Host check admits 169.254.170.23, fd00:ec2::23, 127.0.0.1") {
		t.Errorf("status (exit %d) lacks a live agent row and its Host check:\n%s", code, out)
	}

	s, err := lab.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	client, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	fake, err := lab.LoadFake(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The seeded carts pods predate any association: exec names the fix.
	pods, err := client.CoreV1().Pods("carts").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("carts pods: %v (%d)", err, len(pods.Items))
	}
	_, errOut, code := run(nil, "exec", "--ns", "carts", pods.Items[0].Name, "--", whoami)
	if code != 1 || !strings.Contains(errOut, "has no EKS Pod Identity injection") || !strings.Contains(errOut, "podid enable --cluster eks-workshop --ns carts --sa carts") {
		t.Errorf("exec into an uninjected pod: exit %d, stderr %q; want 1 and the fix", code, errOut)
	}
	if _, errOut, code := run(nil, "exec", "--ns", "carts", pods.Items[0].Name, whoami); code != 1 || !strings.Contains(errOut, "then -- and the command") {
		t.Errorf("exec without --: exit %d, stderr %q", code, errOut)
	}

	// The agent add-on (what podid enable installs): exec needs an agent pod on the pod's node.
	ekc := eks.NewFromConfig(labtest.AWSConfig(fake.URL))
	if _, err := ekc.CreateAddon(ctx, &eks.CreateAddonInput{
		ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName), AddonVersion: aws.String("v1.3.10-eksbuild.1"),
	}); err != nil {
		t.Fatal(err)
	}
	addonDeadline := time.Now().Add(60 * time.Second)
	for status := ""; status != "ACTIVE"; {
		if time.Now().After(addonDeadline) {
			t.Fatalf("agent add-on %s after 60s, want ACTIVE", status)
		}
		time.Sleep(100 * time.Millisecond)
		out, err := ekc.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: aws.String(lab.WorkshopCluster), AddonName: aws.String(lab.AgentName)})
		if err != nil {
			t.Fatal(err)
		}
		status = string(out.Addon.Status)
	}
	if _, err := ekc.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(lab.WorkshopCluster), Namespace: aws.String("carts"), ServiceAccount: aws.String("carts"),
		RoleArn: aws.String(lab.RoleARN(lab.CartsRole)),
	}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	deadline := time.Now().Add(20 * time.Second)
	for pod == nil || !lab.Injected(pod) {
		if time.Now().After(deadline) {
			t.Fatal("no injected carts pod 20s after the association")
		}
		time.Sleep(100 * time.Millisecond)
		pod, err = client.CoreV1().Pods("carts").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "carts-exec-"},
			Spec:       corev1.PodSpec{ServiceAccountName: "carts", Containers: []corev1.Container{{Name: "carts", Image: "public.ecr.aws/aws-containers/retail-store-sample-cart:1.0.0"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	caller := []string{"AWS_ACCESS_KEY_ID=AKIDCALLER", "AWS_SECRET_ACCESS_KEY=callersecret", "AWS_PROFILE=caller"}
	out, errOut, code = run(caller, "exec", "--ns", "carts", pod.Name, "--", whoami)
	var id struct{ Arn string }
	if code != 0 || json.Unmarshal([]byte(out), &id) != nil || !strings.HasPrefix(id.Arn, "arn:aws:sts::"+lab.WorkshopAccount+":assumed-role/"+lab.CartsRole+"/eks-") {
		t.Errorf("exec whoami: exit %d, stdout %q, stderr %q; want the carts role's session", code, out, errOut)
	}
	if _, _, code := run(caller, "exec", "--ns", "carts", pod.Name, "--", "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("exec sh -c 'exit 5': exit %d, want 5", code)
	}
}
