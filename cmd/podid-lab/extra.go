package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/fakeaws"
	"github.com/podid/podid/internal/lab"
)

// newBuild builds the lab binaries that are missing from the cache (CI calls
// it first so the minutes of a cold build show as such, with progress).
func newBuild() *cobra.Command {
	return &cobra.Command{
		Use:   "build",
		Short: "Build the lab's binaries that are missing from the per-version cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := lab.RepoRoot()
			if err != nil {
				return err
			}
			start := time.Now()
			dir, err := lab.Build(cmd.Context(), cmd.ErrOrStderr(), root)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab binaries ready in %s (%s)\n", dir, time.Since(start).Round(time.Second))
			return nil
		},
	}
}

// newAWS shows the fake's EKS state the way the workshop's AWS CLI calls
// would: add-ons and pod identity associations of each cluster.
func newAWS(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "aws",
		Short: "Show the fake AWS state: add-ons and pod identity associations (what aws eks list-… would show)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := root.labDir()
			if err != nil {
				return err
			}
			fake, err := lab.LoadFake(dir)
			if err != nil {
				return fmt.Errorf("no fake AWS recorded in %s: %w (run podid-lab up)", dir, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(fake.URL, "/")+"/_fake/state", nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("ask the fake AWS at %s: %w (is the lab up? podid-lab status)", fake.URL, err)
			}
			defer resp.Body.Close()
			var st fakeaws.StateSnapshot
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				return fmt.Errorf("read the fake's state: %w", err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, c := range st.Clusters {
				fmt.Fprintf(w, "cluster %s (Kubernetes %s, %s)\n", c.Name, c.Version, c.Status)
				fmt.Fprintln(w, "  ADD-ON\tVERSION\tSTATUS")
				for _, a := range c.Addons {
					fmt.Fprintf(w, "  %s\t%s\t%s\n", a.Name, a.Version, a.Status)
				}
				fmt.Fprintln(w, "  ASSOCIATION\tNAMESPACE\tSERVICE ACCOUNT\tROLE")
				for _, a := range c.Associations {
					fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", a.ID, a.Namespace, a.ServiceAccount, a.RoleArn)
				}
			}
			return w.Flush()
		},
	}
}
