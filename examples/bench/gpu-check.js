// GPU placement check: succeeds only when the worker handed this task a GPU, which drm signals by setting
// CUDA_VISIBLE_DEVICES to the indices it assigned. It checks placement, not the device itself (the example
// fleet declares GPUs that the machine may not have).
//   CUDA_VISIBLE_DEVICES=0 node examples/bench/gpu-check.js
const visible = (process.env.CUDA_VISIBLE_DEVICES ?? '').trim();
if (visible === '') {
  console.error('gpu-check: CUDA_VISIBLE_DEVICES is not set: this task was not given a GPU (it must run on a GPU worker)');
  process.exit(1);
}
const devices = visible.split(',').map((d) => d.trim()).filter(Boolean);
console.log(JSON.stringify({ metric: 'gpus_visible', value: devices.length, unit: 'gpus', devices }));
