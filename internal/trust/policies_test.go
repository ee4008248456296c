package trust

// Trust policies used by several tests and as fuzz seeds.
const (
	// workshopTrust is the carts-dynamo trust from the EKS workshop.
	workshopTrust = `{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "Service": "pods.eks.amazonaws.com"
            },
            "Action": [
                "sts:AssumeRole",
                "sts:TagSession"
            ]
        }
    ]
}`

	// irsaTrust is an IRSA-only trust (eksctl style).
	irsaTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub":"system:serviceaccount:carts:carts","oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud":"sts.amazonaws.com"}}}]}`

	// assumeOnlyTrust lacks sts:TagSession, as a single statement object.
	assumeOnlyTrust = `{"Version":"2012-10-17","Statement":{"Sid":"Pods","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}}`

	// denyTrust allows the service but denies it for the carts namespace.
	denyTrust = `{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]},
{"Sid":"NoCarts","Effect":"Deny","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:*","Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"carts"}}}]}`

	// scopedTrust is what NewTrustPolicy(scoped) writes for eks-workshop/carts/carts.
	scopedTrust = `{"Version":"2012-10-17","Statement":[{"Sid":"AllowEksAuthToAssumeRoleForPodIdentity","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/eks-cluster-name":"eks-workshop","aws:RequestTag/kubernetes-namespace":"carts","aws:RequestTag/kubernetes-service-account":"carts","aws:SourceAccount":"111122223333"}}}]}`

	// starTrust trusts every principal.
	starTrust = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"}]}`

	// bothTrust trusts IRSA and pod identity, with an unknown member to keep.
	bothTrust = `{"Version":"2012-10-17","Id":"keep-me","Statement":[
{"Sid":"Irsa","Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"oidc.eks.us-west-2.amazonaws.com/id/ABC:sub":"system:serviceaccount:carts:*"}},"X-Custom":{"b":1,"a":[true,null]}},
{"Sid":"Pods","Effect":"Allow","Principal":{"Service":["pods.eks.amazonaws.com"]},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}]}`
)

// workshopReq is the request the workshop makes.
var workshopReq = Request{
	Cluster:        "eks-workshop",
	Namespace:      "carts",
	ServiceAccount: "carts",
	Account:        "111122223333",
	ClusterArn:     "arn:aws:eks:us-west-2:111122223333:cluster/eks-workshop",
}
