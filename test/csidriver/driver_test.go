package csidriver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// The tests drive the driver in-process over a real unix socket with the CSI client stubs,
// as external-provisioner, csi-snapshotter and the kubelet do.

type clients struct {
	identity   csi.IdentityClient
	controller csi.ControllerClient
	node       csi.NodeClient
	driver     *Driver
}

// start runs a driver on stateDir behind a socket; it stops with the test or with stop().
func start(t *testing.T, stateDir string) (c clients, stop func()) {
	t.Helper()
	d, err := New(Options{NodeID: "node-1", StateDir: stateDir, Logf: t.Logf})
	require.NoError(t, err)
	sock := filepath.Join(t.TempDir(), "csi.sock")
	l, err := Listen("unix://" + sock)
	require.NoError(t, err)
	srv := d.Server()
	go func() { _ = srv.Serve(l) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = conn.Close()
			srv.Stop()
		}
	}
	t.Cleanup(stop)
	return clients{csi.NewIdentityClient(conn), csi.NewControllerClient(conn), csi.NewNodeClient(conn), d}, stop
}

var mountCap = []*csi.VolumeCapability{{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
}}

func createVolume(t *testing.T, c clients, name string, source *csi.VolumeContentSource) *csi.Volume {
	t.Helper()
	resp, err := c.controller.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: name, VolumeCapabilities: mountCap, CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 20}, VolumeContentSource: source,
	})
	require.NoError(t, err)
	return resp.Volume
}

func createSnapshot(t *testing.T, c clients, name, volID string) *csi.Snapshot {
	t.Helper()
	resp, err := c.controller.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID})
	require.NoError(t, err)
	return resp.Snapshot
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o640))
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestIdentity(t *testing.T) {
	c, _ := start(t, t.TempDir())
	ctx := context.Background()
	info, err := c.identity.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	require.NoError(t, err)
	assert.Equal(t, "csi.trove.dev", info.Name)
	assert.NotEmpty(t, info.VendorVersion)
	caps, err := c.identity.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	require.NoError(t, err)
	var services []csi.PluginCapability_Service_Type
	for _, c := range caps.Capabilities {
		services = append(services, c.GetService().GetType())
	}
	assert.Contains(t, services, csi.PluginCapability_Service_CONTROLLER_SERVICE)
	_, err = c.identity.Probe(ctx, &csi.ProbeRequest{})
	require.NoError(t, err)

	ccaps, err := c.controller.ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
	require.NoError(t, err)
	var rpcs []csi.ControllerServiceCapability_RPC_Type
	for _, c := range ccaps.Capabilities {
		rpcs = append(rpcs, c.GetRpc().GetType())
	}
	assert.ElementsMatch(t, []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME, csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT, csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	}, rpcs)

	node, err := c.node.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	require.NoError(t, err)
	assert.Equal(t, "node-1", node.NodeId)
	assert.Equal(t, map[string]string{DefaultTopologyKey: "node-1"}, node.AccessibleTopology.Segments)
	_, err = c.node.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	require.NoError(t, err)
}

