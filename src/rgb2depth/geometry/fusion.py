"""TSDF fusion: the map a reconstruction builds and tracks against.

A voxel-hashed truncated signed distance volume (Curless & Levoy 1996; KinectFusion,
Newcombe et al. 2011), open3d's ``t.geometry.VoxelBlockGrid``: blocks of 16^3 voxels are
allocated where depth is seen, so memory follows the scene's surface area, not its bounding
box. It plays the role of the point-based fusion of paper 003 (Section 4.4): averaging many
noisy depth maps into one surface. Besides the marching-cubes mesh and the voxel point cloud
it renders the model as a depth map from any pose (:meth:`TSDFFusion.raycast`), which is what
frame-to-model tracking (:class:`rgb2depth.geometry.odometry.ModelTracker`) registers a new
frame to.
"""

from __future__ import annotations

import numpy as np

from rgb2depth.geometry.camera import Intrinsics
from rgb2depth.geometry.frames import o3d_depth

#: Default reconstruction settings (documented in the CLI help).
DEFAULT_VOXEL = 0.01
DEFAULT_DEPTH_MIN = 0.1
DEFAULT_DEPTH_MAX = 4.0
#: Truncation distance in voxels (8 voxels = 8 cm at the default 1 cm voxel), open3d's default.
#: open3d's raycaster loses surfaces when the band is thinner: with 4 voxels a TUM frame
#: rendered back after a 2 degree turn lacks 10% of its surface, and a lone plane vanishes.
DEFAULT_TRUNC_VOXELS = 8.0


def intrinsic_tensor(K: Intrinsics):
    """``K`` as open3d's (3, 3) float64 tensor."""
    import open3d.core as o3c

    return o3c.Tensor(K.matrix())


