// Command whoami is what an application in a pod does to learn who it is:
// the AWS SDK for Go's default credential chain (config.LoadDefaultConfig),
// then STS GetCallerIdentity. `make demo` and the lab tests run it through
// `podid-lab exec` to show the identity a pod really gets.
//
// It prints the credential source on stderr and, on stdout, the caller
// identity as `aws sts get-caller-identity` prints it. Exit code 1 with the
// SDK's error when no credentials are found or STS refuses them.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "whoami: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load the default AWS config: %w", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	exp := "never"
	if creds.CanExpire {
		exp = creds.Expires.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(os.Stderr, "credentials: source %s, account %s, expire %s\n", creds.Source, creds.AccountID, exp)
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("sts GetCallerIdentity: %w", err)
	}
	b, err := json.MarshalIndent(struct{ UserId, Account, Arn string }{
		aws.ToString(out.UserId), aws.ToString(out.Account), aws.ToString(out.Arn),
	}, "", "    ")
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}
