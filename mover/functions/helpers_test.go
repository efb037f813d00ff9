package functions_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func runWithStdin(t *testing.T, stdin string, env []string, name string, args ...string) string {
	t.Helper()
	f, err := os.Open(stdin)
	require.NoError(t, err)
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdin = f
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}
