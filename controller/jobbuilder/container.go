package jobbuilder

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/variables"
)

// sessionSettingsField prefixes the fields of the session's runtimeSettings.container in
// errors, to tell them from the Function's own runtimeSettings.
const sessionSettingsField = "session.runtimeSettings.container"

// buildContainer resolves Function fn with r and turns it into container name.
// sessionSettings (the BackupConfiguration's or RestoreSession's runtimeSettings.container)
// override the Function's runtimeSettings.
func buildContainer(r *variables.Resolver, task string, fn *v1alpha1.Function, name string,
	sessionSettings *v1alpha1.ContainerRuntimeSettings, volumes []string, interim bool) (corev1.Container, error) {
	spec, err := resolveTree(r, "", fn.Spec)
	if err != nil {
		return corev1.Container{}, err
	}
	var session *v1alpha1.ContainerRuntimeSettings
	if sessionSettings != nil {
		if session, err = resolveTree(r, sessionSettingsField, sessionSettings); err != nil {
			return corev1.Container{}, err
		}
	}
	if errs := missingParams(r, task); len(errs) > 0 {
		return corev1.Container{}, errors.Join(errs...)
	}
	if err := checkImage(fn.Name, spec.Image); err != nil {
		return corev1.Container{}, err
	}

	c := corev1.Container{
		Name:                     name,
		Image:                    spec.Image,
		Command:                  spec.Command,
		Args:                     spec.Args,
		WorkingDir:               spec.WorkingDir,
		Ports:                    spec.Ports,
		VolumeMounts:             spec.VolumeMounts,
		VolumeDevices:            spec.VolumeDevices,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	for i, m := range c.VolumeMounts {
		if !slices.Contains(volumes, m.Name) {
			return corev1.Container{}, &UnknownVolumeError{Function: fn.Name, Field: fmt.Sprintf("volumeMounts[%d].name", i), Volume: m.Name, Known: volumes}
		}
	}
	for i, d := range c.VolumeDevices {
		if !slices.Contains(volumes, d.Name) {
			return corev1.Container{}, &UnknownVolumeError{Function: fn.Name, Field: fmt.Sprintf("volumeDevices[%d].name", i), Volume: d.Name, Known: volumes}
		}
	}
	if interim && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == variables.InterimVolumeName }) {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: variables.InterimVolumeName, MountPath: variables.InterimVolumeMountPath})
	}

	settings := mergeSettings(functionSettings(&spec), session)
	c.Resources = settings.Resources
	c.LivenessProbe = settings.LivenessProbe
	c.ReadinessProbe = settings.ReadinessProbe
	c.Lifecycle = settings.Lifecycle
	c.SecurityContext = settings.SecurityContext
	c.Env = upsertEnv(throttleEnv(settings), settings.Env)
	c.EnvFrom = settings.EnvFrom
	return c, nil
}

// checkImage rejects an image that is empty or cannot be a reference after resolution.
func checkImage(function, image string) error {
	switch {
	case image == "":
		return &ImageError{Function: function, Image: image, Problem: "empty after resolving variables"}
	case strings.ContainsFunc(image, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return &ImageError{Function: function, Image: image, Problem: "contains whitespace or control characters"}
	case strings.ContainsAny(image, "$"):
		return &ImageError{Function: function, Image: image, Problem: `contains "$"`}
	case strings.HasPrefix(image, ":") || strings.HasPrefix(image, "@") || strings.HasSuffix(image, ":") || strings.HasSuffix(image, "@") || strings.HasSuffix(image, "/"):
		return &ImageError{Function: function, Image: image, Problem: "missing repository, tag or digest"}
	}
	return nil
}

// mergeSettings overlays the session's container settings on the Function's: resources
// per resource name, probes, lifecycle, securityContext, nice and ionice when set, env by
// name, envFrom appended.
// functionSettings is a Function's container settings (nil when it has none).
func functionSettings(spec *v1alpha1.FunctionSpec) *v1alpha1.ContainerRuntimeSettings {
	if spec.RuntimeSettings == nil {
		return nil
	}
	return spec.RuntimeSettings.Container
}

func mergeSettings(fn, session *v1alpha1.ContainerRuntimeSettings) v1alpha1.ContainerRuntimeSettings {
	var out v1alpha1.ContainerRuntimeSettings
	if fn != nil {
		out = *fn.DeepCopy()
	}
	if session == nil {
		return out
	}
	s := session.DeepCopy()
	out.Resources.Requests = mergeResources(out.Resources.Requests, s.Resources.Requests)
	out.Resources.Limits = mergeResources(out.Resources.Limits, s.Resources.Limits)
	out.Resources.Claims = append(out.Resources.Claims, s.Resources.Claims...)
	if s.LivenessProbe != nil {
		out.LivenessProbe = s.LivenessProbe
	}
	if s.ReadinessProbe != nil {
		out.ReadinessProbe = s.ReadinessProbe
	}
	if s.Lifecycle != nil {
		out.Lifecycle = s.Lifecycle
	}
	if s.SecurityContext != nil {
		out.SecurityContext = s.SecurityContext
	}
	if s.Nice != nil && s.Nice.Adjustment != nil {
		out.Nice = s.Nice
	}
	if s.IONice != nil {
		if out.IONice == nil {
			out.IONice = &v1alpha1.IONiceSettings{}
		}
		if s.IONice.Class != nil {
			out.IONice.Class = s.IONice.Class
		}
		if s.IONice.ClassData != nil {
			out.IONice.ClassData = s.IONice.ClassData
		}
	}
	out.Env = upsertEnv(out.Env, s.Env)
	out.EnvFrom = append(out.EnvFrom, s.EnvFrom...)
	return out
}

func mergeResources(base, over corev1.ResourceList) corev1.ResourceList {
	if len(over) == 0 {
		return base
	}
	out := corev1.ResourceList{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// throttleEnv exports nice and ionice for the tools of a Function.
func throttleEnv(s v1alpha1.ContainerRuntimeSettings) []corev1.EnvVar {
	var env []corev1.EnvVar
	if s.Nice != nil && s.Nice.Adjustment != nil {
		env = append(env, corev1.EnvVar{Name: variables.NiceAdjustment, Value: strconv.Itoa(int(*s.Nice.Adjustment))})
	}
	if s.IONice != nil && s.IONice.Class != nil {
		env = append(env, corev1.EnvVar{Name: variables.IONiceClass, Value: strconv.Itoa(int(*s.IONice.Class))})
	}
	if s.IONice != nil && s.IONice.ClassData != nil {
		env = append(env, corev1.EnvVar{Name: variables.IONiceClassData, Value: strconv.Itoa(int(*s.IONice.ClassData))})
	}
	return env
}

// upsertEnv returns base with over applied: a variable of the same name is replaced in
// place, a new one appended.
func upsertEnv(base, over []corev1.EnvVar) []corev1.EnvVar {
	out := slices.Clone(base)
	for _, e := range over {
		if i := slices.IndexFunc(out, func(b corev1.EnvVar) bool { return b.Name == e.Name }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}
