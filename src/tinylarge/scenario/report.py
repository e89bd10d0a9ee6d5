"""``report.html``: one self-contained page (inline CSS, PNGs inlined as data URIs, no network)
with the sections of issue 16; the PNGs are also written beside it under ``plots/``.

Every section is a ``<section id=...>`` listed in :data:`SECTIONS`; a short inline script marks
``<body data-rendered="ok">`` once every image decoded, which the headless-browser test reads.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path
from typing import Any

SECTIONS = {
    "pipeline": "Pipeline summary",
    "devices": "Device fit",
    "over-time": "Accuracy, latency and energy over time",
    "offload": "Accuracy vs offload",
    "latency-cdf": "Latency CDFs",
    "rollout": "Rollout timeline",
    "intents": "Intents applied",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}header{background:#1d2b45;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8}
main{max-width:1100px;margin:0 auto;padding:12px 24px 40px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;margin:16px 0;
padding:14px 20px}
h2{font-size:17px;margin:4px 0 10px}table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border-bottom:1px solid #e3e6ea;padding:4px 10px;text-align:right}th{background:#f0f2f5}
td:first-child,th:first-child{text-align:left}img{max-width:100%;height:auto}
.kpis{display:flex;flex-wrap:wrap;gap:10px}.kpi{background:#eef3fb;border-radius:6px;
padding:8px 14px;min-width:150px}.kpi b{display:block;font-size:20px}.ok{color:#137333}
.bad{color:#b3261e}.note{font-size:12px;color:#5f6672}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-rendered', ok ? 'ok' : 'broken-image');
});
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _kpis(items: list[tuple[str, str, str]]) -> str:
    cells = "".join(f'<div class="kpi {cls}">{_e(k)}<b>{_e(v)}</b></div>' for k, v, cls in items)
    return f'<div class="kpis">{cells}</div>'


def _pipeline(m: dict) -> str:
    rows = []
    models = {"teacher": m.get("teacher")} | (m.get("students") or {"student": m.get("student")})
    for role, r in models.items():
        if r:
            rows.append(
                [
                    role,
                    _arch(r),
                    f"{r['params']:,}",
                    f"{r['macs']:,}",
                    _pct(r["accuracy"]),
                    _pct(r.get("int8_accuracy")),
                    ", ".join(r.get("devices", [])),
                ]
            )
    cols = ["model", "arch", "params", "MACs", "float accuracy", "int8 (TFLM)", "runs on"]
    out = _table(cols, rows)
    if "codegen" in m:
        c = m["codegen"]
        out += (f"<p>Generated C: arena {c['arena_bytes']:,} B vs TFLM "
                f"{c['tflm_arena_bytes']:,} B, "
                f"bit-exact with TFLM on the host: {c['bit_exact_host']}.</p>")  # fmt: skip
    cascades = {n: r["cascade"] for n, r in (m.get("students") or {}).items() if "cascade" in r}
    if not cascades and "cascade" in m:
        cascades = {"student": m["cascade"]}
    for name, c in cascades.items():
        out += (f"<p>Cascade of {_e(name)} ({_e(c['gate'])} gate, threshold "
                f"{c['threshold']:.4f}) on {_e(c['device'])}: {_pct(c['accuracy'])} "
                f"(teacher {_pct(c['big_accuracy'])}) offloading {_pct(c['offload_fraction'])}."
                "</p>")  # fmt: skip
    out += _patterns(m.get("patterns"))
    loop = m.get("loop")
    if loop:
        ok = loop["drift_recovered"]
        out += _kpis([
            ("devices", str(loop["n_devices"]), ""),
            ("pre-drift accuracy", _pct(loop["pre_drift_accuracy"]), ""),
            ("worst after drift", _pct(loop["worst_after_drift_accuracy"]), ""),
            ("final accuracy", _pct(loop["final_accuracy"]), ""),
            ("drift recovered", "yes" if ok else "no", "ok" if ok else "bad"),
            ("model versions", str(len(loop["versions"])), ""),
        ])  # fmt: skip
    timings = m.get("timings_s", {})
    if timings:
        out += (
            '<p class="note">Stage times (s): '
            + _e(", ".join(f"{k} {v}" for k, v in timings.items()))
            + "</p>"
        )
    return out


def _patterns(p: dict | None) -> str:
    """The early exit and split the deploy stage built (when the policy names them)."""
    if not p:
        return ""
    out = ""
    if "early-exit" in p:
        e = p["early-exit"]
        out += (f"<p>Early exit after block {e['exit_after']} of the student ({_e(e['gate'])} gate,"
                f" threshold {e['threshold']:.3f}): {_pct(e['accuracy'])} with "
                f"{_pct(e['exit_fraction'])} exiting on the device (side exit "
                f"{_pct(e['side_exit_accuracy'])}, final exit {_pct(e['final_exit_accuracy'])}); "
                "the rest of the student runs on the device.</p>")  # fmt: skip
    if "split" in p:
        s = p["split"]
        out += (f"<p>Split after block {s['cut']} of the teacher: the device sends "
                f"{s['activation_bytes']:,} B of int8 activation per request (raw input: "
                f"{s['input_bytes']:,} B, never sent); the server runs the tail.</p>")  # fmt: skip
    return out + f'<p class="note">{_e(p["note"])}.</p>'


def _arch(r: dict) -> str:
    s = r.get("spec") or {}
    return " ".join([r["arch"], *(f"{k[0]}{s[k]}" for k in ("width", "depth") if k in s)])


def _fleet_fit(m: dict, fleet: dict) -> str:
    """One row per device type of the fleet: the student it runs, measured on that device."""
    rows = []
    for name, r in (m.get("students") or {}).items():
        prof = {p["device"]: p for p in r.get("profile", [])}
        for dev in r.get("devices", []):
            p = prof.get(dev)
            if p is None:
                continue
            thr = r.get("cascade", {}).get("threshold")
            rows.append(
                [
                    dev,
                    fleet[dev]["count"],
                    name,
                    _arch(r),
                    _pct(r.get("int8_accuracy")),
                    "yes" if p["fits"] else "no",
                    f"{p['flash_bytes']:,}",
                    f"{p['ram_bytes']:,}",
                    f"{1e3 * p['latency_s']:.2f}",
                    f"{1e3 * p['energy_j']:.4f}",
                    "-" if thr is None else f"{thr:.4f}",
                ]
            )
    if not rows:
        return ""
    cols = ["device type", "in fleet", "student", "arch", "int8 acc", "fits", "flash B", "RAM B",
            "latency ms", "energy mJ", "gate threshold"]  # fmt: skip
    return "<h3>The fleet: each device type's student</h3>" + _table(cols, rows)


def _devices(m: dict) -> str:
    fleet = {g["device"]: g for g in m["scenario"].get("fleet", [])}
    out = _fleet_fit(m, fleet)
    students = {n: r for n, r in (m.get("students") or {}).items() if r.get("profile")}
    if not students:
        students = {"student": {"profile": m.get("profile", [])}}
    for name, r in students.items():
        out += f"<h3>{_e(name)} on the microcontroller catalog</h3>" + _catalog(r["profile"], fleet)
    return out + '<p class="note">Latency and energy: the catalog cost model.</p>'


def _catalog(profile: list[dict], fleet: dict) -> str:
    rows = [
        [
            p["device"],
            "yes" if p["fits"] else "no",
            f"{p['flash_bytes']:,}",
            f"{p['ram_bytes']:,}",
            f"{1e3 * p['latency_s']:.2f}",
            f"{1e3 * p['energy_j']:.4f}",
            fleet[p["device"]]["count"] if p["device"] in fleet else "-",
        ]  # fmt: skip
        for p in profile
    ]
    cols = ["device", "fits", "flash B", "RAM B", "latency ms", "energy mJ", "in fleet"]
    return _table(cols, rows)


def _detail(event: dict) -> str:
    """An event's reason, plus a federated update's traffic and simulated round time."""
    text, fed = event.get("reason") or "", event.get("federated")
    if fed:
        text += (f"; {fed['bytes_up'] / 1e3:,.1f} kB up, {fed['bytes_down'] / 1e3:,.1f} kB down"
                 f" ({fed['model_bytes']:,} B model x {fed['n_clients']} clients x "
                 f"{fed['rounds']} rounds), {fed['sim_time_s']:.2f} s simulated")  # fmt: skip
    return text


def _rollout_rows(loop: dict) -> list[list[Any]]:
    per_device = Counter(
        (e["tick"], e["version"], e["event"]) for e in loop["events"] if "device" in e
    )
    rows = [[e["tick"], f"v{e['version']}", e["event"], _detail(e)]
            for e in loop["events"] if "device" not in e]  # fmt: skip
    rows += [[t, f"v{v}", f"{ev} on {n} device(s)", ""] for (t, v, ev), n in per_device.items()]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def write_html_report(m: dict, run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` (and ``run_dir/plots/*.png``); returns the page's path."""
    from tinylarge.scenario import plots

    plot_dir = run_dir / "plots"
    loop = m.get("loop")
    body = {
        "pipeline": _pipeline(m),
        "devices": _devices(m),
    }
    missing = "<p>No closed loop in this scenario (<code>loop: null</code> or no deploy).</p>"
    if loop:
        body["over-time"] = _img(plots.plot_over_time(loop, plot_dir / "over_time.png"), "time")
        body["offload"] = _img(plots.plot_offload_curves(loop, plot_dir / "offload.png"), "curve")
        body["latency-cdf"] = _img(plots.plot_latency_cdf(loop, plot_dir / "latency_cdf.png"),
                                   "latency CDF")  # fmt: skip
        body["rollout"] = _img(plots.plot_rollout(loop, plot_dir / "rollout.png"), "rollout") + (
            _table(["tick", "version", "event", "detail"], _rollout_rows(loop))
        )
        rows = [[i["tick"], i["text"], "yes" if i.get("accepted") else "no", i.get("kind") or "-",
                 i.get("effect", "")] for i in loop["intents"]]  # fmt: skip
        body["intents"] = (
            _table(["tick", "intent", "accepted", "kind", "effect"], rows)
            if rows
            else "<p>No intents in this scenario.</p>"
        )
    title = f"tinylarge run: {m['scenario'].get('name', '')} ({m['scenario'].get('dataset', '')})"
    sections = "".join(
        f'<section id="{sid}"><h2>{_e(name)}</h2>{body.get(sid, missing)}</section>'
        for sid, name in SECTIONS.items()
    )
    desc = m["scenario"].get("description") or ""
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{_e(desc)}</p></header><main>{sections}</main>"
        f"<script>{SCRIPT}</script></body></html>"
    )
    path = run_dir / "report.html"
    path.write_text(page)
    return path
