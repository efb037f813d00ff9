package trampoline

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	MaybeRun()
	os.Exit(m.Run())
}

func intp(i int) *int { return &i }

func TestSpecValidate(t *testing.T) {
	assert.NoError(t, Spec{}.Validate())
	assert.NoError(t, Spec{Nice: intp(-20), IOClass: intp(1), IOClassData: 7}.Validate())
	assert.Error(t, Spec{Nice: intp(20)}.Validate())
	assert.Error(t, Spec{IOClass: intp(4)}.Validate())
	assert.Error(t, Spec{IOClass: intp(2), IOClassData: 8}.Validate())
	assert.True(t, Spec{}.Empty())
	assert.False(t, Spec{Nice: intp(0)}.Empty())
}

func TestEmptySpecRunsToolDirectly(t *testing.T) {
	path, argv, env, err := Command(Spec{}, "/bin/true", []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "/bin/true", path)
	assert.Equal(t, []string{"/bin/true", "a"}, argv)
	assert.Empty(t, env)
}

func TestTrampolineAppliesPriorities(t *testing.T) {
	// The tool prints its own nice value (field 19 of /proc/self/stat) and
	// its I/O priority as ionice(1) sees it.
	path, argv, env, err := Command(Spec{Nice: intp(12), IOClass: intp(IOClassBestEffort), IOClassData: 6},
		"/bin/sh", []string{"-c", `cut -d' ' -f19 /proc/$$/stat; ionice -p $$; echo "marker=${TROVE_TRAMPOLINE:-unset}"`})
	require.NoError(t, err)
	self, _ := os.Executable()
	assert.Equal(t, self, path)
	cmd := exec.Command(path)
	cmd.Args = argv
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 3, string(out))
	assert.Equal(t, "12", lines[0])
	assert.Equal(t, "best-effort: prio 6", lines[1])
	assert.Equal(t, "marker=unset", lines[2], "the marker does not leak into the tool")
	assert.Equal(t, 0, currentNice(t), "the caller's own priority is unchanged")
}

func TestTrampolineReportsFailures(t *testing.T) {
	path, argv, env, err := Command(Spec{Nice: intp(1)}, "/nonexistent/tool", nil)
	require.NoError(t, err)
	cmd := exec.Command(path)
	cmd.Args = argv
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 127, ee.ExitCode())
	assert.Contains(t, string(out), "exec /nonexistent/tool")
}

func TestCommandNeedsMaybeRun(t *testing.T) {
	ready.Store(false)
	defer ready.Store(true)
	_, _, _, err := Command(Spec{Nice: intp(1)}, "/bin/true", nil)
	assert.ErrorIs(t, err, ErrNotReady)
}

func TestIOPriorityOfSelf(t *testing.T) {
	class, _, err := IOPriority(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, class, 0)
}

func currentNice(t *testing.T) int {
	raw, err := os.ReadFile("/proc/self/stat")
	require.NoError(t, err)
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	n, err := strconv.Atoi(f[19-3])
	require.NoError(t, err)
	return n
}
