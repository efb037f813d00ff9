package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The flags the Job engine passes (the contract in docs/functions.md) must
// all parse, for every database subcommand.
func TestDatabaseCommandsTakeTheContractFlags(t *testing.T) {
	common := []string{"--namespace=ns", "--app-binding=db", "--repository=repo", "--repository-namespace=ns",
		"--repository-secret=s", "--hostname=host-0", "--output-dir=/tmp/output", "--enable-cache=true",
		"--max-connections=0", "--nice=", "--ionice-class=", "--ionice-class-data="}
	root := newRootCommand()
	for _, f := range databaseFunctions {
		for _, sub := range []struct {
			name  string
			extra []string
		}{
			{f.engine + "-backup", []string{"--backup-session=bs", "--" + f.argsFlag + "="}},
			{f.engine + "-restore", []string{"--restore-session=rs", "--source-hostname=", "--snapshot=latest", "--" + f.argsFlag + "=--x 'a b'"}},
		} {
			cmd, _, err := root.Find([]string{sub.name})
			require.NoError(t, err, sub.name)
			require.Equal(t, sub.name, cmd.Name())
			assert.NoError(t, cmd.ParseFlags(append(append([]string{}, common...), sub.extra...)), sub.name)
		}
	}
}
