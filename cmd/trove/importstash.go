package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"trove.dev/trove/apis/stashimport"
)

// Exit codes of `trove import-stash`.
const (
	// exitUnmapped: the output was written, but some Stash fields or objects were not
	// mapped (listed in the report on stderr).
	exitUnmapped = 3
)

// exitError ends the process with code after the command printed what it had to say.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is read by main.
func (e *exitError) ExitCode() int { return e.code }

type importStashOptions struct {
	files  []string
	output string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newImportStashCommand() *cobra.Command {
	o := &importStashOptions{}
	cmd := &cobra.Command{
		Use:   "import-stash -f FILE... [-o OUT]",
		Short: "Convert Stash YAML (Repository, BackupConfiguration, RestoreSession, BackupBlueprint, Function, Task) to Trove YAML",
		Long: `import-stash reads Stash objects (stash.appscode.com v1alpha1/v1beta1) from files or
standard input ("-f -") and writes the Trove objects (trove.dev/v1alpha1) to standard
output or -o. A report on standard error lists, per object, every Stash field that was
not mapped, and why. Secrets are skipped (Trove reads the Secret Stash used as it is)
and their data is never printed.

Exit codes: 0 everything mapped; 3 output written, but some fields or objects were not
mapped (see the report); 1 unreadable input or output. See docs/import-stash.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return o.run()
		},
	}
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, `Stash YAML to read ("-" for standard input); repeatable`)
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "file to write the Trove YAML to (default: standard output)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *importStashOptions) run() error {
	var inputs []stashimport.Input
	for _, f := range o.files {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(o.stdin)
			f = "<stdin>"
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		inputs = append(inputs, stashimport.Input{Name: f, Data: data})
	}
	res, err := stashimport.Import(inputs...)
	if err != nil {
		return fmt.Errorf("%w (nothing was written)", err)
	}
	if err := o.write(res); err != nil {
		return err
	}
	if err := res.Report.Write(o.stderr); err != nil {
		return err
	}
	if !res.Report.Complete() {
		return &exitError{code: exitUnmapped, msg: "some Stash fields or objects were not mapped: see the report above"}
	}
	return nil
}

// write writes the YAML to stdout, or to -o through a temporary file renamed into
// place, so a failed run never leaves half a file.
func (o *importStashOptions) write(res *stashimport.Result) error {
	if o.output == "" {
		return res.WriteYAML(o.stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.output), "."+filepath.Base(o.output)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	werr := res.WriteYAML(tmp)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), o.output)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", o.output, werr)
	}
	return nil
}

// exitCode is the process's exit code for the error a command returned.
func exitCode(err error) int {
	var e interface{ ExitCode() int }
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return 1
}
