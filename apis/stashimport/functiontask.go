package stashimport

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// convertFunction keeps a Stash Function as it is: Trove's Function has Stash's shape.
func convertFunction(spec *fields, rep *ObjectReport) client.Object {
	fn := &troveapi.Function{}
	s := &fn.Spec
	s.Image = spec.str("image")
	if s.Image == "" {
		rep.Reason = "spec.image is missing: a Function is a container template and needs an image"
		return nil
	}
	s.Command = spec.strs("command")
	s.Args = spec.strs("args")
	s.WorkingDir = spec.str("workingDir")
	spec.decode("ports", &s.Ports)
	spec.decode("volumeMounts", &s.VolumeMounts)
	spec.decode("volumeDevices", &s.VolumeDevices)
	s.RuntimeSettings = runtimeSettings(spec)
	s.PodSecurityPolicyName = spec.str("podSecurityPolicyName")
	if s.PodSecurityPolicyName != "" {
		rep.note("spec.podSecurityPolicyName", "kept, and ignored: PodSecurityPolicy is gone from Kubernetes")
	}
	spec.drop("name", "the design proposal's container name: Trove names each container after its Task step; dropped")
	return fn
}

// convertTask keeps a Stash Task as it is, and reads the design proposal's
// functions/inputs as steps/params.
func convertTask(spec *fields, rep *ObjectReport) client.Object {
	t := &troveapi.Task{}
	steps := spec.list("steps")
	if spec.has("functions") {
		rep.note("spec.functions", "the design proposal's functions imported as steps")
		steps = append(steps, spec.list("functions")...)
	}
	for _, st := range steps {
		ref := troveapi.FunctionRef{Name: fixName(st.str("name"), st.at("name"), rep), Params: params(st, "params", "inputs")}
		st.leftovers()
		if ref.Name == "" {
			rep.unmapped(st.path, "a step without a Function name; dropped")
			continue
		}
		t.Spec.Steps = append(t.Spec.Steps, ref)
	}
	if len(t.Spec.Steps) == 0 {
		rep.Reason = "spec.steps is empty: a Task needs at least one step"
		return nil
	}
	if len(t.Spec.Steps) > 32 {
		rep.Reason = "more than 32 steps: Trove takes at most 32"
		return nil
	}
	spec.decode("volumes", &t.Spec.Volumes)
	return t
}
