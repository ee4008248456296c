package awsapi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/podid/podid/internal/fail"
)

// PolicyDocHint points at the README section listing the IAM permissions
// podid needs.
const PolicyDocHint = "see README 'IAM policy for podid'"

var (
	accessDeniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
		"UnauthorizedException": true, "NotAuthorized": true,
	}
	credentialCodes = map[string]bool{
		"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
		"UnrecognizedClientException": true, "InvalidSignatureException": true,
		"SignatureDoesNotMatch": true, "InvalidAccessKeyId": true, "MissingAuthenticationToken": true,
		"RequestExpired": true, "AuthFailure": true,
	}
	throttleCodes = map[string]bool{}
	notFoundCodes = map[string]bool{
		"ResourceNotFoundException": true, "NoSuchEntity": true, "NotFoundException": true,
	}
	// "is not authorized to perform: iam:PassRole on resource: …"
	deniedActionRE = regexp.MustCompile(`not authorized to perform:? ([a-zA-Z0-9-]+:[A-Za-z0-9*]+)`)
)

func init() {
	for code := range retry.DefaultThrottleErrorCodes {
		throttleCodes[code] = true
	}
}

// Explain turns an SDK error from op (a lowercase phrase such as "describe
// cluster") on object (what it was about, e.g. `cluster "eks-workshop"`)
// into a podid error that names the problem and carries a hint. Errors that
// are already podid errors, and context cancellation or deadlines, are only
// wrapped. Credentials never appear in the result: access key IDs are cut to
// their first four characters and anything resembling a secret is removed.
func Explain(err error, op, object string) error {
	if err == nil {
		return nil
	}
	what := strings.TrimSpace(op + " " + object)
	var fe *fail.Error
	if errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	action := sdkAction(err)
	msg := redact(errorMessage(err))

	var api smithy.APIError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var quota ratelimit.QuotaExceededError
	var maxAttempts *retry.MaxAttemptsError

	switch {
	case accessDeniedCodes[code]:
		if m := deniedActionRE.FindStringSubmatch(api.ErrorMessage()); m != nil {
			action = m[1]
		}
		return &fail.Error{Kind: fail.KindError, Err: &explained{
			msg: fmt.Sprintf("%s: access denied: the caller may not call %s: %s", what, action, msg), cause: err},
			Hint: fmt.Sprintf("grant %s to the caller; %s", action, PolicyDocHint)}
	case credentialCodes[code] || isCredentialError(err):
		return &fail.Error{Kind: fail.KindError, Err: &explained{
			msg: fmt.Sprintf("%s: AWS credentials are missing, expired or invalid: %s", what, msg), cause: err},
			Hint: "run aws sso login (or refresh your credentials) and check AWS_PROFILE; aws sts get-caller-identity shows who you are"}
	case throttleCodes[code] || errors.As(err, &quota):
		return &fail.Error{Kind: fail.KindError, Err: &explained{
			msg: fmt.Sprintf("%s: AWS kept throttling %s after retries: %s", what, action, msg), cause: err},
			Hint: "wait a minute and run again (podid is idempotent); if this persists, allow more attempts: AWS_MAX_ATTEMPTS=20 (or max_attempts in your AWS profile), and AWS_RETRY_MODE=adaptive"}
	case notFoundCodes[code]:
		return &fail.Error{Kind: fail.KindError, Err: &explained{
			msg: fmt.Sprintf("%s: not found: %s", what, msg), cause: err},
			Hint: "check the name and the region (--region / AWS_REGION)"}
	case errors.As(err, &maxAttempts):
		return &fail.Error{Kind: fail.KindError, Err: &explained{
			msg: fmt.Sprintf("%s: %s kept failing after retries: %s", what, action, msg), cause: err},
			Hint: "the AWS endpoint is failing or unreachable; check connectivity and AWS_ENDPOINT_URL*, then run again"}
	}
	return &explained{msg: fmt.Sprintf("%s: %s", what, msg), cause: err}
}

// ClusterNotFound is the error for a cluster that DescribeCluster does not know.
func ClusterNotFound(cluster, region string, cause error) error {
	return &fail.Error{Kind: fail.KindError,
		Err:  &explained{msg: fmt.Sprintf("cluster %q not found in %s", cluster, region), cause: cause},
		Hint: fmt.Sprintf("check --cluster and --region; aws eks list-clusters --region %s", region)}
}

// IsCode reports whether err is an AWS API error with one of codes.
func IsCode(err error, codes ...string) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	for _, c := range codes {
		if api.ErrorCode() == c {
			return true
		}
	}
	return false
}

// explained keeps the SDK error reachable with errors.As (typed SDK errors
// stay testable) while its message is the redacted, readable one.
type explained struct {
	msg   string
	cause error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.cause }

// sdkAction names the IAM action of the failed call ("eks:DescribeCluster").
func sdkAction(err error) string {
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return strings.ToLower(oe.ServiceID) + ":" + oe.OperationName
	}
	return "the call"
}

// errorMessage is the most useful part of err: the API error's code and
// message, or the error text without the SDK's operation prefix.
func errorMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// isCredentialError recognises the SDK's "no credentials" failures, which
// are not typed: the identity resolver wraps them as "get identity: …" and
// the signer as "failed to retrieve credentials".
func isCredentialError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "get identity:") || strings.Contains(s, "failed to retrieve credentials") ||
		strings.Contains(s, "failed to refresh cached credentials") || strings.Contains(s, "no EC2 IMDS role found")
}

var (
	accessKeyRE = regexp.MustCompile(`\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b`)
	// A secret access key is 40 base64 characters; session tokens are much
	// longer. Anything base64-like of 40+ characters is removed.
	secretRE = regexp.MustCompile(`[A-Za-z0-9/+=]{40,}`)
)

// redact removes secrets from s and shortens access key IDs to their prefix.
// ARNs are left alone (role names can be long and base64-like).
func redact(s string) string {
	s = wordRE.ReplaceAllStringFunc(s, func(w string) string {
		if strings.Contains(w, "arn:") {
			return w
		}
		return secretRE.ReplaceAllStringFunc(w, func(m string) string {
			if !strings.ContainsAny(m, "0123456789") {
				return m
			}
			return "[redacted]"
		})
	})
	return accessKeyRE.ReplaceAllStringFunc(s, func(m string) string { return m[:4] + "…" })
}

var wordRE = regexp.MustCompile(`[^\s"',]+`)

// IsThrottle reports whether err is a throttling error (after the SDK's own
// retries) or the retryer's quota running out.
func IsThrottle(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) && throttleCodes[api.ErrorCode()] {
		return true
	}
	var quota ratelimit.QuotaExceededError
	return errors.As(err, &quota)
}
