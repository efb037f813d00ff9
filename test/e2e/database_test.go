//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/test/cluster"
	"trove.dev/trove/test/images"
)

// TestDatabaseBackupAndRestore backs up a real PostgreSQL 15 server (a pod of the
// trove.dev/postgres image, assembled from the host's binaries) through its
// AppBinding with the default Task (postgres-backup-15, picked from spec.version),
// run as a Job in the trove.dev/trove-postgres image; then drops the database and
// restores it with the default restore Task, and compares the rows.
func TestDatabaseBackupAndRestore(t *testing.T) {
	if external {
		t.Skip("needs the PostgreSQL images built on this machine")
	}
	if _, err := images.HostPostgres(cluster.PostgresMajor); err != nil {
		// The node has no PostgreSQL images then (LoadImages logged why). CI installs it.
		t.Skip(err)
	}
	c := troveClient(t)
	ctx := t.Context()
	ns := testNamespace(t, c, "e2e-database-")
	// The optional AppBinding CRD (no KubeDB here); applying it again changes nothing.
	crd := filepath.Join(cfg.ModuleRoot, "deploy/optional/appbinding-crd.yaml")
	if out, err := cfg.Kubectl(ctx, bins, "apply", "--server-side", "-f", crd); err != nil {
		t.Fatalf("applying %s: %v: %s", crd, err, out)
	}
	if out, err := cfg.Kubectl(ctx, bins, "wait", "--for=condition=Established", "--timeout=60s", "crd/appbindings.appcatalog.appscode.com"); err != nil {
		t.Fatalf("AppBinding CRD: %v: %s", err, out)
	}

	password := "pw-" + randomHex(12)
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg-auth"},
		StringData: map[string]string{"username": "postgres", "password": password}}))
	postgresPod(t, c, ns)
	must(t, cfg.WaitPodsRunning(ctx, ns, "", 2*time.Minute))
	psql := func(db, sql string) (string, error) {
		return cfg.Kubectl(ctx, bins, "exec", "-n", ns, "pg", "--", "psql", "-h", "/tmp", "-U", "postgres", "-d", db,
			"--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tAc", sql)
	}
	waitFor(t, "PostgreSQL accepts connections", time.Minute, func() (bool, string) {
		out, err := psql("postgres", "select 1")
		return err == nil && out == "1", fmt.Sprintf("%q %v", out, err)
	})
	const rows = 5000
	if out, err := psql("postgres", "create database appdb"); err != nil {
		t.Fatalf("create database: %v: %s", err, out)
	}
	if out, err := psql("appdb", fmt.Sprintf(`create table items (id int primary key, name text not null, amount numeric(12,2), created date);
insert into items select g, 'item ' || md5(g::text), g * 1.25, date '2024-01-01' + (g %% 365) from generate_series(1, %d) g`, rows)); err != nil {
		t.Fatalf("seeding: %v: %s", err, out)
	}
	const checksum = `select count(*) || ' ' || md5(string_agg(id || '|' || name || '|' || amount || '|' || created, ',' order by id)) from items`
	seeded, err := psql("appdb", checksum)
	if err != nil || !strings.HasPrefix(seeded, fmt.Sprint(rows, " ")) {
		t.Fatalf("seeded table: %q (%v), want %d rows", seeded, err, rows)
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "pg"},
		Ports:    []corev1.ServicePort{{Name: "postgres", Port: 5432, TargetPort: intstr.FromInt32(5432)}},
	}}
	must(t, c.Create(ctx, svc))
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("Service pg has no cluster IP: %s", jsonOf(svc.Spec))
	}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "appcatalog.appscode.com/v1alpha1", "kind": "AppBinding",
		"metadata": map[string]any{"namespace": ns, "name": "pg"},
		"spec": map[string]any{
			"type":    "kubedb.com/postgres",
			"version": "15.x",
			// The dev node runs no cluster DNS, so the Job cannot resolve
			// pg.<ns>.svc (clientConfig.service): the URL names the Service's
			// cluster IP (kube-proxy). The restore of a pg_dumpall connects to this
			// database, so not to the one it re-creates.
			"clientConfig": map[string]any{"url": fmt.Sprintf("postgresql://%s:5432/postgres?sslmode=disable", svc.Spec.ClusterIP)},
			"secret":       map[string]any{"name": "pg-auth"},
		},
	}}
	must(t, c.Create(ctx, app))
	resticPassword := randomHex(16)
	localRepository(t, c, ns, resticPassword)
	t.Cleanup(func() { _ = os.RemoveAll("/var/lib/trove/repositories/" + ns) }) // the first backup creates it
	target := troveapi.TargetRef{APIVersion: "appcatalog.appscode.com/v1alpha1", Kind: troveapi.KindAppBinding, Name: "pg"}
	// No task: the AppBinding's type and version pick postgres-backup-15 (pg_dumpall).
	must(t, c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg"}, Spec: troveapi.BackupConfigurationSpec{
		Paused: true, Repository: troveapi.ObjectRef{Name: "repo"}, Target: &troveapi.BackupTarget{Ref: target},
	}}))
	session := backupNow(t, c, ns, "pg", "instant-1", "/dumpall.sql")

	// Lose the data: the restore (a pg_dumpall) must re-create the database.
	if out, err := psql("postgres", "drop database appdb"); err != nil {
		t.Fatalf("drop database: %v: %s", err, out)
	}
	if out, _ := psql("postgres", "select count(*) from pg_database where datname = 'appdb'"); out != "0" {
		t.Fatalf("appdb still exists after the drop: %q", out)
	}
	restore := restoreNow(t, c, ns, "restore", troveapi.RestoreSessionSpec{Repository: troveapi.ObjectRef{Name: "repo"}, Target: &troveapi.RestoreTarget{Ref: &target}})
	if restored, err := psql("appdb", checksum); err != nil || restored != seeded {
		t.Fatalf("restored table: %q (%v), want %q", restored, err, seeded)
	}

	// One database into a fresh one, through the default Tasks named with params:
	// pg_dump of appdb, restored with psql into the empty database "fresh".
	must(t, c.Create(ctx, &troveapi.BackupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "appdb"}, Spec: troveapi.BackupConfigurationSpec{
		Paused: true, Repository: troveapi.ObjectRef{Name: "repo"}, Target: &troveapi.BackupTarget{Ref: target},
		Task: &troveapi.TaskRef{Name: "postgres-backup-15", Params: []troveapi.Param{{Name: "args", Value: "--dbname=appdb"}}},
	}}))
	session2 := backupNow(t, c, ns, "appdb", "instant-2", "/dumpfile.sql")
	if out, err := psql("postgres", "create database fresh"); err != nil {
		t.Fatalf("create database fresh: %v: %s", err, out)
	}
	restore2 := restoreNow(t, c, ns, "restore-fresh", troveapi.RestoreSessionSpec{Repository: troveapi.ObjectRef{Name: "repo"}, Target: &troveapi.RestoreTarget{Ref: &target},
		Task: &troveapi.TaskRef{Name: "postgres-restore-15", Params: []troveapi.Param{{Name: "args", Value: "--dbname=fresh"}}}})
	if restored, err := psql("fresh", checksum); err != nil || restored != seeded {
		t.Fatalf("table restored into a fresh database: %q (%v), want %q", restored, err, seeded)
	}

	// The database password is nowhere in what Trove wrote: statuses, events, Jobs, logs.
	var events corev1.EventList
	must(t, c.List(ctx, &events, ctrl.InNamespace(ns)))
	var jobs batchv1.JobList
	must(t, c.List(ctx, &jobs, ctrl.InNamespace(ns)))
	logs, err := cfg.Kubectl(ctx, bins, "logs", "-n", ns, "--all-containers", "--prefix", "-l", "batch.kubernetes.io/job-name")
	if err != nil {
		t.Fatalf("Job logs: %v", err)
	}
	for what, text := range map[string]string{
		"backup sessions' status":  jsonOf([]any{session.Status, session2.Status}),
		"restore sessions' status": jsonOf([]any{restore.Status, restore2.Status}),
		"events":                   jsonOf(events.Items),
		"Jobs":                     jsonOf(jobs.Items),
		"Job logs":                 logs,
	} {
		if strings.Contains(text, password) {
			t.Errorf("the database password appears in the %s", what)
		}
	}
	if len(events.Items) == 0 || len(jobs.Items) != 4 || logs == "" {
		t.Fatalf("nothing to search: %d events, %d Jobs, %d bytes of logs", len(events.Items), len(jobs.Items), len(logs))
	}
}

