package main

import (
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"trove.dev/trove/mover/functions"
)

// databaseFunctions are the built-in Functions' data steps: for each engine,
// `<engine>-backup` and `<engine>-restore` (docs/functions.md).
var databaseFunctions = []struct{ engine, argsFlag string }{
	{"postgres", "pg-args"},
	{"mysql", "mysql-args"},
	{"mongodb", "mongo-args"},
	{"redis", "redis-args"},
}

func newDatabaseCommands() []*cobra.Command {
	cmds := []*cobra.Command{newClusterBackupCommand()}
	for _, f := range databaseFunctions {
		cmds = append(cmds, newDatabaseCommand(f.engine, f.argsFlag, true), newDatabaseCommand(f.engine, f.argsFlag, false))
	}
	return cmds
}

// newClusterBackupCommand is `trove cluster-backup`: the selected resources as clean
// YAML into a repository.
func newClusterBackupCommand() *cobra.Command {
	s := &functions.Step{Subcommand: "cluster-backup"}
	var resources, namespaces, selector string
	cmd := &cobra.Command{
		Use:   s.Subcommand,
		Short: "Back up cluster resources as clean YAML (no status, managedFields, resourceVersion, uid) into a repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(logr.Discard())
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return s.Fail(true, fmt.Errorf("loading the kubeconfig: %w", err))
			}
			c, err := client.New(cfg, client.Options{Scheme: newScheme()})
			if err != nil {
				return s.Fail(true, fmt.Errorf("creating the API client: %w", err))
			}
			return s.RunClusterBackup(cmd.Context(), cfg, c, functions.ClusterOptions{
				Resources: splitList(resources), Namespaces: splitList(namespaces), LabelSelector: selector})
		},
	}
	s.BindCommon(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&s.Namespace, "namespace", "", "namespace of the session (and default of the Repository's)")
	fl.StringVar(&s.BackupSession, "backup-session", "", "the BackupSession this step belongs to (a snapshot tag)")
	fl.StringVar(&resources, "resources", "", "comma-separated resources (deployments, deployments.apps, ...); empty: every listable one but events")
	fl.StringVar(&selector, "label-selector", "", "only objects with these labels (a label selector)")
	fl.StringVar(&namespaces, "namespaces", "", "comma-separated namespaces; empty: all, and cluster-scoped resources too")
	return cmd
}

// splitList splits a comma-separated flag, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func newDatabaseCommand(engine, argsFlag string, backup bool) *cobra.Command {
	s := &functions.Step{Engine: engine, Subcommand: engine + "-restore"}
	short := fmt.Sprintf("Restore a %s database from a snapshot (a built-in Function's step)", engine)
	if backup {
		s.Subcommand = engine + "-backup"
		short = fmt.Sprintf("Stream a %s database's dump into a repository (a built-in Function's step)", engine)
	}
	cmd := &cobra.Command{
		Use:   s.Subcommand,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(logr.Discard())
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return s.Fail(backup, fmt.Errorf("loading the kubeconfig: %w", err))
			}
			c, err := client.New(cfg, client.Options{Scheme: newScheme()})
			if err != nil {
				return s.Fail(backup, fmt.Errorf("creating the API client: %w", err))
			}
			if backup {
				return s.RunBackup(cmd.Context(), c)
			}
			return s.RunRestore(cmd.Context(), c)
		},
	}
	s.BindCommon(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&s.Namespace, "namespace", "", "namespace of the AppBinding (and of the session)")
	fl.StringVar(&s.AppBinding, "app-binding", "", "the AppBinding that says how to reach the database")
	fl.StringVar(&s.Args, argsFlag, "", "extra arguments for the "+engine+" tools, split like a shell would")
	if backup {
		fl.StringVar(&s.BackupSession, "backup-session", "", "the BackupSession this step belongs to (a snapshot tag)")
	} else {
		fl.StringVar(&s.RestoreSession, "restore-session", "", "the RestoreSession this step belongs to")
		fl.StringVar(&s.SourceHostname, "source-hostname", "", "restic host whose latest snapshot is restored (default --hostname)")
		fl.StringVar(&s.Snapshot, "snapshot", "latest", "snapshot ID, or latest")
	}
	return cmd
}
