package engines

import (
	"errors"
	"strings"

	"trove.dev/trove/mover/stream"
)

// MySQLFile is the stream's name in the snapshot.
const MySQLFile = "dumpfile.sql"

// MySQL backs up MySQL and MariaDB with mariadb-dump or mysqldump (whichever
// the image carries; mariadb-dump first for MariaDB, mysqldump first for
// MySQL) and restores with the mariadb or mysql client. Without arguments it
// dumps --all-databases in one transaction (--single-transaction).
type MySQL struct {
	// Flavor is "mysql" or "mariadb": which tool names are tried first.
	Flavor string
}

// Name implements Engine.
func (m MySQL) Name() string {
	if m.Flavor == "mariadb" {
		return "mariadb"
	}
	return "mysql"
}

func (m MySQL) pick(env Env, mariadb, mysql string) (string, error) {
	order := []string{mysql, mariadb}
	if m.Flavor == "mariadb" {
		order = []string{mariadb, mysql}
	}
	for _, t := range order {
		if env.has(t) {
			return t, nil
		}
	}
	return "", errors.New("neither " + mariadb + " nor " + mysql + " is in PATH: the image running this Function must carry the MySQL or MariaDB client")
}

// optionFile is the [client] section holding the password; its path is the
// only trace of it in argv.
func (MySQL) optionFile(c Conn, env Env, name string) (string, error) {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(c.Password)
	return env.writeSecretFile(name, "[client]\npassword=\""+esc+"\"\n")
}

func (m MySQL) args(c Conn, env Env, fileName string) ([]string, error) {
	// --defaults-extra-file must come first.
	var args []string
	if c.Password != "" {
		f, err := m.optionFile(c, env, fileName)
		if err != nil {
			return nil, err
		}
		args = append(args, "--defaults-extra-file="+f)
	}
	args = append(args, "--host="+c.Host, "--port="+port(c.Port), "--protocol=TCP")
	if c.Username != "" {
		args = append(args, "--user="+c.Username)
	}
	return args, nil
}

// Backup implements Engine.
func (m MySQL) Backup(c Conn, args []string, env Env) (Plan, error) {
	tool, err := m.pick(env, "mariadb-dump", "mysqldump")
	if err != nil {
		return Plan{}, err
	}
	a, err := m.args(c, env, "backup.cnf")
	if err != nil {
		return Plan{}, err
	}
	if len(args) == 0 {
		args = []string{"--all-databases", "--single-transaction"}
	}
	return Plan{Tool: stream.Tool{Path: tool, Args: append(a, args...), Secrets: []string{c.Password}}, StdinFilename: MySQLFile}, nil
}

// Restore implements Engine.
func (m MySQL) Restore(c Conn, args []string, _ string, env Env) (Plan, error) {
	tool, err := m.pick(env, "mariadb", "mysql")
	if err != nil {
		return Plan{}, err
	}
	a, err := m.args(c, env, "restore.cnf")
	if err != nil {
		return Plan{}, err
	}
	return Plan{Tool: stream.Tool{Path: tool, Args: append(a, args...), Secrets: []string{c.Password}}}, nil
}
