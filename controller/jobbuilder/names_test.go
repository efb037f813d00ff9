package jobbuilder

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestDNSLabel(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := map[string]string{
		"postgres-backup-11.2":  "postgres-backup-11-2",
		"update-status":         "update-status",
		"My_Function..V2":       "my-function-v2",
		"-leading.and.trailing": "leading-and-trailing",
		"...":                   "step",
		"":                      "step",
		"ünïcode":               "n-code",
	}
	for in, want := range tests {
		assert.Equal(t, want, dnsLabel(in, "step"), in)
	}
	got := dnsLabel(long, "step")
	assert.Len(t, got, 63)
	assert.NotEqual(t, got, dnsLabel(long+"b", "step"), "shortened names stay distinct")
	for _, s := range []string{long, long + "-x", "a." + long} {
		assert.Empty(t, validation.IsDNS1123Label(dnsLabel(s, "step")), s)
	}
}

func TestContainerNames(t *testing.T) {
	long := strings.Repeat("b", 80)
	got := containerNames([]string{"a.b", "a-b", "a_b", long, long, "update-status"})
	assert.Equal(t, "a-b", got[0])
	assert.Equal(t, "a-b-2", got[1])
	assert.Equal(t, "a-b-3", got[2])
	assert.NotEqual(t, got[3], got[4])
	seen := map[string]bool{}
	for _, n := range got {
		assert.Empty(t, validation.IsDNS1123Label(n), n)
		assert.False(t, seen[n], n)
		seen[n] = true
	}
}

func TestKubeletExpands(t *testing.T) {
	for field, want := range map[string]bool{
		"args[3]":                      true,
		"command[0]":                   true,
		"runtimeSettings.env[2].value": true,
		"session.runtimeSettings.container.env[0].value":     true,
		"runtimeSettings.livenessProbe.exec.command[1]":      true,
		"volumeMounts[0].subPathExpr":                        true,
		"image":                                              false,
		"volumeMounts[0].name":                               false,
		"runtimeSettings.env[0].valueFrom.secretKeyRef.name": false,
		"workingDir":                                         false,
	} {
		assert.Equal(t, want, kubeletExpands(field), field)
	}
}

func TestLongSessionName(t *testing.T) {
	in := backupInput(t, pgConfig(), gcsRepo("demo"), "postgres-backup-11.2")
	in.SessionName = strings.Repeat("very-long-configuration-name.", 6) + "1700000000"
	objs, err := Build(in)
	if !assert.NoError(t, err) {
		return
	}
	assert.Empty(t, validation.IsDNS1123Label(objs.Job.Name), objs.Job.Name)
	assert.Empty(t, validation.IsValidLabelValue(objs.Job.Labels["trove.dev/session"]))
	assert.Equal(t, objs.Job.Name, objs.ServiceAccount.Name)
	assert.Equal(t, objs.Job.Name, objs.Job.Spec.Template.Spec.ServiceAccountName)
	assert.Equal(t, objs.Job.Name, objs.RoleBindings[0].RoleRef.Name)
}
