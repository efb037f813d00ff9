package variables

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	vars := Vars{
		"REPOSITORY_PROVIDER": "gcs",
		"EMPTY":               "",
		"outputDir":           "/tmp/output",
		"TEMPLATE":            "${NOT_AGAIN}",
		"PARENS":              "$(NOT_AGAIN)",
		"databaseSecret":      "pg-auth",
	}
	tests := []struct {
		name     string
		in       string
		want     string
		missing  []string
		deferred []string
		used     []string
	}{
		{name: "no variables", in: "--secret-dir=/etc/repository/secret", want: "--secret-dir=/etc/repository/secret"},
		{name: "empty", in: "", want: ""},
		{name: "set", in: "--provider=${REPOSITORY_PROVIDER}", want: "--provider=gcs", used: []string{"REPOSITORY_PROVIDER"}},
		{name: "set with default", in: "--provider=${REPOSITORY_PROVIDER:=s3}", want: "--provider=gcs", used: []string{"REPOSITORY_PROVIDER"}},
		{name: "unset with default", in: "--hostname=${HOSTNAME:=host-0}", want: "--hostname=host-0", used: []string{"HOSTNAME"}},
		{name: "unset with empty default", in: "--pg-args=${pgArgs:=}", want: "--pg-args=", used: []string{"pgArgs"}},
		{name: "empty value takes default", in: "${EMPTY:=d}", want: "d", used: []string{"EMPTY"}},
		{name: "empty value without default is not missing", in: "[${EMPTY}]", want: "[]", used: []string{"EMPTY"}},
		{name: "unset without default is missing", in: "--volume=${secretVolume}", want: "--volume=", missing: []string{"secretVolume"}, used: []string{"secretVolume"}},
		{name: "missing reported once", in: "${a}${a}${b}", want: "", missing: []string{"a", "b"}, used: []string{"a", "b"}},
		{name: "default with colon slash equals spaces", in: "${URL:=http://x:9/a?b=c d}", want: "http://x:9/a?b=c d", used: []string{"URL"}},
		{name: "default with := inside", in: "${X:=a:=b}", want: "a:=b", used: []string{"X"}},
		{name: "default with lone dollar", in: "${X:=$HOME}", want: "$HOME", used: []string{"X"}},
		{name: "several in one string", in: "${outputDir}/${REPOSITORY_PROVIDER}-${n:=1}", want: "/tmp/output/gcs-1", used: []string{"outputDir", "REPOSITORY_PROVIDER", "n"}},
		{name: "single pass: value not re-expanded", in: "${TEMPLATE}", want: "${NOT_AGAIN}", used: []string{"TEMPLATE"}},
		{name: "single pass: parens value not re-expanded", in: "$(PARENS)", want: "$(NOT_AGAIN)", used: []string{"PARENS"}},
		{name: "parens set", in: "$(databaseSecret)", want: "pg-auth", used: []string{"databaseSecret"}},
		{name: "parens unset left for kubelet", in: "$(PGPASSWORD)", want: "$(PGPASSWORD)", deferred: []string{"PGPASSWORD"}, used: []string{"PGPASSWORD"}},
		{name: "shell command substitution untouched", in: "echo $(date +%s) $(", want: "echo $(date +%s) $("},
		{name: "double dollar kept and not a variable", in: "$${HOME} $$(outputDir) $$", want: "$${HOME} $$(outputDir) $$"},
		{name: "lone dollars", in: "$ $a $1 cost$", want: "$ $a $1 cost$"},
		{name: "utf8 around", in: "é${outputDir}ü", want: "é/tmp/outputü", used: []string{"outputDir"}},
		{name: "underscore and digits", in: "${_a1:=z}", want: "z", used: []string{"_a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Expand(tt.in, vars)
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.Text)
			assert.Equal(t, tt.missing, res.Missing, "missing")
			assert.Equal(t, tt.deferred, res.Deferred, "deferred")
			assert.Equal(t, tt.used, res.Used, "used")
		})
	}
}

