package engines

import (
	"encoding/json"

	"trove.dev/trove/mover/stream"
)

// MongoDBFile is the stream's name in the snapshot.
const MongoDBFile = "dump.archive"

// MongoDB backs up with `mongodump --archive` (the archive goes to stdout)
// and restores with `mongorestore --archive` (read from stdin). The password
// goes in a 0600 --config file. Debian has no MongoDB packages, so this engine
// is tested for its commands only, not against a server.
type MongoDB struct{}

// Name implements Engine.
func (MongoDB) Name() string { return "mongodb" }

func (MongoDB) args(c Conn, args []string, env Env, fileName string) ([]string, error) {
	a := []string{"--archive", "--host=" + c.Host, "--port=" + port(c.Port)}
	if c.Username != "" {
		a = append(a, "--username="+c.Username)
		if _, set := flagValue(args, "--authenticationDatabase", ""); !set {
			a = append(a, "--authenticationDatabase=admin")
		}
	}
	if c.Password != "" {
		quoted, _ := json.Marshal(c.Password) // a JSON string is a YAML string
		f, err := env.writeSecretFile(fileName, "password: "+string(quoted)+"\n")
		if err != nil {
			return nil, err
		}
		a = append(a, "--config="+f)
	}
	return append(a, args...), nil
}

// Backup implements Engine.
func (m MongoDB) Backup(c Conn, args []string, env Env) (Plan, error) {
	a, err := m.args(c, args, env, "mongodump.yaml")
	if err != nil {
		return Plan{}, err
	}
	return Plan{Tool: stream.Tool{Path: "mongodump", Args: a, Secrets: []string{c.Password}}, StdinFilename: MongoDBFile}, nil
}

// Restore implements Engine.
func (m MongoDB) Restore(c Conn, args []string, _ string, env Env) (Plan, error) {
	a, err := m.args(c, args, env, "mongorestore.yaml")
	if err != nil {
		return Plan{}, err
	}
	return Plan{Tool: stream.Tool{Path: "mongorestore", Args: a, Secrets: []string{c.Password}}}, nil
}
