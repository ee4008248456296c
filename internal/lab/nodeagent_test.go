package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
	"github.com/podid/podid/internal/lab/agent"
	"github.com/podid/podid/internal/lab/labtest"
)

// clock is a settable clock shared by a fake and an agent.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// podToken is the token podid-lab exec would hand the pod: bound to it,
// audience pods.eks.amazonaws.com.
func podToken(t *testing.T, w *podIdentityWorld, pod string) string {
	t.Helper()
	pe, err := lab.PodEnv(context.Background(), w.env.Client, w.execOptions(pod, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer pe.Cleanup()
	b, err := os.ReadFile(pe.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func retrieve(t *testing.T, url, token string) (aws.Credentials, error) {
	t.Helper()
	p := endpointcreds.New(url, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		o.Retryer = aws.NopRetryer{}
	})
	return p.Retrieve(context.Background())
}

func exchanges(fake *fakeaws.Server) int { return len(fake.Exchanges()) }

// sessionARN is EKS's session for the carts role: eks-<cluster>-<pod>-<uuid>,
// cluster and pod parts truncated to fit 64 characters.
var sessionARN = regexp.MustCompile(`^arn:aws:sts::` + lab.WorkshopAccount + `:assumed-role/` + lab.CartsRole + `/eks-eks-w[a-z0-9-]*-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestAgentServesPodCredentialsWithCacheAndRefresh(t *testing.T) {
	t.Parallel()
	env := labtest.Get(t)
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	fake := env.NewFake(t, fakeaws.Options{Now: clk.Now})
	app := env.Namespace(t, "agent", labtest.Replicas(1))
	ekc := eks.NewFromConfig(labtest.AWSConfig(fake.URL()))
	assoc, err := ekc.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(lab.WorkshopCluster), Namespace: aws.String(app.Namespace),
		ServiceAccount: aws.String(app.ServiceAccount), RoleArn: aws.String(lab.RoleARN(lab.CartsRole)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ag := env.NewAgent(t, fake, agent.Options{Now: clk.Now, JanitorEvery: -1})
	w := &podIdentityWorld{env: env, fake: fake, agent: ag, app: app, role: lab.CartsRole}
	waitFor(t, 10*time.Second, "the association to reach the webhook", func() (bool, string) {
		return lab.Injected(newPod(t, env.Client, app.Namespace, app.ServiceAccount, true)), "dry-run pod not injected"
	})
	pod := newPod(t, env.Client, app.Namespace, app.ServiceAccount, false)
	token := podToken(t, w, pod.Name)
	clk.Set(time.Now()) // not before the token's nbf
	t0 := clk.Now()

	// Concurrent first requests with one token make one EKS Auth call.
	other := env.NewAgent(t, fake, agent.Options{Now: clk.Now, JanitorEvery: -1})
	fresh := podToken(t, w, pod.Name)
	var wg sync.WaitGroup
	keys := make([]string, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := retrieve(t, other.URL(), fresh); err == nil {
				keys[i] = c.AccessKeyID
			}
		}()
	}
	wg.Wait()
	for _, k := range keys {
		if k == "" || k != keys[0] {
			t.Errorf("concurrent requests got keys %v, want one and the same", keys)
			break
		}
	}
	if n := exchanges(fake); n != 1 {
		t.Errorf("%d exchanges after 8 concurrent first requests with one token, want 1", n)
	}
	base := exchanges(fake)
	since := func() int { return exchanges(fake) - base } // exchanges of agent ag

	// The raw answer: 200, application/json, the agent's five fields in order.
	req, _ := http.NewRequest(http.MethodGet, ag.URL(), nil)
	req.Host = agent.HostIPv4
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("agent answered %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !regexp.MustCompile(`^\{"AccessKeyId":"ASIA[A-Z0-9]+","SecretAccessKey":"[^"]+","Token":"[^"]+","AccountId":"` + lab.WorkshopAccount + `","Expiration":"[0-9T:.-]+Z"\}$`).Match(body) {
		t.Errorf("agent JSON = %s, want AccessKeyId, SecretAccessKey, Token, AccountId, Expiration (RFC 3339, UTC) in that order", body)
	}
	if n := since(); n != 1 {
		t.Errorf("%d EKS Auth exchanges after the first request, want 1", n)
	}

	// The Go SDK's container provider accepts it, and STS knows the session.
	a, err := retrieve(t, ag.URL(), token)
	if err != nil {
		t.Fatalf("endpointcreds Retrieve: %v", err)
	}
	if a.Source != endpointcreds.ProviderName || a.AccountID != lab.WorkshopAccount || !a.CanExpire {
		t.Errorf("credentials: source %q account %q canExpire %v, want %s, %s, true", a.Source, a.AccountID, a.CanExpire, endpointcreds.ProviderName, lab.WorkshopAccount)
	}
	if d := a.Expires.Sub(t0); d < 5*time.Hour+50*time.Minute || d > 6*time.Hour+time.Minute {
		t.Errorf("credentials expire %s after issue, want about 6h", d)
	}
	cfg := labtest.AWSConfig(fake.URL())
	cfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return a, nil }))
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the agent's credentials: %v", err)
	}
	if !sessionARN.MatchString(aws.ToString(who.Arn)) || !strings.Contains(aws.ToString(who.Arn), pod.Name) {
		t.Errorf("caller = %s, want the carts role's session eks-<cluster>-%s-<uuid>", aws.ToString(who.Arn), pod.Name)
	}

	// Cache hit: same credentials, no EKS Auth call.
	if n := since(); n != 1 {
		t.Errorf("%d exchanges after a second request with the same token, want 1 (cache hit)", n)
	}
	// Renewal: after 3 h the janitor exchanges again; reads get the new credentials.
	clk.Advance(3*time.Hour + time.Second)
	ag.Refresh(ctx)
	if n := since(); n != 2 {
		t.Errorf("%d exchanges after the renewal, want 2", n)
	}
	b, err := retrieve(t, ag.URL(), token)
	if err != nil {
		t.Fatal(err)
	}
	if b.AccessKeyID == a.AccessKeyID || !b.Expires.After(a.Expires) {
		t.Errorf("after renewal got key %s expiring %s, want new credentials (old %s expiring %s)", b.AccessKeyID, b.Expires, a.AccessKeyID, a.Expires)
	}
	if n := since(); n != 2 {
		t.Errorf("%d exchanges after reading renewed credentials, want 2", n)
	}
	// Near expiry (≤ 15 s left) a read drops the entry and exchanges again.
	clk.Set(b.Expires.Add(-10 * time.Second))
	c, err := retrieve(t, ag.URL(), token)
	if err != nil {
		t.Fatal(err)
	}
	if n := since(); n != 3 || c.AccessKeyID == b.AccessKeyID {
		t.Errorf("near expiry: %d exchanges, key %s (before %s); want 3 and new credentials", n, c.AccessKeyID, b.AccessKeyID)
	}

	// EKS Auth down: a renewal keeps the cached credentials (recoverable
	// error, retried in 1–2 min); a token not in the cache gets EKS Auth's
	// 503 passed through.
	fake.SetFaults(fakeaws.Faults{Down: []string{"eks-auth"}})
	clk.Advance(3*time.Hour + time.Second)
	evictions := ag.Stats().Evictions
	ag.Refresh(ctx)
	if got, err := retrieve(t, ag.URL(), token); err != nil || got.AccessKeyID != c.AccessKeyID || ag.Stats().Evictions != evictions {
		t.Errorf("after a failed renewal: key %s err %v, evictions %d -> %d; want the cached %s kept", got.AccessKeyID, err, evictions, ag.Stats().Evictions, c.AccessKeyID)
	}
	_, err = retrieve(t, ag.URL(), podToken(t, w, pod.Name))
	var re interface{ HTTPStatusCode() int }
	if err == nil || !strings.Contains(err.Error(), "(ServiceUnavailableException): fakeaws: service eks-auth is down, fault: server") || !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Errorf("new token while EKS Auth is down: %v, want the agent's 503 with (ServiceUnavailableException)", err)
	}
	fake.SetFaults(fakeaws.Faults{})

	// The association goes away: the cached credentials stay until the next
	// renewal, which gets ResourceNotFound and evicts them; then the pod gets 404.
	if _, err := ekc.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{
		ClusterName: aws.String(lab.WorkshopCluster), AssociationId: assoc.Association.AssociationId,
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "EKS Auth to see the association deleted", func() (bool, string) {
		for _, id := range fake.Identities(lab.WorkshopCluster) {
			if id.Namespace == app.Namespace {
				return false, "still in effect"
			}
		}
		return true, ""
	})
	if _, err := retrieve(t, ag.URL(), token); err != nil {
		t.Errorf("cached credentials right after the delete: %v, want them served until renewal", err)
	}
	clk.Advance(2*time.Minute + time.Second) // the retry after the failed renewal
	before := ag.Stats().Evictions
	ag.Refresh(ctx)
	if ag.Stats().Evictions != before+1 {
		t.Errorf("evictions %d -> %d after a renewal refused with ResourceNotFound, want +1", before, ag.Stats().Evictions)
	}
	_, err = retrieve(t, ag.URL(), token)
	if err == nil || !strings.Contains(err.Error(), "(ResourceNotFoundException)") || !errors.As(err, &re) || re.HTTPStatusCode() != 404 {
		t.Errorf("after the association is gone: %v, want the agent's 404 with (ResourceNotFoundException)", err)
	}
}

// buildWhoami builds internal/lab/whoami into the test's temp folder (a
// link from the Go build cache after the first time).
func buildWhoami(t *testing.T) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "podid-lab-whoami")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/lab/whoami")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./internal/lab/whoami: %v\n%s", err, out)
	}
	return bin
}

type callerID struct{ UserId, Account, Arn string }

func TestExecGivesTheSDKChainThePodsIdentity(t *testing.T) {
	t.Parallel()
	bin := buildWhoami(t)
	w := newPodIdentityWorld(t, lab.CartsRole, agent.Options{})
	ctx := context.Background()
	pod := newPod(t, w.env.Client, w.app.Namespace, w.app.ServiceAccount, false)
	planted := callerIdentity(t)

	var out, errOut bytes.Buffer
	code, err := lab.RunInPod(ctx, w.env.Client, w.execOptions(pod.Name, planted), []string{bin}, nil, &out, &errOut)
	if err != nil || code != 0 {
		t.Fatalf("exec whoami: code %d err %v\nstdout %s\nstderr %s", code, err, out.String(), errOut.String())
	}
	var id callerID
	if err := json.Unmarshal(out.Bytes(), &id); err != nil {
		t.Fatalf("whoami output %q: %v", out.String(), err)
	}
	if !sessionARN.MatchString(id.Arn) || !strings.Contains(id.Arn, pod.Name) || id.Account != lab.WorkshopAccount {
		t.Errorf("whoami = %+v, want the carts role's session for pod %s", id, pod.Name)
	}
	if !strings.Contains(errOut.String(), "source "+endpointcreds.ProviderName) {
		t.Errorf("whoami stderr %q, want credentials from %s", errOut.String(), endpointcreds.ProviderName)
	}
	if n := exchanges(w.fake); n != 1 {
		t.Errorf("%d EKS Auth exchanges, want 1", n)
	}

	// The AWS CLI, when this machine has it.
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Logf("AWS CLI not installed; only the Go SDK was checked")
		return
	}
	out.Reset()
	errOut.Reset()
	code, err = lab.RunInPod(ctx, w.env.Client, w.execOptions(pod.Name, planted), []string{awsCLI, "sts", "get-caller-identity", "--output", "json"}, nil, &out, &errOut)
	if err != nil || code != 0 {
		t.Fatalf("exec aws sts get-caller-identity: code %d err %v\nstdout %s\nstderr %s", code, err, out.String(), errOut.String())
	}
	var cli callerID
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil {
		t.Fatalf("aws output %q: %v", out.String(), err)
	}
	if !sessionARN.MatchString(cli.Arn) || !strings.Contains(cli.Arn, pod.Name) {
		t.Errorf("aws sts get-caller-identity = %+v, want the carts role's session for pod %s", cli, pod.Name)
	}
}

func TestExecFailsClearlyWhenNodeRoleMayNotCallEKSAuth(t *testing.T) {
	t.Parallel()
	bin := buildWhoami(t)
	w := newPodIdentityWorld(t, lab.CartsRole, agent.Options{})
	ctx := context.Background()
	if _, err := iam.NewFromConfig(labtest.AWSConfig(w.fake.URL())).DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{
		RoleName: aws.String(lab.WorkshopNodeRole), PolicyArn: aws.String(lab.WorkerNodePolicy),
	}); err != nil {
		t.Fatal(err)
	}
	pod := newPod(t, w.env.Client, w.app.Namespace, w.app.ServiceAccount, false)
	var out, errOut bytes.Buffer
	code, err := lab.RunInPod(ctx, w.env.Client, w.execOptions(pod.Name, nil), []string{bin}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || out.Len() != 0 {
		t.Errorf("whoami with a node role lacking EKS Auth: exit %d, stdout %q; want exit 1 and nothing", code, out.String())
	}
	for _, want := range []string{"AccessDeniedException", "eks-auth:AssumeRoleForPodIdentity", lab.WorkshopNodeRole} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("whoami stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}
