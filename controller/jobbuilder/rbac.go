package jobbuilder

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"

	"trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/controller/variables"
)

// grant is one permission on named objects of one namespace.
type grant struct {
	namespace string
	group     string
	resource  string
	verbs     []string
	name      string
}

// repositoryConnection are the variables a step uses to reach the repository itself;
// a step that uses any of them may read the storage Secret (by name).
var repositoryConnection = []string{
	variables.RepositorySecretName, variables.RepositoryProvider, variables.RepositoryBucket,
	variables.RepositoryPrefix, variables.RepositoryEndpoint, variables.RepositoryRegion,
	variables.RepositoryURL,
}

// targetResources maps a target kind to its API group and resource.
var targetResources = map[string][2]string{
	string(v1alpha1.KindDeployment):  {"apps", "deployments"},
	string(v1alpha1.KindStatefulSet): {"apps", "statefulsets"},
	string(v1alpha1.KindDaemonSet):   {"apps", "daemonsets"},
	string(v1alpha1.KindReplicaSet):  {"apps", "replicasets"},
	string(v1alpha1.KindPod):         {"", "pods"},
	string(v1alpha1.KindPVC):         {"", "persistentvolumeclaims"},
	string(v1alpha1.KindAppBinding):  {"appcatalog.appscode.com", "appbindings"},
}

// grantsFor derives what the steps need from the variables their Functions use: a
// Function that is told the session's name may read it and write its status, one that is
// told the repository's location may read its storage Secret, and so on. Every grant
// names its object (resourceNames); nothing is listed or watched.
func grantsFor(uses func(string) bool, vars variables.Vars, jobNS, appBindingSecret string) []grant {
	var gs []grant
	add := func(ns, group, resource, name string, verbs ...string) {
		if name != "" {
			gs = append(gs, grant{namespace: ns, group: group, resource: resource, verbs: verbs, name: name})
		}
	}
	repoNS := vars[variables.RepositoryNamespace]
	if repoNS == "" {
		repoNS = jobNS
	}
	if slices.ContainsFunc(repositoryConnection, uses) {
		add(repoNS, "", "secrets", vars[variables.RepositorySecretName], "get")
	}
	if uses(variables.RepositoryName) {
		add(repoNS, v1alpha1.GroupVersion.Group, "repositories", vars[variables.RepositoryName], "get")
		add(repoNS, v1alpha1.GroupVersion.Group, "repositories/status", vars[variables.RepositoryName], "get", "patch")
	}
	if uses(variables.BackupSession) {
		add(jobNS, v1alpha1.GroupVersion.Group, "backupsessions", vars[variables.BackupSession], "get")
		add(jobNS, v1alpha1.GroupVersion.Group, "backupsessions/status", vars[variables.BackupSession], "get", "patch")
	}
	if uses(variables.RestoreSession) {
		add(jobNS, v1alpha1.GroupVersion.Group, "restoresessions", vars[variables.RestoreSession], "get")
		add(jobNS, v1alpha1.GroupVersion.Group, "restoresessions/status", vars[variables.RestoreSession], "get", "patch")
	}
	if uses(variables.InvokerName) && vars[variables.InvokerKind] == "BackupConfiguration" {
		add(jobNS, v1alpha1.GroupVersion.Group, "backupconfigurations", vars[variables.InvokerName], "get")
	}
	if uses(variables.TargetName) {
		if gr, ok := targetResources[vars[variables.TargetKind]]; ok {
			add(jobNS, gr[0], gr[1], vars[variables.TargetName], "get")
			if vars[variables.TargetKind] == string(v1alpha1.KindAppBinding) {
				add(jobNS, "", "secrets", appBindingSecret, "get")
			}
		}
	}
	return gs
}

// rulesByNamespace folds grants into one rule list per namespace: grants with the same
// group, resource and verbs share a rule and their names are merged.
func rulesByNamespace(gs []grant) (namespaces []string, rules map[string][]rbacv1.PolicyRule) {
	rules = map[string][]rbacv1.PolicyRule{}
	for _, g := range gs {
		rs := rules[g.namespace]
		if rs == nil {
			namespaces = append(namespaces, g.namespace)
		}
		i := slices.IndexFunc(rs, func(r rbacv1.PolicyRule) bool {
			return r.APIGroups[0] == g.group && r.Resources[0] == g.resource && slices.Equal(r.Verbs, g.verbs)
		})
		if i < 0 {
			rs = append(rs, rbacv1.PolicyRule{APIGroups: []string{g.group}, Resources: []string{g.resource}, Verbs: g.verbs})
			i = len(rs) - 1
		}
		if !slices.Contains(rs[i].ResourceNames, g.name) {
			rs[i].ResourceNames = append(rs[i].ResourceNames, g.name)
		}
		rules[g.namespace] = rs
	}
	return namespaces, rules
}
