"""Draws bench results (JSON lines) as an SVG bar chart: records/s per worker per
workload and worker count, with the target of each workload as a tick."""
import json
import sys

TARGETS = {  # records/s per worker, from the issues
    "gen-keyby-count-blackhole": 5e6,
    "file-parse-blackhole": 2e6,
    "file-parse-keyby-count-file": 1.5e6,
    "limit-simdjson-parse": 3.4e6,
    "reference-file-plain": 1.2e6,
    "reference-file-zstd": 0.6e6,
}

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rows = [r for r in rows if r["workload"] in TARGETS]
W, bar, gap, left, top = 900, 26, 14, 260, 40
H = top + len(rows) * (bar + gap) + 40
vmax = max([r["records_per_s_per_worker"] for r in rows] + list(TARGETS.values())) * 1.1
x = lambda v: left + (W - left - 30) * v / vmax
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<text x="{left}" y="20" font-size="14">records/s per worker (bar) and target (red tick)</text>']
for i, r in enumerate(rows):
    y = top + i * (bar + gap)
    v = r["records_per_s_per_worker"]
    t = TARGETS[r["workload"]]
    out.append(f'<text x="{left - 8}" y="{y + bar * 0.65}" text-anchor="end">{r["workload"]} ×{r["workers"]}</text>')
    out.append(f'<rect x="{left}" y="{y}" width="{x(v) - left:.1f}" height="{bar}" fill="#4a7bb7"/>')
    out.append(f'<text x="{x(v) + 4:.1f}" y="{y + bar * 0.65}">{v / 1e6:.2f} M/s</text>')
    out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y - 3}" y2="{y + bar + 3}" stroke="#c0392b" stroke-width="3"/>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
