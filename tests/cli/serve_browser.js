// serve_browser.js - the real-browser half of test_serve_browser.sh: drives Debian's chromium (headless) with
// playwright-core through the page of `reenact serve`: picks a portrait and a driving clip, sets the frame count,
// starts, and checks that progress was shown, that the job ends done, that the result video plays in the page
// (duration and size from the video element) and that the storyboard shows. Then the Live tab with chromium's fake
// camera playing LIVE_Y4M: it starts the camera, checks that animated frames arrive (the image changes), and records
// the page's fps and median latency (written to OUTDIR/live.json). Screenshots go to OUTDIR.
//   node serve_browser.js URL PHOTO CLIP FRAMES OUTDIR [LIVE_Y4M LIVE_SECONDS]
//   (PLAYWRIGHT_CORE: path of the playwright-core module; PHOTO "-" skips the upload part)
"use strict";
const [url, photo, clip, frames, outdir, liveY4m, liveSeconds] = process.argv.slice(2);
const fs = require("fs");
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

let fails = 0;
function check(ok, what) {
  console.log((ok ? "ok: " : "FAIL: ") + what);
  if (!ok) fails++;
}

const external = [];
(async () => {
  const args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"];
  if (liveY4m) args.push("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                         "--use-file-for-fake-video-capture=" + liveY4m);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 } });
  await context.grantPermissions(["camera"], { origin: url });
  const page = await context.newPage();
  page.on("request", (r) => { if (!r.url().startsWith(url) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) external.push(r.url()); });
  page.on("console", (m) => { if (m.type() === "error") console.log("page console error: " + m.text()); });
  await page.goto(url + "/");
  await page.waitForFunction(() => !document.getElementById("info").textContent.includes("connecting"));
  check((await page.textContent("#info")).includes("version"), "the page shows the server's version");
  if (photo !== "-") await videoPart(page);
  if (liveY4m) await livePart(page);
  check(external.length === 0, "the page loaded nothing from elsewhere (" + external.join(", ") + ")");
  await browser.close();
  console.log(fails ? fails + " browser checks FAILED" : "browser checks ok");
  process.exit(fails ? 1 : 0);
})().catch((e) => { console.error("FAIL: " + (e && e.stack || e)); process.exit(1); });

async function livePart(page) {
  await page.click("#tablive");
  check(await page.isVisible("#livestart"), "the Live tab shows");
  await page.click("#livestart");
  // the first animated frame: the image gets a blob: source
  const first = await page.waitForFunction(() => {
    const e = document.getElementById("liveerror").textContent;
    if (e) return "error: " + e;
    const s = document.getElementById("liveimg").src;
    return s.startsWith("blob:") ? "ok" : false;
  }, null, { timeout: 60000 }).then((h) => h.jsonValue()).catch((e) => "timeout: " + e.message);
  check(first === "ok", "animated frames arrive from the camera (" + first + ", status '" +
        (await page.textContent("#livestatus")) + "')");
  // let it run, sampling the animated image to see that it changes (the motion comes through)
  const secs = Number(liveSeconds || 8);
  const samples = new Set();
  const t0 = Date.now();
  while (Date.now() - t0 < secs * 1000) {
    await page.waitForTimeout(500);
    samples.add(await page.evaluate(() => {
      const i = document.getElementById("liveimg");
      if (!i.naturalWidth) return "";
      const c = document.createElement("canvas");
      c.width = 32; c.height = 32;
      const g = c.getContext("2d");
      g.drawImage(i, 0, 0, 32, 32);
      return Array.from(g.getImageData(0, 0, 32, 32).data.filter((_, k) => k % 4 === 1)).join(",");
    }));
  }
  await page.screenshot({ path: outdir + "/3_live.png", fullPage: true });
  const st = await page.evaluate(() => ({
    fps: parseFloat(document.getElementById("livefps").textContent),
    latency_ms: parseFloat(document.getElementById("livelat").textContent),
    server_ms: parseFloat(document.getElementById("livesrv").textContent),
    frames: parseInt(document.getElementById("livecount").textContent, 10),
    skipped: parseInt(document.getElementById("liveskip").textContent, 10),
    size: [document.getElementById("liveimg").naturalWidth, document.getElementById("liveimg").naturalHeight],
    error: document.getElementById("liveerror").textContent,
  }));
  st.distinct_images = samples.size;
  console.log("live: " + JSON.stringify(st));
  fs.writeFileSync(outdir + "/live.json", JSON.stringify(st, null, 1));
  check(st.frames >= 10 && st.error === "", st.frames + " animated frames in " + secs + " s, no error");
  check(st.fps > 0 && st.latency_ms > 0, "the page measures fps (" + st.fps + ") and median latency (" + st.latency_ms + " ms)");
  check(samples.size >= 3, "the animated face changes over time (" + samples.size + " distinct of " + Math.round(secs * 2) + " samples)");
  await page.click("#livestop");
  const stopped = await page.textContent("#livestatus");
  check(stopped.startsWith("stopped"), "Stop ends the session ('" + stopped + "')");
}

async function videoPart(page) {
  await page.setInputFiles("#photofile", photo);
  await page.setInputFiles("#drivefile", clip);
  await page.fill("#max_frames", frames);
  await page.screenshot({ path: outdir + "/1_inputs.png", fullPage: true });
  // record every status text the page shows while the job runs
  await page.evaluate(() => {
    window.__statuses = [];
    new MutationObserver(() => window.__statuses.push(document.getElementById("status").textContent))
      .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
  });
  const t0 = Date.now();
  await page.click("#start");
  await page.waitForFunction(() => {
    const s = document.getElementById("status").textContent;
    return s.startsWith("done") || s.startsWith("failed") || s.startsWith("refused") ||
      document.getElementById("error").textContent !== "";
  }, null, { timeout: 180000 });
  const status = await page.textContent("#status");
  const error = await page.textContent("#error");
  console.log("status: " + status + " (" + ((Date.now() - t0) / 1000).toFixed(1) + " s)" + (error ? " error: " + error : ""));
  check(status.startsWith("done") && error === "", "the job ends done in the page");
  const statuses = await page.evaluate(() => window.__statuses);
  const shown = statuses.filter((s) => /^frame \d+ \/ \d+ \| [\d.]+ fps/.test(s));
  check(shown.length > 0, "progress (frame N / M | fps | ETA) was shown while it ran (" + shown.length + " updates, e.g. '" +
        (shown[Math.floor(shown.length / 2)] || statuses.join(" ; ")) + "')");
  const v = await page.evaluate(async () => {
    const v = document.getElementById("resultvideo");
    if (v.readyState < 1)
      await new Promise((r, j) => { v.addEventListener("loadedmetadata", r, { once: true }); v.addEventListener("error", () => j(new Error("video error " + (v.error && v.error.code))), { once: true }); setTimeout(r, 15000); });
    await v.play().catch(() => {});
    await new Promise((r) => setTimeout(r, 800));
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : { totalVideoFrames: -1 };
    return { duration: v.duration, w: v.videoWidth, h: v.videoHeight, t: v.currentTime, decoded: q.totalVideoFrames,
             err: v.error ? v.error.code : 0 };
  });
  console.log("result video: " + JSON.stringify(v));
  const dl = await page.getAttribute("#download", "href");
  check(/\/api\/jobs\/[0-9a-f]{32}\/result\?download=1/.test(dl), "a download link (" + dl + ")");
  const job = await page.evaluate(async (u) => (await fetch(u)).json(), dl.replace(/\/result\?download=1.*/, ""));
  const want = Number(frames) / job.video_fps;
  check(v.err === 0 && v.w > 0 && v.h > 0, "the result video loads in the page (" + v.w + "x" + v.h + ")");
  check(job.frames === Number(frames) && Math.abs(v.duration - want) < 2.5 / job.video_fps,
        "its duration is " + job.frames + " frames at " + job.video_fps + " fps (" + v.duration.toFixed(3) + " s, want " + want.toFixed(3) + ")");
  check(v.t > 0 || v.decoded > 0, "it plays (currentTime " + v.t.toFixed(3) + ", decoded frames " + v.decoded + ")");
  const sb = await page.evaluate(async () => {
    const i = document.getElementById("sbimg");
    if (!i.complete) await new Promise((r) => { i.addEventListener("load", r, { once: true }); setTimeout(r, 10000); });
    return { w: i.naturalWidth, h: i.naturalHeight, shown: !document.getElementById("sbwrap").classList.contains("hidden") };
  });
  check(sb.shown && sb.w > 0 && sb.h > 0, "the storyboard shows (" + sb.w + "x" + sb.h + ")");
  await page.screenshot({ path: outdir + "/2_result.png", fullPage: true });
}
