package trampoline

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMountsAreValidated(t *testing.T) {
	for _, m := range []Mount{
		{Source: "relative", Target: "/trove/x"},
		{Source: "/a/../b", Target: "/trove/x"},
		{Source: "/a", Target: "/etc/passwd"},
		{Source: "/a", Target: "/trove/../etc"},
		{Source: "/a", Target: "/trove"},
	} {
		assert.Error(t, Spec{Mounts: []Mount{m}}.Validate(), "%+v", m)
	}
	assert.NoError(t, Spec{Mounts: []Mount{{Source: "/a", Target: "/trove/ns/pvc-x/data"}}}.Validate())
}

// TestMountShowsTheVolumeReadOnlyAtItsStablePath runs a shell through the trampoline
// with a read-only mount: it reads the volume at the stable path, cannot write it, and
// the mount is visible to the tool only.
func TestMountShowsTheVolumeReadOnlyAtItsStablePath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces need root")
	}
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	volume := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(volume, "data.txt"), []byte("hello"), 0o644))
	target := "/trove/test-ns/pvc-data/data"
	spec := Spec{Mounts: []Mount{{Source: volume, Target: target, ReadOnly: true}}}

	script := `cat ` + target + `/data.txt && if touch ` + target + `/new 2>/dev/null; then echo WRITABLE; fi`
	path, argv, env, err := Command(spec, sh, []string{"-c", script})
	require.NoError(t, err)
	cmd := exec.Command(path, argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "hello", string(out), "read through the stable path, and the write failed")

	_, err = os.Stat(target)
	assert.True(t, os.IsNotExist(err), "the stable path exists only for the tool")
	_, err = os.Stat(filepath.Join(volume, "new"))
	assert.True(t, os.IsNotExist(err))
}

func TestWritableMountReachesTheVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces need root")
	}
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	volume := t.TempDir()
	path, argv, env, err := Command(Spec{Mounts: []Mount{{Source: volume, Target: "/trove/w/v"}}}, sh, []string{"-c", "echo restored > /trove/w/v/file"})
	require.NoError(t, err)
	cmd := exec.Command(path, argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(filepath.Join(volume, "file"))
	require.NoError(t, err)
	assert.Equal(t, "restored\n", string(data))
}