class TSDFFusion:
    """A voxel-hashed TSDF volume integrating coloured depth maps at camera-to-world poses.

    ``sdf_trunc`` (metres) defaults to :data:`DEFAULT_TRUNC_VOXELS` voxels. Surfaces are
    extracted where at least ``min_weight`` frames observed them (1 = every observed surface,
    as a single frame gives). open3d's weight is the count of integrated observations and its
    thresholds are strict (``weight > threshold``), hence the ``- 0.5`` below.
    """

    def __init__(
        self,
        voxel: float = DEFAULT_VOXEL,
        sdf_trunc: float | None = None,
        depth_min: float = DEFAULT_DEPTH_MIN,
        depth_max: float = DEFAULT_DEPTH_MAX,
        min_weight: float = 1.0,
    ) -> None:
        import open3d as o3d
        import open3d.core as o3c

        if not voxel > 0:
            raise ValueError(f"voxel size must be positive, got {voxel}")
        self.o3d, self.o3c = o3d, o3c
        self.voxel = float(voxel)
        self.sdf_trunc = float(sdf_trunc) if sdf_trunc else DEFAULT_TRUNC_VOXELS * self.voxel
        self.trunc_mult = self.sdf_trunc / self.voxel
        self.depth_min, self.depth_max = depth_min, depth_max
        self.min_weight = float(min_weight)
        #: :meth:`raycast` renders surfaces seen at least this many times (or by every frame
        #: while there are fewer). 1: a large step's view overlaps the newest frame's surfaces
        #: too (with 2, TUM fr1/rpy at stride 5 lost tracking within 15 frames; with 1 it held).
        self.raycast_weight = 1
        # 1,000 blocks (~80 MB) to start; open3d's CPU hash map grows as the scene does.
        self.grid = o3d.t.geometry.VoxelBlockGrid(
            ("tsdf", "weight", "color"), (o3c.float32, o3c.float32, o3c.float32), ((1,), (1,), (3,)),
            self.voxel, 16, 1000, o3c.Device("CPU:0"),
        )
        self.frames = 0
        self._warm: set = set()  # intrinsics the raycast's range buffer has been sized for

    def _images(self, rgb: np.ndarray, depth: np.ndarray):
        o3d, o3c = self.o3d, self.o3c
        d = o3d.t.geometry.Image(o3c.Tensor(o3d_depth(depth, self.depth_min, self.depth_max)))
        c = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(rgb, dtype=np.float32) / 255.0))
        return d, c

    def integrate(self, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics, pose: np.ndarray) -> None:
        """Fuse one frame (RGB uint8, depth metres with NaN = invalid) seen from ``pose``."""
        o3c = self.o3c
        d, c = self._images(rgb, depth)
        intr = intrinsic_tensor(K)
        extr = o3c.Tensor(np.linalg.inv(np.asarray(pose, dtype=np.float64)))
        blocks = self.grid.compute_unique_block_coordinates(d, intr, extr, 1.0, self.depth_max, self.trunc_mult)
        self.grid.integrate(blocks, d, c, intr, extr, 1.0, self.depth_max, self.trunc_mult)
        self.frames += 1

    def raycast(self, K: Intrinsics, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model seen from camera-to-world ``pose`` with intrinsics ``K``: (depth HxW float32
        metres, NaN where no surface; colour HxWx3 float32 in [0, 1]).

        Casts through every allocated block (not only those the last frame touched, as
        open3d's SLAM model does: after a skipped frame or a large step the view reaches parts of
        the scene seen earlier); surfaces seen fewer than ``raycast_weight`` times are ignored.
        """
        if self.frames == 0:
            return np.full((K.height, K.width), np.nan, np.float32), np.zeros((K.height, K.width, 3), np.float32)
        o3c = self.o3c
        self._size_range_buffer(K)
        extr = o3c.Tensor(np.linalg.inv(np.asarray(pose, dtype=np.float64)))
        hashmap = self.grid.hashmap()
        blocks = hashmap.key_tensor()[hashmap.active_buf_indices().to(o3c.int64)]
        out = self.grid.ray_cast(blocks, intrinsic_tensor(K), extr, int(K.width), int(K.height),
                                 ["depth", "color"], 1.0, self.depth_min, self.depth_max,
                                 min(self.frames, self.raycast_weight) - 0.5, self.trunc_mult, 8)
        depth = out["depth"].numpy().reshape(K.height, K.width).astype(np.float32)
        depth[~(depth > 0)] = np.nan
        return depth, out["color"].numpy().reshape(K.height, K.width, 3).astype(np.float32)

    def _size_range_buffer(self, K: Intrinsics) -> None:
        """Size open3d's range-estimation buffer for views with intrinsics ``K``, once.

        open3d keeps a per-grid buffer of image fragments for the ray ranges; a raycast that
        needs more reallocates it, and that one call's ranges are incomplete: rays start behind
        surfaces and report spurious ones up to the truncation distance deep (measured on a
        rendered plane: 775 of 19,200 pixels 7 cm off on the first raycast, 0 on the next). A
        raycast through every block position of the viewing frustum (none allocated, so the
        rays find nothing) grows the buffer to what any later view can need.
        """
        key = (K.fx, K.fy, K.cx, K.cy, K.width, K.height)
        if key in self._warm:
            return
        o3c = self.o3c
        b = 16 * self.voxel
        nx = int(np.ceil(self.depth_max * max(K.cx + 1, K.width - K.cx) / K.fx / b)) + 1
        ny = int(np.ceil(self.depth_max * max(K.cy + 1, K.height - K.cy) / K.fy / b)) + 1
        nz = int(np.ceil(self.depth_max / b)) + 1
        box = np.stack(np.meshgrid(np.arange(-nx, nx + 1), np.arange(-ny, ny + 1), np.arange(-1, nz + 1),
                                   indexing="ij"), -1).reshape(-1, 3).astype(np.int32)
        far = np.full(3, 10**4, np.int32)  # 1.6 km away at 1 cm voxels: no block there is allocated
        self.grid.ray_cast(o3c.Tensor(box + far), intrinsic_tensor(K), o3c.Tensor(self._far_extrinsic(far)),
                           int(K.width), int(K.height), ["depth"], 1.0, self.depth_min, self.depth_max, 0.5,
                           self.trunc_mult, 8)
        self._warm.add(key)

    def _far_extrinsic(self, far_blocks: np.ndarray) -> np.ndarray:
        """World-to-camera of a camera at the corner of block ``far_blocks`` (identity rotation)."""
        E = np.eye(4)
        E[:3, 3] = -far_blocks * 16 * self.voxel
        return E

    def mesh(self):
        """The marching-cubes surface as a legacy open3d TriangleMesh (colours in [0, 1], normals)."""
        m = self.grid.extract_triangle_mesh(self.min_weight - 0.5).to_legacy()
        if m.has_vertex_colors():
            m.vertex_colors = self.o3d.utility.Vector3dVector(np.clip(np.asarray(m.vertex_colors), 0.0, 1.0))
        m.compute_vertex_normals()
        return m

    def point_cloud(self):
        """The zero crossings of the TSDF as a legacy open3d PointCloud (colours in [0, 1])."""
        pc = self.grid.extract_point_cloud(self.min_weight - 0.5).to_legacy()
        if pc.has_colors():
            pc.colors = self.o3d.utility.Vector3dVector(np.clip(np.asarray(pc.colors), 0.0, 1.0))
        return pc
