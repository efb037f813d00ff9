package agent

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommonDir(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"/trove/ns/pvc-a/data"}, "/trove/ns/pvc-a/data"},
		{[]string{"/trove/ns/pvc-a/data/x", "/trove/ns/pvc-a/data/y/z"}, "/trove/ns/pvc-a/data"},
		{[]string{"/trove/ns/a/data/x", "/trove/ns/a/database"}, "/trove/ns/a"},
		{nil, "/"},
	} {
		assert.Equal(t, tc.want, commonDir(tc.paths), "%v", tc.paths)
	}
}
