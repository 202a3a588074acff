// ONNX Runtime side of tools/bench/bench.sh: load time, median run time of a
// random batch, tiles/s, as one JSON line. Same threads as ours, one
// inter-op thread, all graph optimisations.
const ort = require('onnxruntime-node');
(async () => {
  const [model, batch, threads, iters, size] = [process.argv[2], +process.argv[3], +process.argv[4], +(process.argv[5] || 5), +(process.argv[6] || 256)];
  const t0 = process.hrtime.bigint();
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const n = batch * 3 * size * size;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random();
  const feeds = {};
  feeds[s.inputNames[0]] = new ort.Tensor('float32', data, [batch, 3, size, size]);
  await s.run(feeds);
  const load_ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const times = [];
  for (let i = 0; i < iters; i++) {
    const t = process.hrtime.bigint();
    await s.run(feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ model, batch, threads, median_ms: med, tiles_per_s: batch * 1000 / med, load_and_first_run_ms: load_ms,
                               rss_peak_kb: Math.round(process.resourceUsage().maxRSS) }));
})().catch(e => { console.error('ort-bench: ' + e.message); process.exit(2); });
