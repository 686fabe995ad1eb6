// Screenshots of what a user sees after a run, taken by a real headless browser, offline:
// the run report, the MLflow runs table (sorted by the selection metric) and the model page.
// node scripts/ui_shots.mjs <ui url> <experiment id> <model name> <report.html> <out dir> <metric>
// Prints one JSON line per page; exits 1 when a page misses what it must show (the champion
// marked, the dataset, readable names), so a check built on it can fail.
import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";

const [ui, experiment, model, report, out, metric] = process.argv.slice(2);
const browser = await puppeteer.launch({
  args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
  defaultViewport: { width: 1600, height: 1000 },
});
const problems = [];
const testMetric = metric.replace(/^val_/, "test_");

// The runs table shows no metric column until one is picked: pick them as a user does
// (Columns, search, click), so the screenshot shows the figures the champion won by.
async function pickColumns(page, metrics) {
  for (const metric of metrics) {
    const [button] = await page.$$("xpath/.//button[contains(., 'Columns')]");
    await button.click();
    await new Promise((r) => setTimeout(r, 800));
    await (await page.$('input[placeholder="Search columns"]')).type(metric);
    await new Promise((r) => setTimeout(r, 800));
    for (const item of await page.$$(".du-bois-light-tree-title")) {
      if ((await item.evaluate((e) => e.innerText.trim())) === metric) { await item.click(); break; }
    }
    await page.keyboard.press("Escape");
    await new Promise((r) => setTimeout(r, 800));
  }
}

async function shot(name, url, must, prepare) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: "networkidle0", timeout: 60000 });
  await new Promise((r) => setTimeout(r, 2500));
  const [close] = await page.$$('button[aria-label="Close"]');  // MLflow's assistant panel
  if (close) { await close.click(); await new Promise((r) => setTimeout(r, 800)); }
  if (prepare) await prepare(page);
  await page.screenshot({ path: `${out}/${name}.png` });
  const text = await page.evaluate(() => document.body.innerText);
  const missing = must.filter((m) => !(m instanceof RegExp ? m.test(text) : text.includes(m)))
    .map(String);
  if (missing.length || errors.length) problems.push({ name, missing, errors });
  console.log(JSON.stringify({ page: name, url, missing, errors }));
  await page.close();
}

await shot("report", `file://${report}`, ["Winner:", "Leaderboard", "Lineage", "champion"]);
await shot(
  "runs",
  `${ui}/#/experiments/${experiment}/runs?orderByKey=metrics.%60${metric}%60&orderByAsc=false`,
  ["\u2605 champion", "Dataset", `Sort: ${metric}`, "Metrics", testMetric],
  (page) => pickColumns(page, [metric, testMetric]),
);
await shot("model", `${ui}/#/models/${model}`, [model, /@\s*champion/, "schema_hash"]);
await browser.close();
process.exit(problems.length ? 1 : 0);
