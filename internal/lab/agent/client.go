package agent

import (
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
)

// NewEKSAuthClient returns the EKS Auth client the agent uses: cfg's region
// and credentials (the node role's), endpoint as the base endpoint when not
// empty (the agent's --endpoint), the SDK's default retryer, a 500 ms dial
// timeout and timeout for each HTTP request (the real agent uses 1 s;
// 0 means 1 s).
func NewEKSAuthClient(cfg aws.Config, endpoint string, timeout time.Duration) *eksauth.Client {
	if timeout <= 0 {
		timeout = time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext
	return eksauth.NewFromConfig(cfg, func(o *eksauth.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.HTTPClient = &http.Client{Transport: tr, Timeout: timeout}
	})
}
