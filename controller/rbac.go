// Package controller holds Trove's central controller: one sub-package per reconciled
// kind, target resolvers, and the Function/Task → Job builder. This file declares the
// permissions the controller needs; `make manifests` turns them into
// deploy/rbac/controller/role.yaml.
package controller

// Trove's own kinds.
// +kubebuilder:rbac:groups=trove.dev,resources=repositories;backupconfigurations;backupsessions;restoresessions;volumebackups;volumerestores;repositorymaintenances,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=trove.dev,resources=repositories/status;backupconfigurations/status;backupsessions/status;restoresessions/status;volumebackups/status;volumerestores/status;repositorymaintenances/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=trove.dev,resources=repositories/finalizers;backupsessions/finalizers;restoresessions/finalizers,verbs=update
// +kubebuilder:rbac:groups=trove.dev,resources=backupblueprints;functions;tasks,verbs=get;list;watch
//
// Targets: read workloads and pods; holder pods and PVCs for exposure and restores.
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets;replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods;persistentvolumeclaims,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods/exec,verbs=get;create
// +kubebuilder:rbac:groups="",resources=persistentvolumes;nodes;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=appcatalog.appscode.com,resources=appbindings,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=snapshot.storage.k8s.io,resources=volumesnapshots,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=snapshot.storage.k8s.io,resources=volumesnapshotclasses;volumesnapshotcontents,verbs=get;list;watch
//
// Job-based backups: the Job and its least-privilege ServiceAccount and Role. The API
// server lets the controller create a Role only with grants it holds itself (RBAC
// escalation prevention), so every grant controller/jobbuilder/rbac.go can derive (get
// on secrets, repositories, sessions, configurations, targets and AppBindings; get and
// patch on repositories/status and the sessions' status) must stay among the rules
// here: removing one makes the Jobs that need it fail at creation with "forbidden".
// Reading a failed Job's pods (their termination messages) needs pods get/list below.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;delete
//
// Credentials: read a Repository's storage Secret, and write the short-lived per-item
// Secrets the agents read (see docs/security.md).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;delete
//
// Events, leader election.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
