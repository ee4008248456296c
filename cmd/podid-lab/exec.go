package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/lab"
)

// exitCode makes main exit with the code of the command podid-lab exec ran.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newExec(root *rootOptions) *cobra.Command {
	var ns, container string
	cmd := &cobra.Command{
		Use:   "exec --ns NAMESPACE POD [-c CONTAINER] -- COMMAND [ARGS...]",
		Short: "Run COMMAND on this machine as if inside POD, with the AWS identity the pod gets from the lab's agent",
		Long: `Run COMMAND on this machine as if inside POD: with the container's environment (env and envFrom),
its EKS Pod Identity variables pointed at the lab's agent, a fresh token of the pod's service account bound
to the pod (audience pods.eks.amazonaws.com, in a private temp file removed afterwards), and the lab's
AWS endpoints and region. Nothing of your own AWS identity reaches COMMAND: AWS_* variables are dropped and
the shared config and credentials files are empty. Any AWS SDK's default credential chain then gets the
pod's credentials from the agent, which exchanges the token with EKS Auth under the node role.
The exit code is COMMAND's.

  podid-lab exec --ns carts carts-5d8f7c9b6d-x2x7q -- aws sts get-caller-identity`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return fmt.Errorf("want one POD, then -- and the command: podid-lab exec --ns NAMESPACE POD -- COMMAND [ARGS...] (got %q)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if ns == "" {
				return fmt.Errorf("--ns is required: the namespace of pod %s", args[0])
			}
			dir, s, fake, err := root.runningLab()
			if err != nil {
				return err
			}
			ag, err := lab.LoadAgent(dir)
			if err != nil || !ag.Alive() {
				return fmt.Errorf("the lab in %s has no pod identity agent running (%v); run `podid-lab up` again", dir, err)
			}
			client, err := s.Client()
			if err != nil {
				return err
			}
			code, err := lab.RunInPod(cmd.Context(), client, lab.ExecOptions{
				Namespace: ns, Pod: args[0], Container: container,
				AgentURL: ag.URL, AWSURL: fake.URL,
			}, args[1:], os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&ns, "ns", "n", "", "namespace of the pod (required)")
	cmd.Flags().StringVarP(&container, "container", "c", "", "container whose environment to use (default: the first)")
	return cmd
}
