package main

import (
	"fmt"

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
	var cmds []*cobra.Command
	for _, f := range databaseFunctions {
		cmds = append(cmds, newDatabaseCommand(f.engine, f.argsFlag, true), newDatabaseCommand(f.engine, f.argsFlag, false))
	}
	return cmds
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
	fl := cmd.Flags()
	fl.StringVar(&s.Namespace, "namespace", "", "namespace of the AppBinding (and of the session)")
	fl.StringVar(&s.AppBinding, "app-binding", "", "the AppBinding that says how to reach the database")
	fl.StringVar(&s.Repository, "repository", "", "the Repository to back up into or restore from")
	fl.StringVar(&s.RepositoryNamespace, "repository-namespace", "", "the Repository's namespace (default --namespace)")
	fl.StringVar(&s.RepositorySecret, "repository-secret", "", "the Repository's storage Secret (default its spec.backend.storageSecretName)")
	fl.StringVar(&s.Hostname, "hostname", "", "restic host of the snapshot; names the output file")
	fl.StringVar(&s.Args, argsFlag, "", "extra arguments for the "+engine+" tools, split like a shell would")
	fl.StringVar(&s.OutputDir, "output-dir", "/tmp/output", "directory of the step's output file <subcommand>-<hostname>.json")
	fl.BoolVar(&s.EnableCache, "enable-cache", true, "keep a restic cache in --cache-dir")
	fl.StringVar(&s.CacheDir, "cache-dir", "/tmp/restic-cache", "restic cache directory")
	fl.IntVar(&s.MaxConnections, "max-connections", 0, "restic backend connections (GCS, Azure, B2); 0 keeps restic's default")
	fl.StringVar(&s.Nice, "nice", "", "CPU nice value (-20..19) of restic and the database tool; empty keeps it")
	fl.StringVar(&s.IONiceClass, "ionice-class", "", "I/O class (1 realtime, 2 best-effort, 3 idle) of restic and the database tool")
	fl.StringVar(&s.IONiceClassData, "ionice-class-data", "", "I/O class data (0..7)")
	fl.StringVar(&s.Restic, "restic", "restic", "the restic binary (a name is looked up in PATH)")
	if backup {
		fl.StringVar(&s.BackupSession, "backup-session", "", "the BackupSession this step belongs to (a snapshot tag)")
	} else {
		fl.StringVar(&s.RestoreSession, "restore-session", "", "the RestoreSession this step belongs to")
		fl.StringVar(&s.SourceHostname, "source-hostname", "", "restic host whose latest snapshot is restored (default --hostname)")
		fl.StringVar(&s.Snapshot, "snapshot", "latest", "snapshot ID, or latest")
	}
	return cmd
}
