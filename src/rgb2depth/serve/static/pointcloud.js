// rgb2depth serve: a small interactive point-cloud viewer on a 2D canvas.
//
// Hand-written rather than three.js or another WebGL library: the page must work offline, so
// nothing may come from a CDN, and the Python wheel carries no npm bundle or build step. The
// viewer projects the points in JavaScript and splats them into an ImageData buffer with a
// depth buffer; a few tens of thousands of points redraw in milliseconds, and no WebGL is
// needed (headless and GPU-less browsers may not have it).
//
// Camera model: the points are in the photo's camera frame (x right, y down, z forward, metres),
// back-projected by the server with the focal length shown on the page. The start view is that
// camera turned a little about the cloud's centre (START_YAW, START_PITCH), so the shape shows at
// once; dragging orbits about the centre, the wheel moves the eye towards it, a double click
// returns to the start. Yaw and pitch 0 and zoom 1 would show the cloud exactly as the photo.
"use strict";

const START_YAW = -0.35; // radians: seen from the left
const START_PITCH = -0.2; // radians: seen from above
const START_ZOOM = 0.8; // eye a little behind the photo's camera, so the turned cloud fits

class PointCloudView {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.n = 0;
    this.background = 0xff2a2420; // ABGR (little-endian RGBA bytes): rgb(32, 36, 42)
    this.reset(false);
    this._bindControls();
  }

  // xyz: Float32Array (3 per point), rgb: Uint8Array (3 per point), K: {fx, fy, cx, cy} of an
  // image of width x height pixels from which the points were back-projected.
  setCloud(xyz, rgb, K, width, height) {
    this.xyz = xyz;
    this.rgb = rgb;
    this.n = Math.floor(xyz.length / 3);
    this.K = K;
    this.imgW = width;
    this.imgH = height;
    let sx = 0, sy = 0, sz = 0;
    for (let i = 0; i < this.n; i++) {
      sx += xyz[3 * i]; sy += xyz[3 * i + 1]; sz += xyz[3 * i + 2];
    }
    const n = Math.max(this.n, 1);
    this.centre = [sx / n, sy / n, sz / n];
    // Points lie on a regular pixel grid: splat each over its grid cell so the start view is solid.
    this.gridStep = Math.sqrt((width * height) / n);
    this.reset(true);
  }

  reset(redraw = true) {
    this.yaw = START_YAW;
    this.pitch = START_PITCH;
    this.zoom = START_ZOOM;
    if (redraw) this.draw();
  }

  _bindControls() {
    const c = this.canvas;
    let last = null;
    c.addEventListener("pointerdown", (e) => {
      last = [e.clientX, e.clientY];
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      if (!last) return;
      const scale = c.width / Math.max(c.clientWidth, 1);
      this.yaw += (e.clientX - last[0]) * scale * 0.006;
      this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch - (e.clientY - last[1]) * scale * 0.006));
      last = [e.clientX, e.clientY];
      this._schedule();
    });
    const end = () => { last = null; };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoom = Math.max(0.2, Math.min(8, this.zoom * Math.exp(-e.deltaY * 0.0015)));
      this._schedule();
    }, { passive: false });
    c.addEventListener("dblclick", () => this.reset(true));
  }

  _schedule() {
    if (this._pending) return;
    this._pending = true;
    requestAnimationFrame(() => { this._pending = false; this.draw(); });
  }

  draw() {
    const W = this.canvas.width, H = this.canvas.height;
    if (!this.image || this.image.width !== W || this.image.height !== H) {
      this.image = this.ctx.createImageData(W, H);
      this.pixels = new Uint32Array(this.image.data.buffer);
      this.zbuf = new Float32Array(W * H);
    }
    const px = this.pixels, zb = this.zbuf;
    px.fill(this.background);
    zb.fill(Infinity);
    let drawn = 0;
    if (this.n > 0) {
      const K = this.K, [cx0, cy0, cz0] = this.centre;
      const s = Math.min(W / this.imgW, H / this.imgH); // image pixels -> canvas pixels
      const ox = (W - this.imgW * s) / 2, oy = (H - this.imgH * s) / 2;
      const fx = K.fx * s, fy = K.fy * s, ppx = K.cx * s + ox, ppy = K.cy * s + oy;
      // Rotation R = Rx(pitch) * Ry(yaw) about the centre; the eye moves along z when zooming.
      const cyw = Math.cos(this.yaw), syw = Math.sin(this.yaw);
      const cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
      const dist = cz0 / this.zoom;
      // A point covers its grid cell (gridStep image pixels at its own depth pz), scaled by
      // perspective to its depth z in this view, and a little more for surfaces seen obliquely.
      const cell = this.gridStep * s * 1.25;
      const xyz = this.xyz, rgb = this.rgb;
      for (let i = 0; i < this.n; i++) {
        const x0 = xyz[3 * i] - cx0, y0 = xyz[3 * i + 1] - cy0, z0 = xyz[3 * i + 2] - cz0;
        const x1 = cyw * x0 + syw * z0, z1 = -syw * x0 + cyw * z0;
        const y2 = cp * y0 - sp * z1, z2 = sp * y0 + cp * z1;
        const z = z2 + dist;
        if (z <= 0.01) continue;
        const size = Math.min(16, Math.max(1, Math.ceil((cell * xyz[3 * i + 2]) / z)));
        const half = size >> 1;
        const u = Math.round(fx * (x1 + cx0) / z + ppx) - half;
        const v = Math.round(fy * (y2 + cy0) / z + ppy) - half;
        if (u + size <= 0 || v + size <= 0 || u >= W || v >= H) continue;
        const colour = 0xff000000 | (rgb[3 * i + 2] << 16) | (rgb[3 * i + 1] << 8) | rgb[3 * i];
        let hit = false;
        for (let dv = 0; dv < size; dv++) {
          const y = v + dv;
          if (y < 0 || y >= H) continue;
          const row = y * W;
          for (let du = 0; du < size; du++) {
            const xx = u + du;
            if (xx < 0 || xx >= W) continue;
            const k = row + xx;
            if (z < zb[k]) { zb[k] = z; px[k] = colour; hit = true; }
          }
        }
        if (hit) drawn++;
      }
    }
    this.ctx.putImageData(this.image, 0, 0);
    this.canvas.dataset.points = String(this.n);
    this.canvas.dataset.drawn = String(drawn);
  }
}

window.PointCloudView = PointCloudView;
