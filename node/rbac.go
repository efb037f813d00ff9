// Package node is Trove's node agent: a cache of its own node's pods and work items,
// a priority queue with per-node concurrency, the kubelet host-path resolver and the
// executor that runs the mover. This file declares the permissions the agent needs;
// `make manifests` turns them into deploy/rbac/agent/role.yaml.
//
// The agent never reads Secrets cluster-wide: it reads only the short-lived
// per-item credential Secrets in Trove's own namespace (a namespaced Role).
package node

// +kubebuilder:rbac:groups="",resources=pods;persistentvolumeclaims;persistentvolumes,verbs=get;list;watch
// +kubebuilder:rbac:groups=trove.dev,resources=volumebackups;volumerestores;repositorymaintenances,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=trove.dev,resources=volumebackups/status;volumerestores/status;repositorymaintenances/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=trove.dev,resources=repositories,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=trove-system,resources=secrets,verbs=get
