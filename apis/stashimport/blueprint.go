package stashimport

import (
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// proposalVars are the design proposal's template variables and Trove's (Stash's
// released) names for them.
var proposalVars = strings.NewReplacer(
	"${target.namespace}", "${TARGET_NAMESPACE}",
	"${target.name}", "${TARGET_NAME}",
	"${target.kind}", "${TARGET_KIND}",
)

func convertBackupBlueprint(spec *fields, rep *ObjectReport) client.Object {
	bb := &troveapi.BackupBlueprint{}
	s := &bb.Spec
	var badSchedule bool
	s.Schedule, badSchedule = schedule(spec, rep)
	if s.Schedule == "" {
		if !badSchedule {
			rep.Reason = "spec.schedule is missing: a Trove BackupBlueprint needs one"
		} else {
			rep.Reason = "spec.schedule is not one Trove accepts, and a BackupBlueprint cannot be paused"
		}
		return nil
	}
	rs, ok := repositorySpec(spec, rep)
	if !ok {
		return nil
	}
	s.RepositorySpec = rs
	s.RepoNamespace = spec.str("repoNamespace")
	s.Task = taskRef(spec)
	s.RetentionPolicy = retentionPolicy(spec)
	s.RuntimeSettings = runtimeSettings(spec)
	tempDir(spec)
	s.InterimVolumeTemplate = interimVolume(spec)
	s.Hooks = backupHooks(spec)
	s.BackupHistoryLimit = spec.int32p("backupHistoryLimit", 0, 1000)
	s.TimeOut = timeOut(spec)
	spec.drop("driver", "a Trove BackupBlueprint reads volumes live; set target.source: Snapshot on the configurations it makes if needed; dropped")
	templateVars(s, rep)
	return bb
}

// templateVars rewrites the design proposal's ${target.namespace}-style variables in
// the strings a blueprint templates.
func templateVars(s *troveapi.BackupBlueprintSpec, rep *ObjectReport) {
	fix := func(path string, v *string) {
		if n := proposalVars.Replace(*v); n != *v {
			*v = n
			rep.note(path, "the design proposal's ${target.*} variables written as ${TARGET_NAMESPACE}, ${TARGET_NAME}, ${TARGET_KIND}")
		}
	}
	b := &s.Backend
	switch {
	case b.S3 != nil:
		fix("spec.backend.s3.prefix", &b.S3.Prefix)
		fix("spec.backend.s3.bucket", &b.S3.Bucket)
	case b.GCS != nil:
		fix("spec.backend.gcs.prefix", &b.GCS.Prefix)
		fix("spec.backend.gcs.bucket", &b.GCS.Bucket)
	case b.Azure != nil:
		fix("spec.backend.azure.prefix", &b.Azure.Prefix)
	case b.Swift != nil:
		fix("spec.backend.swift.prefix", &b.Swift.Prefix)
	case b.B2 != nil:
		fix("spec.backend.b2.prefix", &b.B2.Prefix)
	case b.Rest != nil:
		fix("spec.backend.rest.url", &b.Rest.URL)
	case b.Local != nil:
		fix("spec.backend.local.subPath", &b.Local.SubPath)
	}
	fix("spec.repoNamespace", &s.RepoNamespace)
}