func TestSnapshotIsPointInTime(t *testing.T) {
	state := t.TempDir()
	c, _ := start(t, state)
	ctx := context.Background()

	vol := createVolume(t, c, "pvc-1", nil)
	assert.Equal(t, int64(1<<20), vol.CapacityBytes)
	assert.Equal(t, map[string]string{DefaultTopologyKey: "node-1"}, vol.AccessibleTopology[0].Segments)
	again := createVolume(t, c, "pvc-1", nil)
	assert.Equal(t, vol.VolumeId, again.VolumeId, "CreateVolume is idempotent by name")
	dir := filepath.Join(state, "volumes", vol.VolumeId)
	write(t, filepath.Join(dir, "a.txt"), "before")
	write(t, filepath.Join(dir, "sub", "b.txt"), "kept")
	require.NoError(t, os.Symlink("a.txt", filepath.Join(dir, "link")))

	snap := createSnapshot(t, c, "snapshot-1", vol.VolumeId)
	assert.True(t, snap.ReadyToUse)
	assert.Equal(t, vol.VolumeId, snap.SourceVolumeId)
	assert.Equal(t, int64(len("before")+len("kept")), snap.SizeBytes)
	assert.Equal(t, snap.SnapshotId, createSnapshot(t, c, "snapshot-1", vol.VolumeId).SnapshotId, "CreateSnapshot is idempotent by name")
	_, err := c.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: "vol-other"})
	assert.Equal(t, codes.AlreadyExists, status.Code(err))

	// Data written after the snapshot.
	write(t, filepath.Join(dir, "a.txt"), "after")
	write(t, filepath.Join(dir, "new.txt"), "new")

	restored := createVolume(t, c, "pvc-restored", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}})
	assert.Equal(t, snap.SnapshotId, restored.ContentSource.GetSnapshot().GetSnapshotId())
	rdir := filepath.Join(state, "volumes", restored.VolumeId)
	assert.Equal(t, "before", read(t, filepath.Join(rdir, "a.txt")))
	assert.Equal(t, "kept", read(t, filepath.Join(rdir, "sub", "b.txt")))
	link, err := os.Readlink(filepath.Join(rdir, "link"))
	require.NoError(t, err)
	assert.Equal(t, "a.txt", link)
	assert.NoFileExists(t, filepath.Join(rdir, "new.txt"), "data written after the snapshot is not in it")
	info, err := os.Stat(filepath.Join(rdir, "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), info.Mode().Perm())

	list, err := c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: vol.VolumeId})
	require.NoError(t, err)
	require.Len(t, list.Entries, 1)
	assert.Equal(t, snap.SnapshotId, list.Entries[0].Snapshot.SnapshotId)

	_, err = c.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "from-nothing", VolumeCapabilities: mountCap,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "snap-gone"}}}})
	assert.Equal(t, codes.NotFound, status.Code(err))

	// Deletes are idempotent and remove the directories.
	for range 2 {
		_, err = c.controller.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.SnapshotId})
		require.NoError(t, err)
		_, err = c.controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: restored.VolumeId})
		require.NoError(t, err)
	}
	assert.NoDirExists(t, filepath.Join(state, "snapshots", snap.SnapshotId))
	assert.NoDirExists(t, rdir)
	list, err = c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{})
	require.NoError(t, err)
	assert.Empty(t, list.Entries)
}

func TestListSnapshotsPages(t *testing.T) {
	c, _ := start(t, t.TempDir())
	ctx := context.Background()
	vol := createVolume(t, c, "pvc-1", nil)
	for _, n := range []string{"s1", "s2", "s3"} {
		createSnapshot(t, c, n, vol.VolumeId)
	}
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		resp, err := c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: 2, StartingToken: token})
		require.NoError(t, err)
		for _, e := range resp.Entries {
			seen = append(seen, e.Snapshot.SnapshotId)
		}
		if token = resp.NextToken; token == "" {
			break
		}
	}
	assert.Len(t, seen, 3)
	one, err := c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SnapshotId: seen[1]})
	require.NoError(t, err)
	require.Len(t, one.Entries, 1)
	_, err = c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "x"})
	assert.Equal(t, codes.Aborted, status.Code(err))
}

func TestRestartKeepsState(t *testing.T) {
	state := t.TempDir()
	c, stop := start(t, state)
	vol := createVolume(t, c, "pvc-1", nil)
	write(t, filepath.Join(state, "volumes", vol.VolumeId, "f"), "data")
	snap := createSnapshot(t, c, "snapshot-1", vol.VolumeId)
	stop()

	c, _ = start(t, state)
	list, err := c.controller.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{})
	require.NoError(t, err)
	require.Len(t, list.Entries, 1)
	assert.Equal(t, snap.SnapshotId, list.Entries[0].Snapshot.SnapshotId)
	assert.Equal(t, snap.CreationTime.AsTime(), list.Entries[0].Snapshot.CreationTime.AsTime())
	assert.Equal(t, vol.VolumeId, createVolume(t, c, "pvc-1", nil).VolumeId, "the volume is still known")
	restored := createVolume(t, c, "pvc-2", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.SnapshotId}}})
	assert.Equal(t, "data", read(t, filepath.Join(state, "volumes", restored.VolumeId, "f")))
}

