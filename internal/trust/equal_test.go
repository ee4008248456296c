package trust

import (
	"net/url"
	"testing"
)

func TestEquivalent(t *testing.T) {
	t.Parallel()
	base := `{"Version":"2012-10-17","Statement":[
	  {"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
	   "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},
	  {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`
	same := map[string]string{
		"keys, white space and statements reordered": `{"Statement": [
		  {"Action": "sts:AssumeRole", "Principal": {"AWS": ["arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:root"]}, "Effect": "Allow"},
		  {"Condition": {"StringEquals": {"aws:RequestTag/kubernetes-namespace": "carts", "aws:SourceAccount": ["111122223333"]}},
		   "Action": ["sts:TagSession", "sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["pods.eks.amazonaws.com"]}, "Sid": "PodIdentity"}],
		  "Version": "2012-10-17"}`,
		"no Sid, action case, a repeated value": `{"Version":"2012-10-17","Statement":[
		  {"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["STS:AssumeRole","sts:TagSession","sts:tagsession"],
		   "Condition":{"StringEquals":{"AWS:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},
		  {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
		"a repeated statement": `{"Version":"2012-10-17","Statement":[
		  {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"},
		  {"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],
		   "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},
		  {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
	}
	for name, doc := range same {
		if !Equivalent(base, doc) || !Equivalent(doc, base) {
			t.Errorf("%s: not equivalent", name)
		}
	}
	if !Equivalent(base, url.QueryEscape(base)) {
		t.Error("URL-encoded form (as IAM returns it) not equivalent")
	}
	if !Equivalent(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}`,
		`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject"]}]}`) {
		t.Error("bare * principal, single statement object and default Version not equivalent")
	}

	different := map[string]string{
		"another namespace":     `{"Version":"2012-10-17","Statement":[{"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["orders"]}}},{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
		"TagSession missing":    `{"Version":"2012-10-17","Statement":[{"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
		"a statement missing":   `{"Version":"2012-10-17","Statement":[{"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}}]}`,
		"Deny instead of Allow": `{"Version":"2012-10-17","Statement":[{"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},{"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
		"StringLike operator":   `{"Version":"2012-10-17","Statement":[{"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringLike":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
		"older Version":         `{"Version":"2008-10-17","Statement":[{"Sid":"PodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333","aws:RequestTag/kubernetes-namespace":["carts"]}}},{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"sts:AssumeRole"}]}`,
		"not a policy":          `{"Version":"2012-10-17"}`,
	}
	for name, doc := range different {
		if Equivalent(base, doc) || Equivalent(doc, base) {
			t.Errorf("%s: counted as equivalent", name)
		}
	}
	if !Equivalent(`{"a":[1,2]}`, `{ "a": [1, 2] }`) || Equivalent(`{"a":[1,2]}`, `{"a":[2,1]}`) || Equivalent("not json", "not json") {
		t.Error("documents that are not policies: want JSON value equality")
	}
}
