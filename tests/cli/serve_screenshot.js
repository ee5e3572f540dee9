// serve_screenshot.js - makes docs/serve.png, the README's picture of `reenact serve`: headless Debian chromium
// (playwright-core, as tests/cli/serve_browser.js) opens the page, ticks "use the bundled demo photo and motion" (the
// bundled face only: nothing from ../shared, so no storyboard either, whose upper row would show the frames that
// models/demo.motion was extracted from) and "whole photo", starts a short job, waits for done, shows the result's
// frame at 1 s, and screenshots the page (at most 2400 px of it) at 1000 px wide, saved as an 8-bit palette
// PNG with ffmpeg when it is there (smaller), else as chromium writes it.
//   build/reenact serve --port 8080 &
//   PLAYWRIGHT_CORE=$(npm root -g)/playwright-core node tests/cli/serve_screenshot.js http://127.0.0.1:8080 docs/serve.png
// Not a test (no ctest entry): run it again when the page changes.
"use strict";
const [url, out, framesArg] = process.argv.slice(2);   // a server with a fresh --data-dir: its job list shows one job
if (!url || !out) { console.error("usage: node serve_screenshot.js URL OUT.png [FRAMES]"); process.exit(2); }
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");
const { execFileSync } = require("child_process");
const fs = require("fs");

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                          args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"] });
  const page = await (await browser.newContext({ viewport: { width: 1000, height: 900 } })).newPage();
  await page.goto(url + "/");
  await page.waitForFunction(() => !document.getElementById("info").textContent.includes("connecting"));
  if (!(await page.isVisible("#demolabel"))) throw new Error("the server has no bundled demo (models/demo_photo.png)");
  await page.check("#demo");
  await page.check("#paste_back");   // the whole photo, animated
  // no storyboard: its upper row would show the driver of models/demo.motion (frames of an example clip)
  await page.uncheck("#storyboard");
  await page.fill("#max_frames", framesArg || "90");
  await page.click("#start");
  await page.waitForFunction(() => {
    const s = document.getElementById("status").textContent;
    return s.startsWith("done") || s.startsWith("failed") || document.getElementById("error").textContent !== "";
  }, null, { timeout: 300000 });
  const status = await page.textContent("#status");
  if (!status.startsWith("done")) throw new Error("the job did not end done: " + status + " " + (await page.textContent("#error")));
  await page.evaluate(async () => {   // the result at 1 s (a frame with motion), and the storyboard loaded
    const v = document.getElementById("resultvideo");
    if (v.readyState < 2) await new Promise((r) => { v.addEventListener("loadeddata", r, { once: true }); setTimeout(r, 15000); });
    v.pause();
    v.currentTime = Math.min(1, v.duration / 2 || 0);
    await new Promise((r) => { v.addEventListener("seeked", r, { once: true }); setTimeout(r, 5000); });
    for (let k = 0; k < 100 && (v.seeking || v.readyState < 3); k++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 700));   // the controls' loading spinner fades out
  });
  const h = await page.evaluate(() => document.documentElement.scrollHeight);
  const raw = out.replace(/\.png$/, "") + ".raw.png";
  await page.screenshot({ path: raw, fullPage: true, clip: { x: 0, y: 0, width: 1000, height: Math.min(h, 2400) } });
  await browser.close();
  try {   // a palette PNG (ffmpeg): a third of the bytes, no visible loss on this page
    execFileSync("ffmpeg", ["-loglevel", "error", "-y", "-i", raw, "-vf",
                 "split[a][b];[a]palettegen=max_colors=256:stats_mode=full[p];[b][p]paletteuse=dither=none",
                 "-pix_fmt", "pal8", out]);
    fs.unlinkSync(raw);
  } catch (e) {
    fs.renameSync(raw, out);
  }
  console.log(out + ": " + fs.statSync(out).size + " bytes (" + status + ")");
})().catch((e) => { console.error("FAIL: " + (e && e.stack || e)); process.exit(1); });
