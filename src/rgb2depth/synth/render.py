"""Rendering synthetic scenes with open3d's Embree CPU ray caster, shading in numpy.

An existing renderer is used rather than a hand-written one. The ray-tracing
engine used is ``open3d.t.geometry.RaycastingScene`` (Intel Embree BVH, CPU,
no display, no GPU): it is already a dependency of the toolkit (``open3d-cpu``, the ``3d``
extra), installs from PyPI on every machine, and gives *exact* hit distances, triangle ids
and barycentrics per ray, fast enough for on-the-fly rendering (``benchmarks/bench_synth.py``). The alternatives
were not measured, for these reasons: pyrender and moderngl need OpenGL through OSMesa/EGL
system packages (apt-get on every fresh machine; none is installed here) and return depth
through a non-linear z-buffer (exactness then depends on near/far planes and 24-bit
precision); trimesh's fast ray queries need the extra ``embreex`` package around the same
Embree. What open3d does not do is shading, so the small shading model below is written here
in numpy: Lambert diffuse + normalised Blinn-Phong specular from several point lights (at
most 1-2 ceiling lights, one daylight outside a window, one lamp, the sun as a directional
light) with cast shadows, ambient
light times ray-traced ambient occlusion (3 cosine-weighted hemisphere rays of 0.5 m), and
emissive surfaces (lamps, the outdoor backdrop seen through windows). Shadow rays (jittered
over each light's disc: soft shadows) and AO rays are cast on every other pixel
(checkerboard) and filled in by a normalised Gaussian filter (sigma 1.3 / 1.2 px at 320 px
width), which denoises penumbrae and AO at half the ray cost. Whole image at 320x240
including a new room, camera search and camera response: ~0.15 s CPU
(``benchmarks/bench_synth.py``).

Depth. Primary rays are cast with the camera-frame direction ``d_c = ((u - cx)/fx,
(v - cy)/fy, 1)`` rotated to the world, *not normalised*. open3d measures ``t_hit`` in units
of the direction's length, so the hit point is ``o + t R d_c``, i.e. the camera-frame point
``t d_c`` whose z coordinate is ``t``: ``t_hit`` **is the z-depth**. (For a unit-length ray
``d_c / |d_c|`` the ray length ``r`` relates as ``z = r * d_z = r / |d_c|``.) Pixels are
sampled at their centres (integer u, v), the convention of ``geometry.camera.backproject``,
so back-projecting the depth map lands exactly on the surfaces (float32 rounding only).

Camera image. The linear radiance goes through auto-exposure (log-average luminance mapped to
middle grey, times a random exposure offset), white-balance gains, a mild vignette, an
extended Reinhard tone curve, sRGB gamma, a small optical blur (sigma ~0.5 px, which also
anti-aliases the one-sample-per-pixel edges) and a little sensor noise.
"""

from __future__ import annotations

import math

import numpy as np

from rgb2depth.geometry.camera import Intrinsics

