// The DWC scene viewer: one GLB, embedded in its page as base64 (so the page works from file://, where a
// browser refuses fetch), rendered with three.js. Hovering a node (or an instance of an instanced mesh)
// shows its label from the glTF extras. window.DWC_VIEWER reports the load to tests and tools.
import * as THREE from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";

function bytesOf(base64) {
  const raw = atob(base64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out.buffer;
}

function labelOf(hit) {
  let obj = hit.object;
  const index = hit.instanceId;
  while (obj) {
    const extras = obj.userData || {};
    if (index !== undefined && Array.isArray(extras.instances) && extras.instances[index]) {
      const item = extras.instances[index];
      return item.label || item.name || JSON.stringify(item);
    }
    if (extras.label || extras.name) return extras.label || extras.name;
    obj = obj.parent;
  }
  return "";
}

export function start(container, base64, title) {
  const state = (window.DWC_VIEWER = { loaded: false, error: null, meshes: 0, frames: 0, title });
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(container.clientWidth, container.clientHeight);
  renderer.setClearColor(0x10141c);
  container.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  scene.add(new THREE.HemisphereLight(0xffffff, 0x404050, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 2.0);
  sun.position.set(5, 10, 7);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(50, container.clientWidth / container.clientHeight, 0.01, 10000);
  const controls = new OrbitControls(camera, renderer.domElement);
  const tip = document.getElementById("tip");
  const pointer = new THREE.Vector2();
  const ray = new THREE.Raycaster();
  renderer.domElement.addEventListener("pointermove", (e) => {
    const r = renderer.domElement.getBoundingClientRect();
    pointer.set(((e.clientX - r.left) / r.width) * 2 - 1, -((e.clientY - r.top) / r.height) * 2 + 1);
    ray.setFromCamera(pointer, camera);
    const hit = ray.intersectObjects(scene.children, true)[0];
    const text = hit ? labelOf(hit) : "";
    tip.textContent = text;
    tip.style.display = text ? "block" : "none";
    tip.style.left = e.clientX + 12 + "px";
    tip.style.top = e.clientY + 12 + "px";
  });
  new GLTFLoader().parse(bytesOf(base64), "", (gltf) => {
    scene.add(gltf.scene);
    const box = new THREE.Box3().setFromObject(gltf.scene);
    const size = box.getSize(new THREE.Vector3()).length() || 1;
    const center = box.getCenter(new THREE.Vector3());
    camera.position.copy(center).add(new THREE.Vector3(size * 0.6, size * 0.45, size * 0.8));
    camera.near = size / 1000;
    camera.far = size * 20;
    camera.updateProjectionMatrix();
    controls.target.copy(center);
    controls.update();
    gltf.scene.traverse((o) => { if (o.isMesh || o.isLineSegments || o.isLine) state.meshes++; });
    renderer.render(scene, camera);
    state.frames++;
    state.loaded = true;
  }, (err) => { state.error = String(err && err.message ? err.message : err); });
  (function loop() {
    requestAnimationFrame(loop);
    controls.update();
    renderer.render(scene, camera);
    if (state.loaded) state.frames++;
  })();
}
