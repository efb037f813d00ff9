package stashimport

import (
	"fmt"
	"io"
	"strings"
)

// Outcome says what became of one input object.
type Outcome string

const (
	// Converted: a Trove object was written.
	Converted Outcome = "converted"
	// Skipped: deliberately not converted and nothing is lost (a v1 Secret, which
	// Trove reads as it is).
	Skipped Outcome = "skipped"
	// NotConverted: an unknown kind, or a Stash object missing what Trove requires.
	NotConverted Outcome = "not converted"
)

// Finding is one field of a Stash object and what became of it.
type Finding struct {
	// Path of the field in the Stash object, e.g. spec.target.volumeMounts.
	Path string
	// Message says why, and what to do if anything.
	Message string
}

func (f Finding) String() string { return f.Path + ": " + f.Message }

// ObjectReport is what happened to one input object. It names fields; it quotes only
// values that cannot be credentials (schedules, durations, paths, snapshot and object
// names, kinds), never Secret data, env values or URLs.
type ObjectReport struct {
	// Document is the 1-based index of the YAML document the object came from.
	Document int
	// Source is "apiVersion kind namespace/name" of the input object.
	Source string
	// Target is "kind namespace/name" of the Trove object, when converted.
	Target  string
	Outcome Outcome
	// Reason says why an object was skipped or not converted.
	Reason string
	// Unmapped are Stash fields that Trove's object does not carry.
	Unmapped []Finding
	// Notes are fields mapped with a change the user should know about.
	Notes []Finding
}

func (r *ObjectReport) unmapped(path, msg string) {
	r.Unmapped = append(r.Unmapped, Finding{Path: path, Message: msg})
}

func (r *ObjectReport) note(path, msg string) {
	r.Notes = append(r.Notes, Finding{Path: path, Message: msg})
}

// Report is the outcome of one import, object by object in input order.
type Report struct {
	Objects []*ObjectReport
}

// Complete is true when every object was converted or deliberately skipped and no
// field was left unmapped.
func (r Report) Complete() bool {
	for _, o := range r.Objects {
		if o.Outcome == NotConverted || len(o.Unmapped) > 0 {
			return false
		}
	}
	return true
}

// Counts returns how many objects were converted, skipped and not converted, and
// how many fields were not mapped.
func (r Report) Counts() (converted, skipped, notConverted, unmapped int) {
	for _, o := range r.Objects {
		switch o.Outcome {
		case Converted:
			converted++
		case Skipped:
			skipped++
		case NotConverted:
			notConverted++
		}
		unmapped += len(o.Unmapped)
	}
	return
}

// Write prints the report for people: one block per object, then a summary line.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, o := range r.Objects {
		fmt.Fprintf(&b, "document %d: %s: %s", o.Document, o.Source, o.Outcome)
		if o.Target != "" {
			fmt.Fprintf(&b, " to %s", o.Target)
		}
		if o.Reason != "" {
			fmt.Fprintf(&b, ": %s", o.Reason)
		}
		b.WriteString("\n")
		for _, f := range o.Unmapped {
			fmt.Fprintf(&b, "  not mapped: %s\n", f)
		}
		for _, f := range o.Notes {
			fmt.Fprintf(&b, "  note: %s\n", f)
		}
	}
	c, s, n, u := r.Counts()
	fmt.Fprintf(&b, "%d converted, %d skipped, %d not converted, %d fields not mapped\n", c, s, n, u)
	_, err := io.WriteString(w, b.String())
	return err
}
