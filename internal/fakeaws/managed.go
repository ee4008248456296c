package fakeaws

// AWS managed policies
//
// Real IAM knows every AWS managed policy (arn:aws:iam::aws:policy/...), so
// `aws iam attach-role-policy --policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess`
// works in any account. The fake seeds the ones people attach to Pod Identity
// workload roles (and the node role's), with the documents AWS publishes in
// the AWS Managed Policy Reference
// (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/<Name>.html).
//
// Kept short but faithful: a short document is as published; for the long
// ones (DynamoDB, Secrets Manager) every statement that grants the service
// itself is as published, and the console helper actions of other services
// in the same statement (CloudWatch alarms, Data Pipeline, Lambda listing, …)
// are left out. Those would only matter to a simulation of those other
// services' actions.
//
// Checked against the reference: AmazonS3ReadOnlyAccess (v3),
// AmazonSQSReadOnlyAccess (v4), AmazonSNSFullAccess (v2),
// CloudWatchEventsServiceRolePolicy (v1), the start of
// AmazonDynamoDBFullAccess (v15). Not checked: AmazonSQSFullAccess is its
// long-standing one-statement "sqs:*" document (a later version may add a
// Sid), CloudWatchAgentServerPolicy and SecretsManagerReadWrite as widely
// published.
//
// Service-linked role policies (path /aws-service-role/) exist but are not
// attachable: GetPolicy says IsAttachable=false and AttachRolePolicy answers
// NoSuchEntity "… does not exist or is not attachable.", as IAM does.

const awsManagedPrefix = "arn:aws:iam::aws:policy/"

type managedPolicy struct {
	name, path string
	attachable bool
	document   string
}

