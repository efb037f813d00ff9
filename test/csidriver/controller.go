package csidriver

import (
	"context"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// timeNow is the clock of snapshot creation times.
var timeNow = time.Now

// defaultCapacity is reported for a volume created without a capacity range.
const defaultCapacity = 1 << 30

func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// checkCapabilities accepts filesystem volumes in any access mode (there is one node).
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume capabilities are required")
	}
	for _, c := range caps {
		if c.GetMount() == nil {
			return status.Error(codes.InvalidArgument, "only filesystem (mount) volumes are supported, not block")
		}
	}
	return nil
}

func (d *Driver) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	capacity := req.GetCapacityRange().GetRequiredBytes()
	if capacity == 0 {
		capacity = req.GetCapacityRange().GetLimitBytes()
	}
	if capacity == 0 {
		capacity = defaultCapacity
	}
	source := req.GetVolumeContentSource()
	if source != nil && source.GetSnapshot() == nil {
		return nil, status.Error(codes.InvalidArgument, "only a snapshot can be a volume's content source (no cloning)")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	volID := id("vol-", req.GetName())
	if v, ok := d.state.Volumes[volID]; ok {
		if v.CapacityBytes != capacity || v.SourceSnapshot != source.GetSnapshot().GetSnapshotId() {
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists with another capacity or source", req.GetName())
		}
		return d.createVolumeResponse(volID, v, source), nil
	}
	dir := d.state.volumeDir(volID)
	if err := os.RemoveAll(dir); err != nil { // a leftover of an interrupted create
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	v := &volume{Name: req.GetName(), CapacityBytes: capacity}
	if snapID := source.GetSnapshot().GetSnapshotId(); snapID != "" {
		if _, ok := d.state.Snapshots[snapID]; !ok {
			return nil, status.Errorf(codes.NotFound, "snapshot %s does not exist", snapID)
		}
		if _, err := copyTree(d.state.snapshotDir(snapID), dir); err != nil {
			return nil, status.Errorf(codes.Internal, "restoring snapshot %s: %v", snapID, err)
		}
		v.SourceSnapshot = snapID
	} else if err := os.Mkdir(dir, 0o777); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	} else if err := os.Chmod(dir, 0o777); err != nil { // pods of any user may write to a new volume
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	d.state.Volumes[volID] = v
	if err := d.state.save(); err != nil {
		delete(d.state.Volumes, volID)
		return nil, status.Errorf(codes.Internal, "saving state: %v", err)
	}
	return d.createVolumeResponse(volID, v, source), nil
}

func (d *Driver) createVolumeResponse(volID string, v *volume, source *csi.VolumeContentSource) *csi.CreateVolumeResponse {
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId: volID, CapacityBytes: v.CapacityBytes, ContentSource: source, AccessibleTopology: d.topology(),
	}}
}

func (d *Driver) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume ID is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.RemoveAll(d.state.volumeDir(req.GetVolumeId())); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if _, ok := d.state.Volumes[req.GetVolumeId()]; ok {
		delete(d.state.Volumes, req.GetVolumeId())
		if err := d.state.save(); err != nil {
			return nil, status.Errorf(codes.Internal, "saving state: %v", err)
		}
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (d *Driver) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	d.mu.Lock()
	_, ok := d.state.Volumes[req.GetVolumeId()]
	d.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", req.GetVolumeId())
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

// CreateSnapshot copies the volume's directory: a point-in-time copy, ready at once.
func (d *Driver) CreateSnapshot(_ context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" || req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "name and source volume ID are required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	snapID := id("snap-", req.GetName())
	if s, ok := d.state.Snapshots[snapID]; ok {
		if s.SourceVolume != req.GetSourceVolumeId() {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot %q exists for volume %s", req.GetName(), s.SourceVolume)
		}
		return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(snapID, s)}, nil
	}
	if _, ok := d.state.Volumes[req.GetSourceVolumeId()]; !ok {
		return nil, status.Errorf(codes.NotFound, "volume %s does not exist", req.GetSourceVolumeId())
	}
	dir := d.state.snapshotDir(snapID)
	if err := os.RemoveAll(dir); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	size, err := copyTree(d.state.volumeDir(req.GetSourceVolumeId()), dir)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	s := &snapshot{Name: req.GetName(), SourceVolume: req.GetSourceVolumeId(), SizeBytes: size, CreatedAt: timeNow().UTC()}
	d.state.Snapshots[snapID] = s
	if err := d.state.save(); err != nil {
		delete(d.state.Snapshots, snapID)
		return nil, status.Errorf(codes.Internal, "saving state: %v", err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(snapID, s)}, nil
}

func csiSnapshot(snapID string, s *snapshot) *csi.Snapshot {
	return &csi.Snapshot{SnapshotId: snapID, SourceVolumeId: s.SourceVolume, SizeBytes: s.SizeBytes,
		CreationTime: timestamppb.New(s.CreatedAt), ReadyToUse: true}
}

func (d *Driver) DeleteSnapshot(_ context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot ID is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.RemoveAll(d.state.snapshotDir(req.GetSnapshotId())); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if _, ok := d.state.Snapshots[req.GetSnapshotId()]; ok {
		delete(d.state.Snapshots, req.GetSnapshotId())
		if err := d.state.save(); err != nil {
			return nil, status.Errorf(codes.Internal, "saving state: %v", err)
		}
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

// ListSnapshots lists by ID order, filtered by snapshot or source volume, paged by
// starting_token (an offset) and max_entries.
func (d *Driver) ListSnapshots(_ context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for snapID, s := range d.state.Snapshots {
		if (req.GetSnapshotId() == "" || req.GetSnapshotId() == snapID) &&
			(req.GetSourceVolumeId() == "" || req.GetSourceVolumeId() == s.SourceVolume) {
			ids = append(ids, snapID)
		}
	}
	sort.Strings(ids)
	start := 0
	if t := req.GetStartingToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(ids) {
			return nil, status.Errorf(codes.Aborted, "invalid starting token %q", t)
		}
		start = n
	}
	end := len(ids)
	if m := int(req.GetMaxEntries()); m > 0 && start+m < end {
		end = start + m
	}
	resp := &csi.ListSnapshotsResponse{}
	for _, snapID := range ids[start:end] {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(snapID, d.state.Snapshots[snapID])})
	}
	if end < len(ids) {
		resp.NextToken = strconv.Itoa(end)
	}
	return resp, nil
}