from .scene import Scene
from .textures import evaluate


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of (n, 3) arrays."""
    return np.einsum("ij,ij->i", a, b)


def _o3d():
    try:
        import open3d as o3d
    except ImportError:
        raise ImportError(
            "rgb2depth.synth renders with open3d, which is not installed: pip install 'rgb2depth[3d]' (open3d-cpu)"
        ) from None
    return o3d


class Renderer:
    """Ray-casts one :class:`Scene`; ``render`` may be called for many cameras."""

    def __init__(self, scene: Scene, threads: int = 1) -> None:
        o3d = _o3d()
        self.scene = scene
        self.threads = int(threads)
        corners = scene.mesh["corners"]
        n = len(corners)
        self._rc = o3d.t.geometry.RaycastingScene()
        self._rc.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(corners.reshape(-1, 3), np.float32)),
            o3d.core.Tensor(np.arange(3 * n, dtype=np.uint32).reshape(n, 3)),
        )
        self._spec = np.array([m.specular for m in scene.materials], np.float32)
        self._shin = np.array([m.shininess for m in scene.materials], np.float32)
        self._emis = np.array([m.emissive for m in scene.materials], np.float32)
        self._dc_key: Intrinsics | None = None

    # -- ray casting helpers ------------------------------------------------------------------
    def cast(self, rays: np.ndarray) -> dict:
        o3d = _o3d()
        r = self._rc.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays, np.float32)), nthreads=self.threads)
        return {k: v.numpy() for k, v in r.items()}

    def occluded(self, origins: np.ndarray, dirs: np.ndarray, tfar: float = 1.0) -> np.ndarray:
        o3d = _o3d()
        rays = np.empty((len(origins), 6), np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = dirs
        occ = self._rc.test_occlusions(o3d.core.Tensor(rays), tnear=0.0, tfar=tfar, nthreads=self.threads)
        return occ.numpy().astype(bool)

    def primary_rays(self, pose: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """World-frame origins and directions (H*W, 3) whose ray parameter equals z-depth."""
        if self._dc_key != K:
            u, v = np.meshgrid(np.arange(K.width, dtype=np.float64), np.arange(K.height, dtype=np.float64))
            dc = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], -1).reshape(-1, 3)
            self._dc, self._dc_key = dc.astype(np.float32), K
        Rm = np.asarray(pose[:3, :3], np.float32)
        dc = self._dc
        d = dc[:, :1] * Rm[:, 0] + dc[:, 1:2] * Rm[:, 1] + Rm[:, 2]  # dc[:, 2] == 1
        o = np.broadcast_to(np.asarray(pose[:3, 3], np.float32), d.shape)
        return o, d

    def depth(self, pose: np.ndarray, K: Intrinsics) -> np.ndarray:
        """z-depth only (metres, NaN where a ray leaves the scene)."""
        o, d = self.primary_rays(pose, K)
        t = self.cast(np.concatenate([o, d], -1))["t_hit"].reshape(K.height, K.width)
        return np.where(np.isfinite(t), t, np.nan).astype(np.float32)

    def probe(self, pose: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """z-depth (NaN: no hit) and object id (-1: no hit) per pixel, no shading."""
        o, d = self.primary_rays(pose, K)
        hit = self.cast(np.concatenate([o, d], -1))
        t = hit["t_hit"]
        ok = np.isfinite(t)
        obj = np.full(t.shape, -1, np.int32)
        obj[ok] = self.scene.mesh["object"][hit["primitive_ids"][ok].astype(np.int64)]
        shape = (K.height, K.width)
        return np.where(ok, t, np.nan).astype(np.float32).reshape(shape), obj.reshape(shape)

    # -- full render --------------------------------------------------------------------------
    def render(self, pose: np.ndarray, K: Intrinsics, rng: np.random.Generator, ao_samples: int = 4,
               ao_radius: float = 0.5, soft_shadows: bool = True) -> dict:
        """Linear radiance and ground truth for one camera.

        Returns ``radiance`` HxWx3 float32 (linear), ``depth`` HxW float32 z-depth (NaN: no
        hit), ``normal`` HxWx3 (world, facing the camera), ``albedo`` HxWx3, ``specular`` HxW
        (material specular weight), ``emissive`` HxW bool, ``object`` HxW int32 (-1: no hit),
        ``cos_incidence`` HxW (|n . view|).
        """
        import cv2

        sc, mesh = self.scene, self.scene.mesh
        H, W = K.height, K.width
        blur_scale = max(1.0, W / 320)  # denoising filters keep their size relative to the image
        o, d = self.primary_rays(pose, K)
        hit = self.cast(np.concatenate([o, d], -1))
        t = hit["t_hit"]
        idx = np.nonzero(np.isfinite(t))[0]
        n = len(idx)
        tri = hit["primitive_ids"][idx].astype(np.int64)
        buv = hit["primitive_uvs"][idx]
        w = np.empty((n, 3), np.float32)
        w[:, 1:] = buv
        w[:, 0] = 1 - buv[:, 0] - buv[:, 1]
        dd = d[idx]
        th = t[idx].astype(np.float32)
        p = dd * th[:, None]
        p += o[0]
        ng = hit["primitive_normals"][idx]
        ns = np.einsum("ijk,ij->ik", mesh["normals"][tri], w)
        ns /= np.sqrt(_dot(ns, ns))[:, None] + 1e-12
        view = dd / -np.sqrt(_dot(dd, dd))[:, None]
        flip = _dot(ng, view) < 0
        ng[flip] *= -1
        ns[flip] *= -1
        # shading normals must face the viewer too (interpolation at silhouettes)
        bad = _dot(ns, view) < 0.02
        ns[bad] = ng[bad]
        uv = np.einsum("ijk,ij->ik", mesh["uvs"][tri], w)
        mat = mesh["material"][tri]
        obj = mesh["object"][tri]
        cosi = np.abs(_dot(ng, view))
        footprint = th / np.float32(K.fx) / np.maximum(cosi, np.float32(0.2))

        albedo = np.empty((n, 3), np.float32)
        for m in np.unique(mat):
            sel = np.nonzero(mat == m)[0]
            albedo[sel] = evaluate(sc.materials[m], uv[sel, 0], uv[sel, 1], footprint[sel], obj[sel])
        emis = self._emis[mat] > 0
        ks, shin = self._spec[mat], self._shin[mat]

        li = np.nonzero(~emis)[0]
        nli = len(li)
        pix = idx[li]  # flat image index of each lit pixel
        nl, ngl, vl = ns[li], ng[li], view[li]
        origin = ngl * (np.float32(1e-3) + np.float32(1e-4) * th[li, None])
        origin += p[li]
        rad = np.zeros((n, 3), np.float32)
        diff_acc = np.zeros((nli, 3), np.float32)
        spec_acc = np.zeros((nli, 3), np.float32)
        ks_l, shin_l = ks[li], shin[li]
        cb = ((pix % W + pix // W) % 2) == 0  # checkerboard of lit pixels
        for light in sc.lights:
            lp = np.asarray(light.position, np.float32)
            if light.directional:  # the sun: parallel rays of length `reach`, no fall-off
                reach = np.float32(light.reach)
                Lv = np.empty_like(origin)
                Lv[:] = lp * reach
                if soft_shadows and light.radius > 0:  # jitter the direction over the sun's disc
                    Lv += rng.normal(0, light.radius, (nli, 3)).astype(np.float32) * reach
            else:
                Lv = -origin
                Lv += lp
            if soft_shadows and light.radius > 0 and not light.directional:
                # area light: a horizontal disc of the light's radius (never reaches the ceiling)
                rr = np.float32(light.radius) * np.sqrt(rng.random(nli, dtype=np.float32))
                ph = rng.random(nli, dtype=np.float32) * np.float32(2 * np.pi)
                Lv[:, 0] += rr * np.cos(ph)
                Lv[:, 1] += rr * np.sin(ph)
            d2 = _dot(Lv, Lv)
            inv = 1 / np.sqrt(d2)
            if light.directional:
                d2 = np.ones_like(d2)  # colour is irradiance: no inverse-square fall-off
            ndl = _dot(nl, Lv) * inv
            fi = np.nonzero((ndl > 0) & (_dot(ngl, Lv) > 0))[0]
            if len(fi) == 0:
                continue
            if soft_shadows and light.radius > 0:
                # one jittered shadow ray on every other pixel (checkerboard), then a normalised
                # Gaussian filter of the visibility: denoised penumbrae at half the ray cost
                fc = fi[cb[fi]]
                img = np.zeros((H * W, 2), np.float32)
                img[pix[fc], 0] = ~self.occluded(origin[fc], Lv[fc], 0.999)
                img[pix[fc], 1] = 1.0
                img = cv2.GaussianBlur(img.reshape(H, W, 2), (0, 0), 1.3 * blur_scale).reshape(H * W, 2)
                sub = img[pix[fi]]
                vis = sub[:, 0] / np.maximum(sub[:, 1], np.float32(1e-6))
                lone = np.nonzero(sub[:, 1] < 0.05)[0]  # no casting neighbour: cast its own ray
                if len(lone):
                    vis[lone] = ~self.occluded(origin[fi[lone]], Lv[fi[lone]], 0.999)
            else:
                vis = (~self.occluded(origin[fi], Lv[fi], 0.999)).astype(np.float32)
            g = np.zeros(nli, np.float32)  # irradiance factor cos / d^2 times visibility
            g[fi] = vis * ndl[fi] / d2[fi]
            col = np.asarray(light.color, np.float32)
            diff_acc += g[:, None] * col
            fs = fi[ks_l[fi] > 0.03]
            if len(fs):
                h = Lv[fs] * inv[fs, None] + vl[fs]
                nh = np.clip(_dot(nl[fs], h) / np.sqrt(_dot(h, h)), 1e-6, 1)
                sh = shin_l[fs]
                sg = np.zeros(nli, np.float32)
                sg[fs] = g[fs] * ks_l[fs] * (sh + 8) / np.float32(8 * math.pi) * np.exp(sh * np.log(nh))
                spec_acc += sg[:, None] * col

        # ambient occlusion: cosine-weighted hemisphere rays of length ao_radius
        ao = np.ones(nli, np.float32)
        if ao_samples > 0 and nli:
            # tangent frame: t1 = normalize(n x e) with e the axis least aligned with n
            use_x = np.abs(nl[:, 0]) < 0.9
            t1 = np.where(use_x[:, None], np.stack([np.zeros(nli, np.float32), nl[:, 2], -nl[:, 1]], 1),
                          np.stack([-nl[:, 2], np.zeros(nli, np.float32), nl[:, 0]], 1))
            t1 /= np.sqrt(_dot(t1, t1))[:, None]
            t2 = np.stack([nl[:, 1] * t1[:, 2] - nl[:, 2] * t1[:, 1], nl[:, 2] * t1[:, 0] - nl[:, 0] * t1[:, 2],
                           nl[:, 0] * t1[:, 1] - nl[:, 1] * t1[:, 0]], 1)
            # AO rays on the checkerboard only, filled in by the normalised filter below
            ci_ = np.nonzero(cb)[0]
            nl, t1, t2 = nl[ci_], t1[ci_], t2[ci_]
            nc = len(ci_)
            hits = np.zeros(nc, np.float32)
            for k in range(ao_samples):
                # stratified in the radial coordinate so a few samples cover the hemisphere
                r1 = (k + rng.random(nc, dtype=np.float32)) / np.float32(ao_samples)
                phi = rng.random(nc, dtype=np.float32) * np.float32(2 * np.pi)
                sr = np.sqrt(r1) * np.float32(ao_radius)
                dirs = t1 * (sr * np.cos(phi))[:, None]
                dirs += t2 * (sr * np.sin(phi))[:, None]
                dirs += nl * (np.sqrt(1 - r1) * np.float32(ao_radius))[:, None]
                hits += self.occluded(origin[ci_], dirs, 1.0)
            img = np.zeros((H * W, 2), np.float32)
            img[pix[ci_], 0] = 1 - hits / ao_samples
            img[pix[ci_], 1] = 1.0
            img = cv2.GaussianBlur(img.reshape(H, W, 2), (0, 0), 1.2 * blur_scale).reshape(H * W, 2)[pix]
            ao = np.where(img[:, 1] > 0.02, img[:, 0] / np.maximum(img[:, 1], np.float32(1e-6)), np.float32(1.0))
        amb = np.asarray(sc.ambient, np.float32)
        rad[li] = albedo[li] * (diff_acc + amb * (0.25 + 0.75 * ao)[:, None]) + spec_acc
        ei = np.nonzero(emis)[0]
        rad[ei] = albedo[ei] * self._emis[mat[ei], None] * self._emissive_level()

        out_rad = np.zeros((H * W, 3), np.float32)
        out_rad[idx] = rad
        depth = np.full(H * W, np.nan, np.float32)
        depth[idx] = th
        normal = np.zeros((H * W, 3), np.float32)
        normal[idx] = ns
        alb = np.zeros((H * W, 3), np.float32)
        alb[idx] = albedo
        spec = np.zeros(H * W, np.float32)
        spec[idx] = ks
        em = np.zeros(H * W, bool)
        em[idx] = emis
        ob = np.full(H * W, -1, np.int32)
        ob[idx] = obj
        ci = np.zeros(H * W, np.float32)
        ci[idx] = cosi
        return {
            "radiance": out_rad.reshape(H, W, 3),
            "depth": depth.reshape(H, W),
            "normal": normal.reshape(H, W, 3),
            "albedo": alb.reshape(H, W, 3),
            "specular": spec.reshape(H, W),
            "emissive": em.reshape(H, W),
            "object": ob.reshape(H, W),
            "cos_incidence": ci.reshape(H, W),
        }

    def _emissive_level(self) -> float:
        """Radiance of emissive surfaces relative to the lighting: bright, like a window, times
        the scene's ``sky_gain`` (which makes panes overexposed or dark)."""
        lights = [lt for lt in self.scene.lights if not lt.directional]
        if not lights:
            return float(self.scene.sky_gain)
        _, _, Hr = self.scene.room or (0, 0, 2.6)
        return float(np.mean([np.mean(lt.color) for lt in lights]) / Hr**2 * 1.5 * self.scene.sky_gain)