var awsManagedPolicies = []managedPolicy{
	{name: "AmazonEKSWorkerNodePolicy", path: "/", attachable: true, document: workerNodePolicyDoc},
	{name: "AmazonDynamoDBFullAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "dynamodb:*",
        "dax:*",
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingActivities",
        "application-autoscaling:DescribeScalingPolicies",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:RegisterScalableTarget",
        "kms:DescribeKey",
        "kms:ListAliases",
        "tag:GetResources"
      ],
      "Effect": "Allow",
      "Resource": "*"
    },
    {
      "Action": "iam:PassRole",
      "Effect": "Allow",
      "Resource": "*",
      "Condition": {
        "StringLike": {
          "iam:PassedToService": [
            "application-autoscaling.amazonaws.com",
            "application-autoscaling.amazonaws.com.cn",
            "dax.amazonaws.com"
          ]
        }
      }
    },
    {
      "Effect": "Allow",
      "Action": "iam:CreateServiceLinkedRole",
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "iam:AWSServiceName": [
            "replication.dynamodb.amazonaws.com",
            "dax.amazonaws.com",
            "dynamodb.application-autoscaling.amazonaws.com",
            "contributorinsights.dynamodb.amazonaws.com",
            "kinesisreplication.dynamodb.amazonaws.com"
          ]
        }
      }
    }
  ]
}`},
	{name: "AmazonDynamoDBReadOnlyAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingActivities",
        "application-autoscaling:DescribeScalingPolicies",
        "dax:Describe*",
        "dax:List*",
        "dax:GetItem",
        "dax:BatchGetItem",
        "dax:Query",
        "dax:Scan",
        "dax:ConditionCheckItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Describe*",
        "dynamodb:List*",
        "dynamodb:GetAbacStatus",
        "dynamodb:GetItem",
        "dynamodb:GetResourcePolicy",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PartiQLSelect",
        "kms:DescribeKey",
        "kms:ListAliases",
        "tag:GetResources"
      ],
      "Effect": "Allow",
      "Resource": "*"
    }
  ]
}`},
	{name: "AmazonS3FullAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "s3:*",
        "s3-object-lambda:*"
      ],
      "Resource": "*"
    }
  ]
}`},
	{name: "AmazonS3ReadOnlyAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "s3:Get*",
        "s3:List*",
        "s3:Describe*",
        "s3-object-lambda:Get*",
        "s3-object-lambda:List*"
      ],
      "Resource": "*"
    }
  ]
}`},
	{name: "AmazonSQSFullAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "sqs:*"
      ],
      "Effect": "Allow",
      "Resource": "*"
    }
  ]
}`},
	{name: "AmazonSQSReadOnlyAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AmazonSQSReadOnlyAccess",
      "Effect": "Allow",
      "Action": [
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ListDeadLetterSourceQueues",
        "sqs:ListQueues",
        "sqs:ListMessageMoveTasks",
        "sqs:ListQueueTags"
      ],
      "Resource": "*"
    }
  ]
}`},
	{name: "AmazonSNSFullAccess", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "SNSFullAccess",
      "Effect": "Allow",
      "Action": "sns:*",
      "Resource": "*"
    },
    {
      "Sid": "SMSAccessViaSNS",
      "Effect": "Allow",
      "Action": [
        "sms-voice:DescribeVerifiedDestinationNumbers",
        "sms-voice:CreateVerifiedDestinationNumber",
        "sms-voice:SendDestinationNumberVerificationCode",
        "sms-voice:SendTextMessage",
        "sms-voice:DeleteVerifiedDestinationNumber",
        "sms-voice:VerifyDestinationNumber",
        "sms-voice:DescribeAccountAttributes",
        "sms-voice:DescribeSpendLimits",
        "sms-voice:DescribePhoneNumbers",
        "sms-voice:SetTextMessageSpendLimitOverride",
        "sms-voice:DescribeOptedOutNumbers",
        "sms-voice:DeleteOptedOutNumber"
      ],
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "aws:CalledViaLast": "sns.amazonaws.com"
        }
      }
    }
  ]
}`},
	{name: "SecretsManagerReadWrite", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "BasePermissions",
      "Effect": "Allow",
      "Action": [
        "secretsmanager:*",
        "kms:DescribeKey",
        "kms:ListAliases",
        "kms:ListKeys",
        "tag:GetResources"
      ],
      "Resource": "*"
    },
    {
      "Sid": "LambdaPermissions",
      "Effect": "Allow",
      "Action": [
        "lambda:AddPermission",
        "lambda:CreateFunction",
        "lambda:GetFunction",
        "lambda:InvokeFunction",
        "lambda:UpdateFunctionConfiguration"
      ],
      "Resource": "arn:aws:lambda:*:*:function:SecretsManager*"
    },
    {
      "Sid": "SARPermissions",
      "Effect": "Allow",
      "Action": [
        "serverlessrepo:CreateCloudFormationChangeSet",
        "serverlessrepo:GetApplication"
      ],
      "Resource": "arn:aws:serverlessrepo:*:*:applications/SecretsManager*"
    },
    {
      "Sid": "S3Permissions",
      "Effect": "Allow",
      "Action": [
        "s3:GetObject"
      ],
      "Resource": [
        "arn:aws:s3:::awsserverlessrepo-changesets*",
        "arn:aws:s3:::secrets-manager-rotation-apps-*/*"
      ]
    }
  ]
}`},
	{name: "CloudWatchAgentServerPolicy", path: "/", attachable: true, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "CWACloudWatchServerPermissions",
      "Effect": "Allow",
      "Action": [
        "cloudwatch:PutMetricData",
        "ec2:DescribeVolumes",
        "ec2:DescribeTags",
        "logs:PutLogEvents",
        "logs:PutRetentionPolicy",
        "logs:DescribeLogStreams",
        "logs:DescribeLogGroups",
        "logs:CreateLogStream",
        "logs:CreateLogGroup",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries"
      ],
      "Resource": "*"
    },
    {
      "Sid": "CWASSMServerPermissions",
      "Effect": "Allow",
      "Action": [
        "ssm:GetParameter"
      ],
      "Resource": "arn:aws:ssm:*:*:parameter/AmazonCloudWatch-*"
    }
  ]
}`},
	// A service-linked role policy: it exists, and is not attachable.
	{name: "CloudWatchEventsServiceRolePolicy", path: "/aws-service-role/", attachable: false, document: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "cloudwatch:DescribeAlarms",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumeStatus",
        "ec2:DescribeVolumes",
        "ec2:RebootInstances",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "ec2:CreateSnapshot"
      ],
      "Resource": "*"
    }
  ]
}`},
}

// awsManagedArn is the ARN of an AWS managed policy.
func awsManagedArn(p managedPolicy) string {
	return "arn:aws:iam::aws:policy" + p.path + p.name
}

func (s *Server) seedManagedPolicies() {
	for _, p := range awsManagedPolicies {
		s.PutPolicy(Policy{Name: p.name, Path: p.path, Arn: awsManagedArn(p), Document: p.document})
		if !p.attachable {
			s.mu.Lock()
			s.policies[awsManagedArn(p)].notAttachable = true
			s.mu.Unlock()
		}
	}
}

// notAttachable is the error IAM gives for a policy that is missing or that
// cannot be attached (a service-linked role policy).
func notAttachable(arn string) *apiError {
	return &apiError{status: 404, code: "NoSuchEntity", message: "Policy " + arn + " does not exist or is not attachable."}
}
