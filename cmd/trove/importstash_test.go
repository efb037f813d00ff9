package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runImport runs `trove import-stash args...` as main would and returns the exit code.
func runImport(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"import-stash"}, args...))
	err := root.Execute()
	if err == nil {
		return 0, out.String(), errOut.String()
	}
	return exitCode(err), out.String(), errOut.String()
}

const testdata = "../../apis/stashimport/testdata/"

func TestImportStashExitCodes(t *testing.T) {
	code, out, errOut := runImport(t, "", "-f", testdata+"seed-functions-tasks.stash.yaml")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "apiVersion: trove.dev/v1alpha1")
	assert.Contains(t, errOut, "3 converted, 0 skipped, 0 not converted, 0 fields not mapped")

	code, out, errOut = runImport(t, "", "-f", testdata+"released.stash.yaml")
	assert.Equal(t, exitUnmapped, code)
	assert.Contains(t, out, "kind: BackupConfiguration")
	assert.Contains(t, errOut, "not mapped: spec.target.volumeMounts")
	assert.NotContains(t, out+errOut, "rest-pass-w0rd")

	code, out, errOut = runImport(t, "", "-f", testdata+"malformed.stash.yaml")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "document 2: not valid YAML")

	code, _, errOut = runImport(t, "", "-f", filepath.Join(t.TempDir(), "missing.yaml"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "missing.yaml")
}

func TestImportStashStdinAndOutputFile(t *testing.T) {
	data, err := os.ReadFile(testdata + "seed-functions-later.stash.yaml")
	require.NoError(t, err)
	outFile := filepath.Join(t.TempDir(), "trove.yaml")
	code, stdout, errOut := runImport(t, string(data), "-f", "-", "-o", outFile)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, stdout)
	written, err := os.ReadFile(outFile)
	require.NoError(t, err)
	want, err := os.ReadFile(testdata + "seed-functions-later.trove.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(written))

	// a failed run leaves no file behind
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	code, _, _ = runImport(t, "kind: [", "-f", "-", "-o", bad)
	assert.Equal(t, 1, code)
	assert.NoFileExists(t, bad)
	entries, err := os.ReadDir(filepath.Dir(bad))
	require.NoError(t, err)
	assert.Empty(t, entries, "no temporary file left")
}