func TestExpandSyntaxErrors(t *testing.T) {
	tests := []struct {
		in      string
		offset  int
		problem string
	}{
		{in: "--pg-args=${pgArgs", offset: 10, problem: `unterminated "${"`},
		{in: "${", offset: 0, problem: `unterminated "${"`},
		{in: "ok ${a} then ${b:=x", offset: 13, problem: `unterminated "${"`},
		{in: "${}", offset: 0, problem: `empty variable name in "${}"`},
		{in: "x${:=default}", offset: 1, problem: `empty variable name in "${:=default}"`},
		{in: "${foo-bar}", offset: 5, problem: `unsupported operator after "foo": only "${foo}" and "${foo:=default}" are supported`},
		{in: "${foo:-bar}", offset: 5, problem: `unsupported operator after "foo": only "${foo}" and "${foo:=default}" are supported`},
		{in: "${foo.bar}", offset: 5, problem: `invalid character "." in variable name`},
		{in: "${foo bar}", offset: 5, problem: `invalid character " " in variable name`},
		{in: "${ foo}", offset: 2, problem: `invalid character " " in variable name`},
		{in: "${é}", offset: 2, problem: `invalid character "é" in variable name`},
		{in: "${1abc}", offset: 2, problem: `variable name "1abc" starts with a digit`},
		{in: "${a:=${b}}", offset: 5, problem: `nested "${" in the default of "a" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Expand(tt.in, Vars{"a": "1"})
			var se *SyntaxError
			require.True(t, errors.As(err, &se), "want *SyntaxError, got %v", err)
			assert.Equal(t, tt.offset, se.Offset)
			assert.Equal(t, tt.problem, se.Problem)
		})
	}
}

func TestResolverNamesFunctionAndField(t *testing.T) {
	r := NewFunctionResolver("postgres-backup-11.2", Vars{})
	_, err := r.Strings("args", []string{"backup-pg", "--a=${A:=}", "--b=x", "--pg-args=${pgArgs"})
	require.EqualError(t, err, `function "postgres-backup-11.2": args[3]: unterminated "${" at offset 10`)

	tr := NewTaskResolver("postgres-backup-11.2", Vars{})
	_, err = tr.String("volumes[0].secret.secretName", "${}")
	require.EqualError(t, err, `task "postgres-backup-11.2": volumes[0].secret.secretName: empty variable name in "${}" at offset 0`)
}

func TestResolverCollects(t *testing.T) {
	r := NewFunctionResolver("f", Vars{"A": "a"})
	out, err := r.Strings("args", []string{"${A}", "${B}", "$(C)", "${B}"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "", "$(C)", ""}, out)
	assert.Equal(t, []Ref{{Name: "B", Field: "args[1]"}, {Name: "B", Field: "args[3]"}}, r.Missing())
	assert.Equal(t, []Ref{{Name: "C", Field: "args[2]"}}, r.Deferred())
	assert.Equal(t, []string{"A", "B", "C"}, r.Used())
	assert.True(t, r.Uses("C"))
	assert.False(t, r.Uses("D"))

	nilOut, err := r.Strings("command", nil)
	require.NoError(t, err)
	assert.Nil(t, nilOut)
}

func TestExpandIdempotentOnResolvedText(t *testing.T) {
	vars := Vars{"A": "x:=y", "B": "/p/q"}
	for _, in := range []string{"${A}-${B}-${C:=c}", "--x=$(B)", "$${A} $$", "plain"} {
		once, err := Expand(in, vars)
		require.NoError(t, err)
		twice, err := Expand(once.Text, vars)
		require.NoError(t, err)
		assert.Equal(t, once.Text, twice.Text, in)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{"A": true, "_": true, "outputDir": true, "a1": true, "": false, "1a": false, "a-b": false, "a.b": false} {
		assert.Equal(t, want, ValidName(name), name)
	}
}
