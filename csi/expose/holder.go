package expose

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ensureHolder creates the holder pod mounting claim and returns it once it runs on a node.
// A holder that ended (evicted, node lost) is deleted and made again on a later pass.
func (e *Exposer) ensureHolder(ctx context.Context, req Request, claim string) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: req.namespace(), Name: req.Name}, pod)
	if apierrors.IsNotFound(err) {
		pod = holderPod(req, claim)
		if err := e.own(req, pod); err != nil {
			return nil, err
		}
		if err := e.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating holder pod %s/%s: %w", req.namespace(), req.Name, err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading holder pod %s/%s: %w", req.namespace(), req.Name, err)
	}
	if pod.DeletionTimestamp != nil {
		return nil, nil
	}
	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		if err := e.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("deleting ended holder pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		return nil, nil
	case corev1.PodRunning:
		if pod.Spec.NodeName != "" {
			return pod, nil
		}
	}
	return nil, nil
}

// holderPod is a pod that only keeps claim mounted: no API token, no privileges, an
// unprivileged user, a read-only root filesystem; the volume read-only unless restoring.
func holderPod(req Request, claim string) *corev1.Pod {
	readOnly := req.NewPVC == nil
	mountPath := req.Holder.MountPath
	if mountPath == "" {
		mountPath = DefaultMountPath
	}
	small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("8Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:         "holder",
				Image:        req.Holder.Image,
				Command:      req.Holder.Command,
				VolumeMounts: []corev1.VolumeMount{{Name: VolumeName, MountPath: mountPath, ReadOnly: readOnly}},
				Resources:    corev1.ResourceRequirements{Requests: small},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			Volumes: []corev1.Volume{{Name: VolumeName, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly},
			}}},
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To(int64(65534)),
				RunAsGroup:     ptr.To(int64(65534)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Tolerations:                   req.Holder.Tolerations,
			NodeSelector:                  req.Holder.NodeSelector,
			PriorityClassName:             req.Holder.PriorityClassName,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
		},
	}
}
