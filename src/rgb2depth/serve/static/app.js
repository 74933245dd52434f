// rgb2depth serve: the page's logic, plain JavaScript with no framework and no build step (the
// package serves every file itself, so the page works offline).
//
// One upload -> POST /api/predict?format=json&colorbar=true: the colour-mapped depth with its
// colour bar, the depth statistics, the camera and a subsampled point cloud come back in one
// answer. The download buttons post the same image again with format=npy|png16|color|ply, so
// every file is made by the server's writers (the `rgb2depth predict` command's own).
//
// For tests and people alike, <body data-state> is idle | busy | done | error, and
// data-upload-to-depth-ms holds the time from sending the image to the depth image shown.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const view = new window.PointCloudView($("cloud"));
  let current = null; // {blob, name} of the image shown
  let inputUrl = null;

  function status(text, isError = false) {
    $("status").textContent = text;
    $("status").classList.toggle("error", isError);
  }

  function metres(x) {
    return x === null || x === undefined ? "–" : `${x.toFixed(3)} m`;
  }

  function setNumber(id, value) {
    const el = $(id);
    el.textContent = metres(value);
    el.dataset.value = value === null ? "" : String(value);
  }

  function decode(b64, Type) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  async function errorOf(response) {
    try {
      const data = await response.json();
      if (data && data.error) return data.error;
    } catch (e) { /* not JSON */ }
    return `the server answered HTTP ${response.status}`;
  }

  function post(blob, name, query) {
    const form = new FormData();
    form.append("file", blob, name);
    return fetch(`/api/predict?${query}`, { method: "POST", body: form });
  }

  async function predict(blob, name) {
    const t0 = performance.now();
    body.dataset.state = "busy";
    status(`Predicting depth for ${name}…`);
    let response;
    try {
      response = await post(blob, name, "format=json&colorbar=true");
    } catch (e) {
      status(`Could not reach the server: ${e.message}`, true);
      body.dataset.state = "error";
      return;
    }
    if (!response.ok) {
      status(await errorOf(response), true);
      body.dataset.state = "error"; // last: the state says the page is complete
      return;
    }
    const r = await response.json();
    current = { blob, name };
    if (inputUrl) URL.revokeObjectURL(inputUrl);
    inputUrl = URL.createObjectURL(blob);
    $("input-img").src = inputUrl;
    const depthImg = $("depth-img");
    await new Promise((resolve, reject) => {
      depthImg.onload = resolve;
      depthImg.onerror = () => reject(new Error("the depth image could not be shown"));
      depthImg.src = `data:image/png;base64,${r.color_png}`;
    }).catch((e) => { status(e.message, true); });
    const ms = performance.now() - t0;
    $("results").hidden = false;

    setNumber("depth-min", r.depth.min);
    setNumber("depth-median", r.depth.median);
    setNumber("depth-max", r.depth.max);
    $("depth-range").textContent = `${r.display_range[0].toFixed(2)}–${r.display_range[1].toFixed(2)} m`;
    $("depth-range").dataset.value = r.display_range.join(",");
    $("image-size").textContent = `${r.width} × ${r.height}`;
    $("network-size").textContent = `${r.network_size[1]} × ${r.network_size[0]}`;
    $("camera-focal").textContent = r.focal_px ? `focal ${r.focal_px.toFixed(1)} px` : "the model's own";
    $("focal").textContent = `${r.intrinsics.fx.toFixed(1)} px`;
    $("focal").dataset.value = String(r.intrinsics.fx);
    $("timing").textContent = `${ms.toFixed(0)} ms (server ${Object.values(r.timings_ms).reduce((a, b) => a + b, 0).toFixed(0)} ms)`;
    body.dataset.uploadToDepthMs = ms.toFixed(1);

    if (r.points) {
      view.setCloud(decode(r.points.xyz, Float32Array), decode(r.points.rgb, Uint8Array),
        r.intrinsics, r.width, r.height);
    } else {
      view.setCloud(new Float32Array(0), new Uint8Array(0), r.intrinsics, r.width, r.height);
    }
    $("point-count").textContent = (r.points ? r.points.count : 0).toLocaleString("en");
    status(`${name}: depth ${metres(r.depth.min)} to ${metres(r.depth.max)} (model ${r.model}).`);
    body.dataset.state = "done";
  }

  async function download(format, button) {
    if (!current) return;
    button.disabled = true;
    try {
      const response = await post(current.blob, current.name, `format=${format}&colorbar=true`);
      if (!response.ok) {
        status(await errorOf(response), true);
        return;
      }
      const disposition = response.headers.get("Content-Disposition") || "";
      const match = /filename="([^"]+)"/.exec(disposition);
      const url = URL.createObjectURL(await response.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = match ? match[1] : `depth.${format}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      status(`Download failed: ${e.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  function takeFile(file) {
    if (!file) return;
    predict(file, file.name || "image");
  }

  // -- upload: file picker, drag and drop, paste -------------------------------------------
  $("file").addEventListener("change", (e) => {
    takeFile(e.target.files[0]);
    e.target.value = ""; // choosing the same file again predicts again
  });
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    takeFile(e.dataTransfer.files[0]);
  });
  window.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith("image/"));
    if (item) takeFile(item.getAsFile());
  });
  document.querySelectorAll("#downloads button").forEach((b) => {
    b.addEventListener("click", () => download(b.dataset.format, b));
  });

  // -- webcam, where the browser allows it (a secure context: https or localhost) ------------
  let stream = null;
  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("camera").hidden = true;
  }
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    $("camera-start").hidden = false;
    $("camera-start").addEventListener("click", async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
        $("video").srcObject = stream;
        $("camera").hidden = false;
      } catch (e) {
        status(`The camera is not available: ${e.message}`, true);
      }
    });
    $("camera-stop").addEventListener("click", stopCamera);
    $("camera-shoot").addEventListener("click", () => {
      const v = $("video");
      if (!v.videoWidth) return;
      const c = document.createElement("canvas");
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      c.getContext("2d").drawImage(v, 0, 0);
      c.toBlob((blob) => { stopCamera(); predict(blob, "camera.jpg"); }, "image/jpeg", 0.92);
    });
  }

  // -- the model line ------------------------------------------------------------------------
  fetch("/api/model").then((r) => r.json()).then((m) => {
    $("model").textContent = `${m.name} (network input ${m.input_size[1]} × ${m.input_size[0]}` +
      `${m.untrained ? "; UNTRAINED: random weights, meaningless depth" : ""})`;
    $("licence").textContent = `Licence: ${m.licence}`;
  }).catch(() => { $("model").textContent = "unknown (the server did not answer)"; });
})();
