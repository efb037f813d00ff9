package taskrun

import (
	"fmt"
	"strings"

	"trove.dev/trove/apis/appbinding"
)

// versionParts is how many leading parts of an engine's version name its default
// Tasks: MySQL's dump format changes between minor versions (8.0, 8.4), the others'
// only between major ones.
var versionParts = map[string]int{
	appbinding.Postgres: 1,
	appbinding.MySQL:    2,
	appbinding.MariaDB:  1,
	appbinding.MongoDB:  1,
	appbinding.Redis:    1,
}

// DefaultTask names the Task an AppBinding target gets when its session names none:
// <engine>-<backup|restore>-<version>, the engine normalized from spec.type
// (kubedb.com/postgres → postgres) and the version cut to what its tools care about:
//
//	postgres 16.2       → postgres-backup-16
//	mysql 8.0.35        → mysql-backup-8.0
//	mariadb 11.4.2      → mariadb-backup-11
//	mongodb 7.0.5       → mongodb-backup-7
//	redis 7.2.4         → redis-backup-7
//
// A version suffix such as KubeDB's "-v1" or "-debian" is ignored.
func DefaultTask(direction Direction, app *appbinding.AppBinding) (string, error) {
	if app == nil {
		return "", fmt.Errorf("no Task is named and the target is not an AppBinding: set spec.task.name")
	}
	engine := app.Engine()
	parts, ok := versionParts[engine]
	if !ok {
		return "", fmt.Errorf("AppBinding %s/%s: spec.type %q is none of postgres, mysql, mariadb, mongodb, redis, so it has no default Task: name one in spec.task.name",
			app.Namespace, app.Name, app.Type)
	}
	version := cleanVersion(app.Version, parts)
	if version == "" {
		return "", fmt.Errorf("AppBinding %s/%s: spec.version %q does not start with a version number, so the default Task cannot be chosen: set spec.version or name a Task in spec.task.name",
			app.Namespace, app.Name, app.Version)
	}
	return fmt.Sprintf("%s-%s-%s", engine, direction, version), nil
}

// cleanVersion keeps the first parts numeric components of v ("16.2-v1", 1 → "16").
func cleanVersion(v string, parts int) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	var out []string
	for _, p := range strings.SplitN(v, ".", parts+1) {
		n := 0
		for n < len(p) && p[n] >= '0' && p[n] <= '9' {
			n++
		}
		if n == 0 {
			break
		}
		out = append(out, p[:n])
		if len(out) == parts || n < len(p) {
			break
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, ".")
}