// backupNow runs an instant BackupSession of the configuration and waits for it
// to succeed with one host's stats and one snapshot of the file path, made in
// the Trove PostgreSQL image.
func backupNow(t *testing.T, c ctrl.Client, ns, config, name, path string) *troveapi.BackupSession {
	t.Helper()
	ctx := t.Context()
	must(t, c.Create(ctx, &troveapi.BackupSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels: map[string]string{troveapi.LabelConfiguration: config}},
		Spec: troveapi.BackupSessionSpec{Invoker: troveapi.Invoker{APIGroup: "trove.dev", Kind: "BackupConfiguration", Name: config}}}))
	session := &troveapi.BackupSession{}
	start := time.Now()
	waitFor(t, "backup session "+name+" succeeds", 4*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: name}, session))
		if session.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("backup %s failed: %s\njob: %s", name, jsonOf(session.Status), jobReport(t, c, ns, name))
		}
		return session.Status.Phase == troveapi.SessionSucceeded, jsonOf(session.Status)
	})
	t.Logf("backup session %s succeeded %s after it was created; Job ran %s", name, time.Since(start).Round(100*time.Millisecond), jobDuration(t, c, ns, name))
	if len(session.Status.Targets) != 1 || len(session.Status.Targets[0].Stats) != 1 {
		t.Fatalf("want one target with one host's stats: %s", jsonOf(session.Status))
	}
	host := session.Status.Targets[0].Stats[0]
	if host.Hostname != "host-0" || host.Phase != troveapi.HostSucceeded || len(host.Snapshots) != 1 {
		t.Fatalf("host stats: %s", jsonOf(host))
	}
	snap := host.Snapshots[0]
	if len(snap.Name) < 8 || snap.Path != path || snap.TotalSize == "" || snap.TotalSize == "0" || snap.Uploaded == "" || snap.FileStats.New != 1 {
		t.Fatalf("snapshot stats, want one new file %s: %s", path, jsonOf(snap))
	}
	t.Logf("backup stats: %s", jsonOf(host))
	checkJobImages(t, c, ns, name, images.TrovePostgresRef)
	return session
}

