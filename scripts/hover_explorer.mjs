// Hover check of the offline UMAP explorer in headless Chromium (Debian `chromium`).
//   npm install playwright-core && node scripts/hover_explorer.mjs $PWD/reports/analysis/umap_explorer.html out.png
// Prints whether a tooltip with a face thumbnail appeared, and saves a screenshot.
import { chromium } from 'playwright-core';
const [html, png] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
await page.goto('file://' + html);
await page.waitForSelector('canvas');
await page.waitForTimeout(1500);
// sweep the mouse over the plot until a tooltip with an <img> appears
let found = false;
for (let y = 80; y < 640 && !found; y += 6) {
  for (let x = 60; x < 720 && !found; x += 6) {
    await page.mouse.move(x, y);
    const n = await page.evaluate(() => {
      const q = (root) => root.querySelectorAll('img').length + [...root.querySelectorAll('*')].filter(e => e.shadowRoot).reduce((a, e) => a + q(e.shadowRoot), 0);
      return q(document);
    });
    if (n > 0) { found = true; console.log('tooltip image at', x, y); }
  }
}
await page.screenshot({ path: png });
console.log('hover tooltip with face thumbnail:', found);
await browser.close();
