package target

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// Fetcher reads a target's pods from the API and resolves them into hosts.
type Fetcher struct {
	Client ctrl.Reader
}

// Hosts resolves the target ref in namespace ns. A *Error says what the user can fix
// (or wait for, such as pods that are not running yet). A PVC no running pod mounts
// resolves to a pair without a pod (see PVCHost).
func (f *Fetcher) Hosts(ctx context.Context, ns string, ref troveapi.TargetRef, spec Spec) ([]Host, error) {
	switch ref.Kind {
	case troveapi.KindPVC:
		pods, err := f.pods(ctx, ns, nil)
		if err != nil {
			return nil, err
		}
		var pvc corev1.PersistentVolumeClaim
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &pvc); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &Error{Reason: troveapi.ReasonTargetNotFound, Message: fmt.Sprintf("PersistentVolumeClaim %s does not exist", ref.Name)}
			}
			return nil, err
		}
		return []Host{PVCHost(ref.Name, pods)}, nil
	case troveapi.KindPod:
		var pod corev1.Pod
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, &pod); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &Error{Reason: troveapi.ReasonTargetNotFound, Message: fmt.Sprintf("Pod %s does not exist", ref.Name)}
			}
			return nil, err
		}
		return Hosts(troveapi.KindPod, []*corev1.Pod{&pod}, spec)
	}
	selector, err := f.selector(ctx, ns, ref)
	if err != nil {
		return nil, err
	}
	pods, err := f.pods(ctx, ns, selector)
	if err != nil {
		return nil, err
	}
	return Hosts(ref.Kind, pods, spec)
}

// selector reads a workload's pod selector.
func (f *Fetcher) selector(ctx context.Context, ns string, ref troveapi.TargetRef) (*metav1.LabelSelector, error) {
	var obj ctrl.Object
	var selector func() *metav1.LabelSelector
	switch ref.Kind {
	case troveapi.KindDeployment:
		d := &appsv1.Deployment{}
		obj, selector = d, func() *metav1.LabelSelector { return d.Spec.Selector }
	case troveapi.KindStatefulSet:
		s := &appsv1.StatefulSet{}
		obj, selector = s, func() *metav1.LabelSelector { return s.Spec.Selector }
	case troveapi.KindDaemonSet:
		d := &appsv1.DaemonSet{}
		obj, selector = d, func() *metav1.LabelSelector { return d.Spec.Selector }
	case troveapi.KindReplicaSet:
		rs := &appsv1.ReplicaSet{}
		obj, selector = rs, func() *metav1.LabelSelector { return rs.Spec.Selector }
	default:
		return nil, &Error{Reason: troveapi.ReasonTargetKindUnsupported, Message: fmt.Sprintf("target kind %s is backed up through a Task", ref.Kind)}
	}
	if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &Error{Reason: troveapi.ReasonTargetNotFound, Message: fmt.Sprintf("%s %s does not exist", ref.Kind, ref.Name)}
		}
		return nil, err
	}
	return selector(), nil
}

// pods lists a namespace's pods, matching selector when it is set.
func (f *Fetcher) pods(ctx context.Context, ns string, selector *metav1.LabelSelector) ([]*corev1.Pod, error) {
	opts := []ctrl.ListOption{ctrl.InNamespace(ns)}
	if selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return nil, err
		}
		opts = append(opts, ctrl.MatchingLabelsSelector{Selector: sel})
	}
	var list corev1.PodList
	if err := f.Client.List(ctx, &list, opts...); err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	return pods, nil
}
