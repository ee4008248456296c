package agent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/eksauth/types"
	"github.com/aws/smithy-go"
)

// requestError is an answer the agent decides itself (validation, Host
// check, rate limit, its own failures): the status and the text body.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// errorAnswer maps err to the status and body the real agent sends
// (pkg/errors/errors.go of aws/eks-pod-identity-agent): its own errors as
// they are; an EKS Auth error with the status EKS Auth returned and the body
// "[<request id>]: (<code>): <message>, fault: <client|server>"; anything
// else (no HTTP answer at all) 500 with the error text.
func errorAnswer(err error) (status int, body string) {
	var re *requestError
	if errors.As(err, &re) {
		return re.status, re.msg
	}
	status = http.StatusInternalServerError
	var parts []string
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		if resp.HTTPStatusCode() != 0 {
			status = resp.HTTPStatusCode()
		}
		parts = append(parts, "["+resp.RequestID+"]")
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		parts = append(parts, fmt.Sprintf("(%s): %s, fault: %s", api.ErrorCode(), api.ErrorMessage(), api.ErrorFault()))
	}
	if len(parts) == 0 {
		return status, err.Error()
	}
	return status, strings.Join(parts, ": ")
}

// irrecoverable reports whether a background refresh that failed with err
// must drop the cached credentials instead of keeping them until the next
// try (internal/cloud/eksauth/errors.go: IsIrrecoverableApiError).
func irrecoverable(err error) bool {
	var (
		denied   *types.AccessDeniedException
		expired  *types.ExpiredTokenException
		invalid  *types.InvalidTokenException
		notFound *types.ResourceNotFoundException
	)
	return errors.As(err, &denied) || errors.As(err, &expired) || errors.As(err, &invalid) || errors.As(err, &notFound)
}