def develop(radiance: np.ndarray, rng: np.random.Generator, emissive: np.ndarray | None = None,
            exposure_jitter: float = 0.4, wb_jitter: float = 0.08, blur: float = 0.5, noise: float = 1.2,
            meter_emissive: bool = False) -> np.ndarray:
    """Linear radiance -> sRGB uint8 as a camera would: auto-exposure with a random offset
    (``exposure_jitter`` stops, normal), white-balance gains, vignette, extended Reinhard tone
    curve, sRGB gamma, optical blur (``blur`` px sigma) and Gaussian noise (``noise`` grey levels).

    Auto-exposure meters the lit surfaces only, unless ``meter_emissive``: then bright windows
    and lamps count too and darken the room, as a phone does against a bright window."""
    import cv2

    H, W, _ = radiance.shape
    lum = radiance @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    sel = lum > 0 if emissive is None or meter_emissive else (lum > 0) & ~emissive
    key = float(np.exp(np.mean(np.log(lum[sel] + 1e-4)))) if sel.any() else 1.0
    ev = rng.normal(0.0, exposure_jitter) if exposure_jitter > 0 else 0.0
    x = radiance * (0.2 * 2.0**ev / key)
    a = rng.uniform(-wb_jitter, wb_jitter)
    g = rng.uniform(-wb_jitter / 3, wb_jitter / 3)
    gains = np.array([1 + a, 1 + g, 1 - a], np.float32)
    x = x * (gains / gains.mean())
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / ((W / 2) ** 2 + (H / 2) ** 2)
    x = x * (1 - rng.uniform(0.0, 0.3) * r2)[..., None]
    white = 2.5
    x = x * (1 + x / white**2) / (1 + x)
    x = np.clip(x, 0, 1)
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    if blur > 0:
        srgb = cv2.GaussianBlur(srgb, (0, 0), blur)
    srgb = srgb * 255.0
    if noise > 0:
        srgb = srgb + rng.normal(0, noise, srgb.shape).astype(np.float32)
    return np.clip(np.rint(srgb), 0, 255).astype(np.uint8)
