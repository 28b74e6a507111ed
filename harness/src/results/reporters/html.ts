// A static HTML report of one night that reads well opened from disk: no
// server, no network. Tables are plain HTML; the history plots are drawn by
// uPlot, whose script and stylesheet are copied into the file.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { reportsOn, type NightReport, type ReportBug, type ReportCrash, type ReportTest } from '../report.ts';
import type { PageDump } from '../records.ts';
import { stackLines } from './stack.ts';

const require = createRequire(import.meta.url);

let bundled: { js: string; css: string } | null = null;
function uplot(): { js: string; css: string } {
  bundled ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return bundled;
}

export function esc(s: unknown): string {
  return String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** JSON inside a <script> element: nothing in it may close the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const CLASS_LABEL: Record<string, string> = {
  regression: 'REGRESSION', new: 'new', flaky: 'flaky', 'still-failing': 'still failing', error: 'harness error', gone: 'gone',
  fixed: 'fixed', xpass: 'XPASS', xfail: 'XFAIL', skip: 'skip', pass: 'pass',
};

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.c-regression,.c-new-fail{background:#fdd}.c-flaky{background:#ffe9c7}.c-fixed{background:#dfd}
.c-still-failing{background:#f6e0e0}.c-error,.c-gone{background:#eee}.badge{font-weight:600}
.counts span{margin-right:1em}.plot{display:inline-block;width:180px;height:60px}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:12px}.crash{border:1px solid #ccc;padding:.5em 1em;margin:1em 0}
.new{color:#b00;font-weight:600}.muted{color:#777}
`;

const SCRIPT = `
(function(){
  var data = JSON.parse(document.getElementById('night-data').textContent);
  var els = document.querySelectorAll('[data-plot]');
  for (var i = 0; i < els.length; i++) {
    var el = els[i], t = data.tests[+el.getAttribute('data-test')], kind = el.getAttribute('data-plot');
    var xs = [], ys = [];
    for (var j = 0; j < t.h.length; j++) {
      xs.push(j + 1);
      if (kind === 'rate') {
        var from = Math.max(0, j - 9), f = 0;
        for (var k = from; k <= j; k++) f += t.h[k][0];
        ys.push(100 * f / (j - from + 1));
      } else ys.push(t.h[j][1] / 1000);
    }
    var opts = {
      width: 180, height: 60, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false }, y: kind === 'rate' ? { range: [0, 100] } : { auto: true } },
      axes: [{ show: false }, { size: 34, font: '10px sans-serif', ticks: { show: false } }],
      series: [{}, { stroke: kind === 'rate' ? '#c33' : '#36c', width: 1.5, points: { show: t.h.length < 3 } }]
    };
    new uPlot(opts, [xs, ys], el);
    el.setAttribute('data-drawn', '1');
  }
  document.body.setAttribute('data-plots', String(els.length));
})();
`;

const PAGE_FIELDS: (keyof PageDump)[] = ['page', 'pfn', 'refcount', 'mapcount', 'folioMapcount', 'entireMapcount', 'nrPagesMapped', 'pincount', 'order', 'mapping', 'index', 'head', 'kind', 'flagsRaw', 'pageType', 'assertion', 'assertMacro', 'reason', 'format'];

function crashHtml(c: ReportCrash, i: number): string {
  const pd = c.pageDump;
  const fields = pd ? PAGE_FIELDS.filter((k) => pd[k] !== null && pd[k] !== undefined && pd[k] !== '').map((k) => `<tr><th>${esc(k)}</th><td>${esc(Array.isArray(pd[k]) ? (pd[k] as string[]).join(', ') : pd[k])}</td></tr>`) : [];
  const stack = stackLines(c.frames);
  return `<div class="crash" id="crash-${i}" data-signature="${esc(c.signature)}">
<h3>${c.isNew ? '<span class="new">NEW</span> ' : ''}${esc(c.title)}</h3>
<p>${esc(c.type)}${c.reason ? ` — ${esc(c.reason)}` : ''}. ${c.isNew ? 'First seen tonight' : `Seen ${c.count}× on ${c.nights} nights, first ${esc(c.firstSeen)}, last ${esc(c.lastSeen)}`}. In: ${c.where.map((w) => `${esc(w.cellKey)}${w.testKey ? ` ${esc(w.testKey)}` : ''}`).join('; ')}</p>
${fields.length ? `<table class="pagedump"><caption>page dump</caption>${fields.join('')}</table>` : ''}
${stack.length ? `<p>stack:</p><pre class="stack">${esc(stack.join('\n'))}</pre>` : ''}
<details><summary>report (${c.lines.length} lines)</summary><pre>${esc(c.lines.join('\n'))}</pre></details>
<p class="muted">dedup key: ${esc(c.signature)}<br>match key: ${esc(c.matchKey)}</p>
</div>`;
}

const short = (c: string) => esc(c.slice(0, 12));

/** One bug report: what, the culprit its bisection blamed, and the mail ready to send. */
function reportHtml(b: ReportBug, base: string): string {
  const culprit = b.culprit
    ? `${b.culprit.commit ? `<code>${short(b.culprit.commit)}</code> ` : ''}“${esc(b.culprit.subject)}” by ${esc(b.culprit.author)}`
    : `<span class="muted">not bisected yet (appeared in <code>${short(b.range.good)}..${short(b.range.bad)}</code>)</span>`;
  const fixed = b.fixed ? `fixed in <code>${short(b.fixed.from)}..${short(b.fixed.to)}</code> (night ${esc(b.fixed.night)})` : '';
  return `<tr class="report-row" id="report-${esc(b.id)}" data-report="${esc(b.id)}" data-status="${esc(b.status)}">
<td>${esc(b.id)}</td><td class="badge">${esc(b.status)}</td><td>${esc(b.title)}</td><td>${esc(b.cellKey)}<br>${esc(b.testKey)}</td><td>${culprit}${fixed ? `<br>${fixed}` : ''}</td>
<td>${b.bisectId ? `<a href="${esc(base + b.bisectId)}/summary.txt">${esc(b.bisectId)}</a>` : '—'}</td><td>${b.eml ? `<a href="${esc(base + b.eml)}">report.eml</a>` : '—'}</td></tr>`;
}

/** `linkBase`: the results root as seen from where the report file is written (run dirs are linked under it). */
export function formatHtml(r: NightReport, opts: { linkBase?: string } = {}): string {
  const base = opts.linkBase ?? '';
  const { js, css } = uplot();
  const tests = r.tests;
  const idx = new Map(tests.map((t, i) => [t, i]));
  const cls = (t: ReportTest) => (t.cls === 'new' && t.attempts.failed ? 'new-fail' : t.cls);
  const row = (t: ReportTest) => {
    const i = idx.get(t)!;
    return `<tr class="test-row c-${cls(t)}" data-class="${t.cls}" data-cell="${esc(t.cellKey)}" data-test-key="${esc(t.key)}">
<td>${esc(t.cellKey)}</td><td>${esc(t.key)}</td><td class="badge">${esc(CLASS_LABEL[t.cls])}</td><td>${esc(t.detail)}${t.reason && t.attempts.failed ? `<br><span class="muted">${esc(t.reason)}</span>` : ''}${t.crashes.length ? `<br>${t.crashes.map((s) => `<a href="#crash-${r.crashes.findIndex((c) => c.signature === s)}">crash</a>`).join(' ')}` : ''}${reportsOn(r, t.cellKey, t.key).map((b) => ` <a class="report-link" href="#report-${esc(b.id)}">report${b.culprit ? ': culprit found' : ''}</a>`).join('')}</td>
<td>${(t.durationMs / 1000).toFixed(1)} s</td><td>${t.log ? `<a href="${esc(base + t.log)}">log</a>` : ''}</td>
<td><div class="plot" data-plot="rate" data-test="${i}"></div></td><td><div class="plot" data-plot="duration" data-test="${i}"></div></td></tr>`;
  };
  const head = '<tr><th>cell</th><th>test</th><th>class</th><th>detail</th><th>time</th><th>log</th><th>failure rate (10-night window)</th><th>duration (s)</th></tr>';
  const attention = tests.filter((t) => t.cls === 'regression' || (t.cls === 'new' && t.attempts.failed));
  const counts = Object.entries(r.counts)
    .filter(([, v]) => v)
    .map(([k, v]) => `<span class="count-${k}">${v} ${esc(CLASS_LABEL[k])}</span>`)
    .join('');
  const data = { night: r.night.id, tests: tests.map((t) => ({ k: `${t.cellKey} ${t.key}`, h: t.history.map((h) => [h.failed ? 1 : 0, h.durationMs]) })) };
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dax-harness night ${esc(r.night.id)}</title>
<style>${css}</style><style>${STYLE}</style></head>
<body>
<h1>dax-harness night ${esc(r.night.id)}</h1>
<p id="overview">${esc(r.night.status)} · ${r.cells.length} cells · ${tests.length} tests · started ${esc(r.night.started_at)}${r.night.ended_at ? ` · ended ${esc(r.night.ended_at)}` : ''}${r.night.baseline ? ` · baseline ${esc(r.night.baseline)}` : ' · baseline: the previous night of each cell'}</p>
<p class="counts">${counts}${r.crashes.length ? `<span>${r.crashes.length} crash signature(s), ${r.crashes.filter((c) => c.isNew).length} new</span>` : ''}</p>
<h2 id="regressions">Regressions and new failures (${attention.length})</h2>
${attention.length ? `<table id="regressions-table">${head}${attention.map(row).join('\n')}</table>` : '<p>None.</p>'}
<h2 id="reports">Bug reports (${r.reports.length})</h2>
${r.reports.length ? `<table id="reports-table"><tr><th>report</th><th>status</th><th>title</th><th>cell / test</th><th>culprit</th><th>bisection</th><th>mail</th></tr>
${r.reports.map((b) => reportHtml(b, base)).join('\n')}</table>` : '<p>None.</p>'}
<h2 id="crashes">Crashes (${r.crashes.length})</h2>
${r.crashes.length ? r.crashes.map(crashHtml).join('\n') : '<p>None.</p>'}
<h2 id="tests">All tests, with history</h2>
<table id="tests-table">${head}${tests.map(row).join('\n')}</table>
<h2 id="cells">Cells</h2>
<table id="cells-table"><tr><th>cell</th><th>kernel</th><th>suite</th><th>mode</th><th>topology</th><th>status</th><th>baseline</th><th>runs</th></tr>
${r.cells.map((c) => `<tr class="cell-row"><td>${esc(c.key)}</td><td>${esc(c.axes.kernel)}</td><td>${esc(c.axes.suite)}</td><td>${esc(c.axes.mode)}</td><td>${esc(c.axes.topology)}</td><td>${esc(c.status)}${c.reason ? `<br><span class="muted">${esc(c.reason)}</span>` : ''}</td><td>${esc(c.baselineNight ?? '—')}</td><td>${c.runs.map((x) => `<a href="${esc(base + x.dir)}/run.json">${esc(x.role)}</a>`).join(' ')}</td></tr>`).join('\n')}
</table>
<h2 id="kernels">Kernels</h2>
<table id="kernels-table"><tr><th>kernel</th><th>status</th><th>prepared in</th><th>detail</th></tr>
${r.kernels.map((k) => `<tr><td>${esc(k.name)}</td><td>${esc(k.status)}</td><td>${(k.duration_ms / 1000).toFixed(1)} s</td><td>${esc(k.reason || (k.artifact ? (JSON.parse(k.artifact) as { label?: string }).label : ''))}</td></tr>`).join('\n')}
</table>
<script type="application/json" id="night-data">${scriptJson(data)}</script>
<script>${js}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