func TestRejectsBlockVolumes(t *testing.T) {
	c, _ := start(t, t.TempDir())
	_, err := c.controller.CreateVolume(context.Background(), &csi.CreateVolumeRequest{Name: "b", VolumeCapabilities: []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}}})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestPublishBindMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("publishing bind-mounts: needs root")
	}
	state := t.TempDir()
	c, _ := start(t, state)
	ctx := context.Background()
	vol := createVolume(t, c, "pvc-1", nil)
	write(t, filepath.Join(state, "volumes", vol.VolumeId, "f"), "data")

	// The kubelet creates the parent of the target path; the driver the target.
	pods := t.TempDir()
	ro := filepath.Join(pods, "pod-a", "volumes", "kubernetes.io~csi", "pv-1", "mount")
	require.NoError(t, os.MkdirAll(filepath.Dir(ro), 0o750))
	publish := &csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: ro, Readonly: true, VolumeCapability: mountCap[0]}
	_, err := c.node.NodePublishVolume(ctx, publish)
	if status.Code(err) == codes.Internal && strings.Contains(err.Error(), unix.EPERM.Error()) {
		t.Skipf("bind mounts are not permitted here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Unmount(ro, unix.MNT_DETACH) })
	_, err = c.node.NodePublishVolume(ctx, publish)
	require.NoError(t, err, "publishing again is a no-op")
	mounted, err := isMountPoint(ro)
	require.NoError(t, err)
	assert.True(t, mounted)
	assert.Equal(t, "data", read(t, filepath.Join(ro, "f")))
	err = os.WriteFile(filepath.Join(ro, "g"), []byte("x"), 0o644)
	require.ErrorIs(t, err, unix.EROFS, "a read-only publish refuses writes")

	rw := filepath.Join(pods, "pod-b", "volumes", "kubernetes.io~csi", "pv-1", "mount")
	require.NoError(t, os.MkdirAll(filepath.Dir(rw), 0o750))
	_, err = c.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: rw, VolumeCapability: mountCap[0]})
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Unmount(rw, unix.MNT_DETACH) })
	write(t, filepath.Join(rw, "g"), "written")
	assert.Equal(t, "written", read(t, filepath.Join(state, "volumes", vol.VolumeId, "g")), "a writable publish writes the volume")

	for _, target := range []string{ro, rw} {
		for range 2 {
			_, err = c.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: target})
			require.NoError(t, err, "unpublish is idempotent")
		}
		mounted, err = isMountPoint(target)
		require.NoError(t, err)
		assert.False(t, mounted)
		assert.NoDirExists(t, target)
	}
	assert.Equal(t, "data", read(t, filepath.Join(state, "volumes", vol.VolumeId, "f")), "unpublishing keeps the data")

	_, err = c.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "vol-gone", TargetPath: ro, VolumeCapability: mountCap[0]})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestRegistration(t *testing.T) {
	root := t.TempDir()
	sock := RegistrationSocket(root, DefaultName)
	assert.Equal(t, filepath.Join(root, "plugins_registry", "csi.trove.dev-reg.sock"), sock)
	l, err := Listen(sock)
	require.NoError(t, err)
	r := &Registrar{DriverName: DefaultName, Endpoint: "/var/lib/kubelet/plugins/csi.trove.dev/csi.sock", Logf: t.Logf}
	srv := r.Server()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	// What the kubelet's plugin watcher does: dial the socket, GetInfo, then notify.
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := registerapi.NewRegistrationClient(conn)
	info, err := client.GetInfo(context.Background(), &registerapi.InfoRequest{})
	require.NoError(t, err)
	assert.Equal(t, registerapi.CSIPlugin, info.Type)
	assert.Equal(t, "csi.trove.dev", info.Name)
	assert.Equal(t, "/var/lib/kubelet/plugins/csi.trove.dev/csi.sock", info.Endpoint)
	assert.Equal(t, []string{"1.0.0"}, info.SupportedVersions)

	_, err = client.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: false, Error: "version mismatch"})
	require.NoError(t, err)
	ok, msg := r.Status()
	assert.False(t, ok)
	assert.Equal(t, "version mismatch", msg)
	_, err = client.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: true})
	require.NoError(t, err)
	ok, _ = r.Status()
	assert.True(t, ok)
}

func TestSocketPath(t *testing.T) {
	assert.Equal(t, "/run/csi.sock", SocketPath("unix:///run/csi.sock"))
	assert.Equal(t, "/run/csi.sock", SocketPath("/run/csi.sock"))
	assert.Equal(t, "a b", unescapeMountPath(`a\040b`))
}
