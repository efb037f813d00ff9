package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"trove.dev/trove/controller/updatestatus"
)

// terminationLog is where a failing step leaves its one-line reason for the
// controller (the container's terminationMessagePath; a variable for tests).
var terminationLog = "/dev/termination-log"

func newUpdateStatusCommand() *cobra.Command {
	o := updatestatus.Options{}
	cmd := &cobra.Command{
		Use:   "update-status",
		Short: "Write the results a Task's data steps left in --output-dir into the session's and the Repository's status (the last step of the default Tasks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runUpdateStatus(cmd, o)
			if err != nil {
				writeTerminationMessage(err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Namespace, "namespace", "", "namespace of the session (${NAMESPACE})")
	f.StringVar(&o.BackupSession, "backup-session", "", "the BackupSession to write into (${BACKUP_SESSION}); exactly one of this and --restore-session")
	f.StringVar(&o.RestoreSession, "restore-session", "", "the RestoreSession to write into (${RESTORE_SESSION})")
	f.StringVar(&o.Repository, "repository", "", "the Repository whose lastBackupTime a successful backup updates (${REPOSITORY_NAME})")
	f.StringVar(&o.RepositoryNamespace, "repository-namespace", "", "the Repository's namespace (${REPOSITORY_NAMESPACE}; default --namespace)")
	f.StringVar(&o.OutputDir, "output-dir", "/tmp/output", "directory holding the data steps' <subcommand>-<hostname>.json results")
	return cmd
}

func runUpdateStatus(cmd *cobra.Command, o updatestatus.Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		return err
	}
	sum, err := updatestatus.Run(cmd.Context(), c, o)
	if err != nil {
		return err
	}
	session := "BackupSession " + o.BackupSession
	if o.RestoreSession != "" {
		session = "RestoreSession " + o.RestoreSession
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %d host(s) written", o.Namespace, session, sum.Hosts)
	if len(sum.Failed) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", failed: %s", strings.Join(sum.Failed, ", "))
	}
	if sum.LastBackupTime != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "; Repository lastBackupTime %s", sum.LastBackupTime.UTC().Format("2006-01-02T15:04:05Z"))
	}
	fmt.Fprintln(cmd.OutOrStdout())
	return nil
}

// writeTerminationMessage leaves err's first line where the kubelet reads a
// container's termination message, when that file exists (inside a pod).
func writeTerminationMessage(err error) {
	f, oerr := os.OpenFile(terminationLog, os.O_WRONLY|os.O_TRUNC, 0)
	if oerr != nil {
		if !errors.Is(oerr, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "writing", terminationLog+":", oerr)
		}
		return
	}
	defer f.Close()
	line, _, _ := strings.Cut(err.Error(), "\n")
	_, _ = f.WriteString(line)
}
