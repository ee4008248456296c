package fakeaws

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

const dynamoPolicy = `{"Version": "2012-10-17", "Statement": [{"Sid": "Tables", "Effect": "Allow", "Action": ["dynamodb:Query", "dynamodb:Get*"], "Resource": "arn:aws:dynamodb:us-west-2:1234567890:table/carts*"}]}`

func TestIAMRoles(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()

	out, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.QueryUnescape(aws.ToString(out.Role.AssumeRolePolicyDocument))
	if err != nil || doc != podsTrust {
		t.Errorf("trust document = %q (%v), want the stored document", doc, err)
	}
	if pdoc, _ := url.PathUnescape(aws.ToString(out.Role.AssumeRolePolicyDocument)); pdoc != podsTrust {
		t.Errorf("PathUnescape gives %q, want the same text as QueryUnescape", pdoc)
	}
	if aws.ToString(out.Role.Arn) != roleArn("carts-dynamo") || !strings.HasPrefix(aws.ToString(out.Role.RoleId), "AROA") || out.Role.CreateDate == nil {
		t.Errorf("role = %+v", out.Role)
	}

	_, err = c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || nse.ErrorMessage() != "The role with name nope cannot be found." {
		t.Errorf("missing role: err = %v, want NoSuchEntity with AWS message", err)
	}

	spaced := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": {"StringEquals": {"aws:SourceAccount": "1234567890"}}}]}`
	created, err := c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("orders"), Path: aws.String("/apps/"), AssumeRolePolicyDocument: aws.String(spaced),
		Description: aws.String("orders & <friends>"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("retail")}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.Role.Arn) != "arn:aws:iam::1234567890:role/apps/orders" || aws.ToString(created.Role.Description) != "orders & <friends>" {
		t.Errorf("created = %+v", created.Role)
	}
	_, err = c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("orders"), AssumeRolePolicyDocument: aws.String(podsTrust)})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("duplicate CreateRole: err = %v, want EntityAlreadyExists", err)
	}
	_, err = c.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("bad"), AssumeRolePolicyDocument: aws.String(`{"Version":`)})
	var malformed *iamtypes.MalformedPolicyDocumentException
	if !errors.As(err, &malformed) {
		t.Errorf("bad JSON: err = %v, want MalformedPolicyDocument", err)
	}

	if _, err := c.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("orders"), PolicyDocument: aws.String(irsaTrust)}); err != nil {
		t.Fatal(err)
	}
	out, err = c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(out.Role.AssumeRolePolicyDocument)); doc != irsaTrust {
		t.Errorf("updated trust = %s", doc)
	}

	if _, err := c.iam.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("orders"), Tags: []iamtypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.iam.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	var gotTags []string
	for _, tg := range tags.Tags {
		gotTags = append(gotTags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if diff := cmp.Diff([]string{"env=dev", "team=retail"}, gotTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	for _, n := range []string{"r1", "r2", "r3"} {
		c.srv.PutRole(Role{Name: n, TrustPolicy: podsTrust})
	}
	var names []string
	pages := 0
	p := iam.NewListRolesPaginator(c.iam, &iam.ListRolesInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Roles {
			names = append(names, aws.ToString(r.RoleName))
		}
	}
	if diff := cmp.Diff([]string{"carts-dynamo", "orders", "r1", "r2", "r3"}, names); diff != "" || pages != 3 {
		t.Errorf("ListRoles in %d pages (-want +got):\n%s", pages, diff)
	}
	apps, err := c.iam.ListRoles(ctx, &iam.ListRolesInput{PathPrefix: aws.String("/apps/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps.Roles) != 1 || aws.ToString(apps.Roles[0].RoleName) != "orders" {
		t.Errorf("PathPrefix /apps/: %d roles", len(apps.Roles))
	}
}

func TestIAMPolicies(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	arn := c.srv.PutPolicy(Policy{Name: "carts-dynamo", Document: dynamoPolicy})
	if arn != "arn:aws:iam::1234567890:policy/carts-dynamo" {
		t.Errorf("policy arn = %s", arn)
	}
	if _, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("carts-dynamo"), PolicyArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("carts-dynamo"), PolicyArn: aws.String(workerNodePolicyArn)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("carts-dynamo"), PolicyArn: aws.String("arn:aws:iam::1234567890:policy/nope")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("attach missing policy: err = %v, want NoSuchEntity", err)
	}
	att, err := c.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("carts-dynamo")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range att.AttachedPolicies {
		got = append(got, aws.ToString(a.PolicyName)+" "+aws.ToString(a.PolicyArn))
	}
	if diff := cmp.Diff([]string{"carts-dynamo " + arn, "AmazonEKSWorkerNodePolicy " + workerNodePolicyArn}, got); diff != "" {
		t.Errorf("attached (-want +got):\n%s", diff)
	}
	pol, err := c.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(workerNodePolicyArn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(pol.Policy.DefaultVersionId) != "v1" || aws.ToInt32(pol.Policy.AttachmentCount) != 1 {
		t.Errorf("policy = %+v", pol.Policy)
	}
	ver, err := c.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(workerNodePolicyArn), VersionId: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(ver.PolicyVersion.Document)); !strings.Contains(doc, "eks-auth:AssumeRoleForPodIdentity") || !ver.PolicyVersion.IsDefaultVersion {
		t.Errorf("worker node policy v1 = %s", doc)
	}
	if _, err := c.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::aws:policy/Nope")}); !errors.As(err, &nse) {
		t.Errorf("GetPolicy missing: err = %v, want NoSuchEntity", err)
	}

	if _, err := c.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("carts-dynamo"), PolicyName: aws.String("inline"), PolicyDocument: aws.String(dynamoPolicy)}); err != nil {
		t.Fatal(err)
	}
	names, err := c.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("carts-dynamo")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"inline"}, names.PolicyNames); diff != "" {
		t.Errorf("inline names (-want +got):\n%s", diff)
	}
	rp, err := c.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("carts-dynamo"), PolicyName: aws.String("inline")})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(rp.PolicyDocument)); doc != dynamoPolicy {
		t.Errorf("inline doc = %s", doc)
	}
	if _, err := c.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("carts-dynamo"), PolicyName: aws.String("nope")}); !errors.As(err, &nse) {
		t.Errorf("GetRolePolicy missing: err = %v, want NoSuchEntity", err)
	}
	if _, err := c.iam.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("carts-dynamo"), PermissionsBoundary: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	role, err := c.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("carts-dynamo")})
	if err != nil {
		t.Fatal(err)
	}
	if role.Role.PermissionsBoundary == nil || aws.ToString(role.Role.PermissionsBoundary.PermissionsBoundaryArn) != arn {
		t.Errorf("boundary = %+v", role.Role.PermissionsBoundary)
	}
}