// restoreNow creates the RestoreSession and waits for it to succeed in the Trove
// PostgreSQL image.
func restoreNow(t *testing.T, c ctrl.Client, ns, name string, spec troveapi.RestoreSessionSpec) *troveapi.RestoreSession {
	t.Helper()
	ctx := t.Context()
	must(t, c.Create(ctx, &troveapi.RestoreSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}))
	restore := &troveapi.RestoreSession{}
	start := time.Now()
	waitFor(t, "restore session "+name+" succeeds", 4*time.Minute, func() (bool, string) {
		must(t, c.Get(ctx, ctrl.ObjectKey{Namespace: ns, Name: name}, restore))
		if restore.Status.Phase == troveapi.SessionFailed {
			t.Fatalf("restore %s failed: %s\njob: %s", name, jsonOf(restore.Status), jobReport(t, c, ns, name))
		}
		return restore.Status.Phase == troveapi.SessionSucceeded, jsonOf(restore.Status)
	})
	t.Logf("restore session %s succeeded %s after it was created; Job ran %s; status: %s", name, time.Since(start).Round(100*time.Millisecond), jobDuration(t, c, ns, name), jsonOf(restore.Status))
	checkJobImages(t, c, ns, name, images.TrovePostgresRef)
	return restore
}

// postgresPod runs the PostgreSQL image as its non-root user, data in an emptyDir.
func postgresPod(t *testing.T, c ctrl.Client, ns string) {
	t.Helper()
	uid, nonRoot := int64(images.PostgresUID), true
	must(t, c.Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pg", Labels: map[string]string{"app": "pg"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid, RunAsNonRoot: &nonRoot},
			Containers: []corev1.Container{{
				Name: "postgres", Image: images.PostgresRef, ImagePullPolicy: corev1.PullNever,
				Env: []corev1.EnvVar{{Name: "POSTGRES_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "pg-auth"}, Key: "password"}}}},
				Ports:        []corev1.ContainerPort{{ContainerPort: 5432}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}))
}

// sessionJob is the Job of a session (labelled with its name).
func sessionJob(t *testing.T, c ctrl.Client, ns, session string) *batchv1.Job {
	t.Helper()
	var jobs batchv1.JobList
	must(t, c.List(t.Context(), &jobs, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: session}))
	if len(jobs.Items) != 1 {
		t.Fatalf("%d Jobs of session %s, want 1", len(jobs.Items), session)
	}
	return &jobs.Items[0]
}

func jobDuration(t *testing.T, c ctrl.Client, ns, session string) time.Duration {
	t.Helper()
	job := sessionJob(t, c, ns, session)
	if job.Status.StartTime == nil || job.Status.CompletionTime == nil {
		t.Fatalf("Job %s has not completed: %s", job.Name, jsonOf(job.Status))
	}
	return job.Status.CompletionTime.Sub(job.Status.StartTime.Time)
}

// checkJobImages checks that the session's Job pod ran its data step in dataImage
// and update-status in Trove's image, never pulled.
func checkJobImages(t *testing.T, c ctrl.Client, ns, session, dataImage string) {
	t.Helper()
	job := sessionJob(t, c, ns, session)
	var pods corev1.PodList
	must(t, c.List(t.Context(), &pods, ctrl.InNamespace(ns), ctrl.MatchingLabels{"batch.kubernetes.io/job-name": job.Name}))
	if len(pods.Items) != 1 {
		t.Fatalf("%d pods of Job %s, want 1", len(pods.Items), job.Name)
	}
	pod := pods.Items[0]
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	if len(containers) != 2 {
		t.Fatalf("pod %s has %d containers, want the data step and update-status", pod.Name, len(containers))
	}
	for i, want := range []string{dataImage, images.TroveRef} {
		if containers[i].Image != want || containers[i].ImagePullPolicy == corev1.PullAlways {
			t.Errorf("pod %s container %s runs %s (pull %s), want %s", pod.Name, containers[i].Name, containers[i].Image, containers[i].ImagePullPolicy, want)
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, st := range statuses {
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			t.Errorf("pod %s container %s: %s", pod.Name, st.Name, jsonOf(st.State))
		}
	}
}

// jobReport is what a failed session's Job says: its status and its containers' logs.
func jobReport(t *testing.T, c ctrl.Client, ns, session string) string {
	var jobs batchv1.JobList
	if err := c.List(t.Context(), &jobs, ctrl.InNamespace(ns), ctrl.MatchingLabels{troveapi.LabelSession: session}); err != nil || len(jobs.Items) == 0 {
		return fmt.Sprintf("no Job (%v)", err)
	}
	logs, err := cfg.Kubectl(t.Context(), bins, "logs", "-n", ns, "--all-containers", "--prefix", "job/"+jobs.Items[0].Name)
	return fmt.Sprintf("%s\nlogs (%v):\n%s", jsonOf(jobs.Items[0].Status), err, logs)
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