func TestSimulatePrincipalPolicy(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	ctx := context.Background()
	table := "arn:aws:dynamodb:us-west-2:1234567890:table/carts"
	c.srv.PutRole(Role{Name: "sim", TrustPolicy: podsTrust})
	managed := c.srv.PutPolicy(Policy{Name: "carts-dynamo", Document: dynamoPolicy})
	if err := c.srv.AttachRolePolicy("sim", managed); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.PutRolePolicy("sim", "guards", `{"Version":"2012-10-17","Statement":[
		{"Sid":"NoDelete","Effect":"Deny","Action":"dynamodb:Delete*","Resource":"*"},
		{"Sid":"S3Tagged","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"retail"}}},
		{"Sid":"NotIAM","Effect":"Allow","NotAction":["iam:*","dynamodb:*","s3:*","sqs:*","sns:*","kms:*","ssm:*"],"Resource":"*"},
		{"Sid":"SecureOnly","Effect":"Deny","Action":"sqs:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Sid":"QueueByName","Effect":"Allow","Action":"sqs:SendMessage","NotResource":"arn:aws:sqs:*:*:secret-?"},
		{"Sid":"ArnCond","Effect":"Allow","Action":"sns:Publish","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:1234567890:cluster/*"}}},
		{"Sid":"NotEquals","Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}},
		{"Sid":"Like","Effect":"Allow","Action":"ssm:GetParameter","Resource":"*","Condition":{"StringLike":{"aws:username":"pod-*"}}}
	]}`); err != nil {
		t.Fatal(err)
	}
	type ctxEntry struct{ key, value string }
	tests := []struct {
		name     string
		action   string
		resource string
		ctx      []ctxEntry
		want     string
		matched  []string
		missing  []string
	}{
		{name: "allowed by managed policy", action: "dynamodb:Query", resource: table, want: "allowed", matched: []string{"carts-dynamo"}},
		{name: "action wildcard, case-insensitive", action: "DynamoDB:GetItem", resource: table + "-history", want: "allowed", matched: []string{"carts-dynamo"}},
		{name: "resource case-sensitive", action: "dynamodb:Query", resource: "arn:aws:dynamodb:us-west-2:1234567890:table/Carts", want: "implicitDeny"},
		{name: "not listed", action: "dynamodb:PutItem", resource: table, want: "implicitDeny"},
		{name: "explicit deny wins", action: "dynamodb:DeleteItem", resource: table, want: "explicitDeny", matched: []string{"guards"}},
		{name: "NotAction allows others", action: "logs:PutLogEvents", resource: "*", want: "allowed", matched: []string{"guards"}},
		{name: "NotAction excludes iam", action: "iam:PassRole", resource: "*", want: "implicitDeny"},
		{name: "condition met", action: "s3:GetObject", resource: "arn:aws:s3:::bucket/key", ctx: []ctxEntry{{"aws:PrincipalTag/team", "retail"}}, want: "allowed", matched: []string{"guards"}},
		{name: "condition not met", action: "s3:GetObject", resource: "arn:aws:s3:::bucket/key", ctx: []ctxEntry{{"aws:PrincipalTag/team", "ops"}}, want: "implicitDeny"},
		{name: "condition key missing", action: "s3:GetObject", resource: "arn:aws:s3:::bucket/key", want: "implicitDeny", missing: []string{"aws:PrincipalTag/team"}},
		{name: "Bool deny", action: "sqs:SendMessage", resource: "arn:aws:sqs:us-west-2:1:orders", ctx: []ctxEntry{{"aws:SecureTransport", "false"}}, want: "explicitDeny", matched: []string{"guards"}},
		{name: "Bool deny not triggered", action: "sqs:SendMessage", resource: "arn:aws:sqs:us-west-2:1:orders", ctx: []ctxEntry{{"aws:SecureTransport", "true"}}, want: "allowed", matched: []string{"guards"}},
		{name: "NotResource with ?", action: "sqs:SendMessage", resource: "arn:aws:sqs:us-west-2:1:secret-1", ctx: []ctxEntry{{"aws:SecureTransport", "true"}}, want: "implicitDeny"},
		{name: "ArnLike", action: "sns:Publish", resource: "*", ctx: []ctxEntry{{"aws:SourceArn", "arn:aws:eks:us-west-2:1234567890:cluster/demo"}}, want: "allowed", matched: []string{"guards"}},
		{name: "ArnLike other account", action: "sns:Publish", resource: "*", ctx: []ctxEntry{{"aws:SourceArn", "arn:aws:eks:us-west-2:999:cluster/demo"}}, want: "implicitDeny"},
		{name: "StringNotEquals", action: "kms:Decrypt", resource: "*", ctx: []ctxEntry{{"aws:RequestedRegion", "us-west-2"}}, want: "allowed", matched: []string{"guards"}},
		{name: "StringNotEquals excluded", action: "kms:Decrypt", resource: "*", ctx: []ctxEntry{{"aws:RequestedRegion", "eu-west-1"}}, want: "implicitDeny"},
		{name: "StringLike", action: "ssm:GetParameter", resource: "*", ctx: []ctxEntry{{"aws:username", "pod-carts"}}, want: "allowed", matched: []string{"guards"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn("sim")), ActionNames: []string{tt.action}, ResourceArns: []string{tt.resource}}
			for _, e := range tt.ctx {
				in.ContextEntries = append(in.ContextEntries, iamtypes.ContextEntry{ContextKeyName: aws.String(e.key), ContextKeyValues: []string{e.value}, ContextKeyType: iamtypes.ContextKeyTypeEnumString})
			}
			out, err := c.iam.SimulatePrincipalPolicy(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.EvaluationResults) != 1 {
				t.Fatalf("%d results, want 1", len(out.EvaluationResults))
			}
			r := out.EvaluationResults[0]
			var matched []string
			for _, m := range r.MatchedStatements {
				matched = append(matched, aws.ToString(m.SourcePolicyId))
			}
			got := []any{string(r.EvalDecision), matched, r.MissingContextValues}
			want := []any{tt.want, tt.matched, tt.missing}
			if diff := cmp.Diff(want, got, cmp.Transformer("nil", func(s []string) []string {
				if len(s) == 0 {
					return nil
				}
				return s
			})); diff != "" {
				t.Errorf("%s on %s (-want +got):\n%s", tt.action, tt.resource, diff)
			}
		})
	}

	t.Run("one result per action and resource, default resource *", func(t *testing.T) {
		out, err := c.iam.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn("sim")),
			ActionNames: []string{"dynamodb:Query", "eks-auth:AssumeRoleForPodIdentity"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.EvaluationResults {
			got = append(got, aws.ToString(r.EvalActionName)+" "+aws.ToString(r.EvalResourceName)+" "+string(r.EvalDecision))
		}
		want := []string{"dynamodb:Query * implicitDeny", "eks-auth:AssumeRoleForPodIdentity * allowed"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("permissions boundary", func(t *testing.T) {
		boundary := c.srv.PutPolicy(Policy{Name: "only-query", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:Query","Resource":"*"}]}`})
		c.srv.PutRole(Role{Name: "bounded", TrustPolicy: podsTrust, PermissionsBoundary: boundary})
		if err := c.srv.AttachRolePolicy("bounded", managed); err != nil {
			t.Fatal(err)
		}
		out, err := c.iam.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn("bounded")),
			ActionNames: []string{"dynamodb:Query", "dynamodb:GetItem"}, ResourceArns: []string{table}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out.EvaluationResults {
			got = append(got, string(r.EvalDecision))
			if r.PermissionsBoundaryDecisionDetail == nil {
				t.Errorf("%s: no PermissionsBoundaryDecisionDetail", aws.ToString(r.EvalActionName))
			}
		}
		if diff := cmp.Diff([]string{"allowed", "implicitDeny"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("unknown role", func(t *testing.T) {
		_, err := c.iam.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(roleArn("nope")), ActionNames: []string{"s3:GetObject"}})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) {
			t.Errorf("err = %v, want NoSuchEntity", err)
		}
	})
}

func TestGetCallerIdentity(t *testing.T) {
	t.Parallel()
	c := start(t, Options{Account: "111122223333"})
	ctx := context.Background()
	out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != "111122223333" || aws.ToString(out.Arn) != "arn:aws:iam::111122223333:user/podid-lab" {
		t.Errorf("identity = %s %s", aws.ToString(out.Account), aws.ToString(out.Arn))
	}
	for akid, code := range map[string]string{"EXPIREDKEY": "ExpiredToken", "INVALIDKEY": "InvalidClientTokenId"} {
		_, _, st := clientsFor(c.url, akid, 1)
		_, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != code {
			t.Errorf("access key %s: err = %v, want %s", akid, err, code)
		}
	}
}

func TestRawQueryRequests(t *testing.T) {
	t.Parallel()
	c := start(t, Options{})
	c.srv.PutRole(Role{Name: "spaced", TrustPolicy: `{"Version": "2012-10-17", "Statement": []}`})
	post := func(service, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, c.url+"/", strings.NewReader(body))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/"+service+"/aws4_request, SignedHeaders=host, Signature=x")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("iam", "Action=GetRole&Version=2010-05-08&RoleName=spaced")
	if code != 200 || !strings.HasPrefix(body, `<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult><Role>`) ||
		!strings.Contains(body, "%7B%22Version%22%3A%20%222012-10-17%22") || !strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Errorf("GetRole: %d %s", code, body)
	}
	code, body = post("iam", "Action=AttachRolePolicy&Version=2010-05-08&RoleName=spaced&PolicyArn="+url.QueryEscape(workerNodePolicyArn))
	if code != 200 || !strings.HasPrefix(body, "<AttachRolePolicyResponse") || strings.Contains(body, "AttachRolePolicyResult") {
		t.Errorf("AttachRolePolicy: %d %s", code, body)
	}
	code, body = post("iam", "Action=GetRole&Version=2010-05-08&RoleName=nope")
	if code != 404 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "<Code>NoSuchEntity</Code>") {
		t.Errorf("missing role: %d %s", code, body)
	}
	code, body = post("sts", "Action=GetCallerIdentity&Version=2011-06-15")
	if code != 200 || !strings.HasPrefix(body, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`) {
		t.Errorf("GetCallerIdentity: %d %s", code, body)
	}
	code, body = post("iam", "Action=DeleteEverything&Version=2010-05-08")
	if code != 400 || !strings.Contains(body, "InvalidAction") {
		t.Errorf("unknown action: %d %s", code, body)
	}
}
