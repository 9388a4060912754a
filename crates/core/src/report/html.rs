//! The HTML form: one self-contained page (inline CSS and SVG; no script, font, image or
//! other fetch), well-formed XHTML so any XML parser reads it. The timeline has one row per
//! secret and one bar (`rect.bar.end-<class>`) per grant, stacked in lanes where grants
//! overlap, clipped to the range, with hover text (`<title>`) naming who, approvers and PR.
//! Every ledger string goes through [`text::html`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::model::{EndClass, Grant, Report};
use super::text::{self, html};

const CSS: &str = r#"
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px 32px;color:#1f2328;background:#fff}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#57606a;margin:0 0 16px}
.break{background:#ffebe9;border:1px solid #cf222e;color:#82071e;padding:10px 14px;border-radius:6px;font-weight:600;margin:0 0 16px}
.empty{background:#f6f8fa;border:1px solid #d0d7de;padding:10px 14px;border-radius:6px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 4px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}
.card span{color:#57606a;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:16px;margin:6px 0 8px;font-size:13px}
.legend>span{display:inline-flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:22px;height:12px;border-radius:2px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.n{text-align:right}
.badge{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px;white-space:nowrap}
svg{display:block;max-width:100%;height:auto;border:1px solid #d0d7de;border-radius:6px;background:#fff}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;fill:#1f2328}
svg .tick{fill:#57606a;font-size:11px}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .axis{stroke:#8c959f;stroke-width:1}
svg .row-alt{fill:#f6f8fa}
svg .now{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:4 3}
svg .now-label{fill:#cf222e;font-size:11px}
svg .bar{stroke:#1f2328;stroke-width:0.6}
svg .lag{fill:url(#lag-hatch);stroke:none;pointer-events:none}
svg .clip{fill:#1f2328}
svg .window{fill:none;stroke:#57606a;stroke-width:1;stroke-dasharray:3 2}
svg .refusal{stroke:#cf222e;stroke-width:2.2;stroke-linecap:round}
svg .caption{fill:#57606a;font-size:11px;font-style:italic}
.legend .win{border:1px dashed #57606a;background:none}
.legend .ref{color:#cf222e;font-weight:700;font-size:15px;line-height:12px}
.end-expired{fill:#0072b2;background:#0072b2}
.end-early{fill:#e69f00;background:#e69f00}
.end-orphan{fill:#cc79a7;background:#cc79a7}
.end-drift{fill:#d55e00;background:#d55e00}
.end-break-glass{fill:#882255;background:#882255}
.end-active{fill:#009e73;background:#009e73}
"#;

/// Renders `r` as one page.
pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(16 * 1024 + r.grants.len() * 600);
    o.push_str("<!DOCTYPE html>");
    if let Some(b) = &r.chain_break {
        // The first line says it too, for whoever greps the file.
        let _ = write!(
            o,
            "<!-- ledger chain broken at line {}: {} -->",
            b.line,
            comment(&b.problem)
        );
    }
    o.push('\n');
    o.push_str("<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n");
    // No fetch of any kind: nothing may load from elsewhere, not even by an injected tag.
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"/>\n");
    let _ = writeln!(
        o,
        "<title>kv-jit access report{}</title>",
        if r.chain_break.is_some() {
            " (ledger chain broken)"
        } else {
            ""
        }
    );
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
    if let Some(b) = &r.chain_break {
        let _ = writeln!(
            o,
            "<p class=\"break\">Ledger chain broken at line {}: {}. This report covers only the {} entries before it, which verify; run <code>kv-jit audit verify</code>.</p>",
            b.line,
            html(&b.problem),
            r.entries
        );
    }
    o.push_str("<h1>kv-jit access report</h1>\n");
    let _ = writeln!(o, "<p class=\"meta\">{}</p>", header(r));
    if let Some(empty) = super::empty_words(r) {
        let _ = writeln!(
            o,
            "<p class=\"empty\">{}</p>\n</body>\n</html>",
            html(&empty)
        );
        return o;
    }
    cards(&mut o, r);
    if let Some(span) = r.span()
        && !r.grants.is_empty()
    {
        o.push_str("<h2>Timeline</h2>\n");
        legend(&mut o, r);
        timeline(&mut o, r, span);
    }
    tables(&mut o, r);
    o.push_str("<p class=\"meta\">Lag is the time from a window's end to the revoke (negative: revoked early). Hours of access count from the role assignment to its removal (or to the report's end), inside the range. Generated offline from the ledger; hover a bar for who, approvers and PR.</p>\n");
    o.push_str("</body>\n</html>\n");
    o
}

fn header(r: &Report) -> String {
    let mut h = format!(
        "Ledger <code>{}</code> · {} entries verified · {}",
        html(&r.ledger),
        r.entries,
        html(&super::range_words(r))
    );
    if let Some(v) = &r.vault {
        let _ = write!(h, " · vault <code>{}</code>", html(v));
    }
    let _ = write!(h, " · as of {}", text::time(r.as_of));
    h
}

/// Text safe inside `<!-- -->`: no `--`, no `>`.
fn comment(s: &str) -> String {
    html(s).replace("--", "- -")
}

fn cards(o: &mut String, r: &Report) {
    let t = &r.totals;
    let lag = t.revoke_lag.map_or_else(
        || "—".to_owned(),
        |l| {
            format!(
                "{} / {} / {}",
                text::lag(Some(l.p50_seconds)),
                text::lag(Some(l.p95_seconds)),
                text::lag(Some(l.max_seconds))
            )
        },
    );
    o.push_str("<div class=\"cards\">\n");
    for (value, label) in [
        (t.grants.to_string(), "grants"),
        (t.people.to_string(), "people"),
        (t.secrets.to_string(), "secrets"),
        (text::hours(t.access_seconds), "of access"),
        (lag, "revoke lag p50 / p95 / max"),
        (t.break_glass.to_string(), "break-glass"),
        (t.refusals.to_string(), "refusals"),
        (t.failures.to_string(), "failed attempts"),
    ] {
        let _ = writeln!(
            o,
            "<div class=\"card\"><b>{}</b><span>{label}</span></div>",
            html(&value)
        );
    }
    o.push_str("</div>\n");
}

fn legend(o: &mut String, r: &Report) {
    o.push_str("<div class=\"legend\">");
    for c in &r.totals.by_class {
        let _ = write!(
            o,
            "<span><span class=\"swatch {}\"></span>{} ({})</span>",
            c.class.css(),
            c.class.label(),
            c.count
        );
    }
    o.push_str("<span><span class=\"swatch\" style=\"background:repeating-linear-gradient(135deg,#1f2328 0 2px,#bbb 2px 5px)\"></span>revoke lag after the window ended</span>");
    o.push_str("<span><span class=\"swatch win\"></span>approved window</span>");
    if !r.refusals.is_empty() {
        let _ = write!(
            o,
            "<span><span class=\"ref\">×</span>refusal ({})</span>",
            r.refusals.len()
        );
    }
    o.push_str("</div>\n");
}

const WIDTH: f64 = 1320.0;
const LABEL_W: f64 = 290.0;
const PLOT_X0: f64 = LABEL_W + 10.0;
const PLOT_X1: f64 = WIDTH - 24.0;
const AXIS_H: f64 = 40.0;
const LANE_H: f64 = 16.0;
const LANE_GAP: f64 = 4.0;
const ROW_PAD: f64 = 7.0;
const MIN_BAR: f64 = 3.0;

/// The tick steps, in seconds, and whether labels show the time of day.
const STEPS: [(i64, bool); 14] = [
    (900, true),
    (1800, true),
    (3600, true),
    (2 * 3600, true),
    (3 * 3600, true),
    (6 * 3600, true),
    (12 * 3600, true),
    (86_400, false),
    (2 * 86_400, false),
    (7 * 86_400, false),
    (14 * 86_400, false),
    (28 * 86_400, false),
    (91 * 86_400, false),
    (364 * 86_400, false),
];

fn timeline(o: &mut String, r: &Report, (t0, t1): (DateTime<Utc>, DateTime<Utc>)) {
    let total = (t1 - t0).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| {
        let s = (t - t0).num_seconds() as f64;
        PLOT_X0 + (s / total).clamp(0.0, 1.0) * (PLOT_X1 - PLOT_X0)
    };
    // Rows: one per target; lanes within a row so overlapping grants never hide each other.
    struct Row<'a> {
        label: String,
        lanes: usize,
        bars: Vec<(&'a Grant, usize)>,
    }
    let mut rows = Vec::new();
    for (label, grants) in r.by_target() {
        let mut sorted = grants.clone();
        sorted.sort_by_key(|g| (g.from(), g.line));
        let mut lane_ends: Vec<f64> = Vec::new();
        let mut bars = Vec::new();
        for g in sorted {
            let (Some(from), Some(to)) = (g.from(), g.to(r.as_of)) else {
                continue;
            };
            let (x0, x1) = (x(from), x(to).max(x(from) + MIN_BAR));
            let lane = lane_ends
                .iter()
                .position(|&end| end + 1.0 <= x0)
                .unwrap_or(lane_ends.len());
            if lane == lane_ends.len() {
                lane_ends.push(x1);
            } else {
                lane_ends[lane] = x1;
            }
            bars.push((g, lane));
        }
        rows.push(Row {
            label,
            lanes: lane_ends.len().max(1),
            bars,
        });
    }
    let row_h =
        |lanes: usize| ROW_PAD * 2.0 + lanes as f64 * LANE_H + (lanes - 1) as f64 * LANE_GAP;
    let height = AXIS_H + rows.iter().map(|r| row_h(r.lanes)).sum::<f64>() + 12.0;
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-label=\"Timeline of grants, one row per secret\">"
    );
    o.push_str("<defs><pattern id=\"lag-hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"2\" height=\"5\" fill=\"#1f2328\" fill-opacity=\"0.55\"/></pattern></defs>\n");

    // Row backgrounds and labels.
    let mut y = AXIS_H;
    let mut row_y = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let h = row_h(row.lanes);
        row_y.push(y);
        if i % 2 == 1 {
            let _ = writeln!(
                o,
                "<rect class=\"row-alt\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{h:.1}\"/>"
            );
        }
        let shown = shorten(&row.label, 42);
        let _ = writeln!(
            o,
            "<text class=\"row-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            LABEL_W,
            y + ROW_PAD + LANE_H * 0.8,
            html(&row.label),
            html(&shown)
        );
        y += h;
    }
    let bottom = y;

    // The axis: ticks with dates, and a grid.
    let (step, with_time) = STEPS
        .iter()
        .copied()
        .find(|(s, _)| total / *s as f64 <= 10.0)
        .unwrap_or((364 * 86_400, false));
    let first = (t0.timestamp() + step - 1).div_euclid(step) * step;
    let _ = writeln!(
        o,
        "<line class=\"axis\" x1=\"{PLOT_X0}\" y1=\"{:.1}\" x2=\"{PLOT_X1}\" y2=\"{:.1}\"/>",
        AXIS_H - 0.5,
        AXIS_H - 0.5
    );
    let mut tick = first;
    while tick <= t1.timestamp() {
        if let Some(t) = DateTime::from_timestamp(tick, 0) {
            let tx = x(t);
            let label = if with_time {
                t.format("%m-%d %H:%M").to_string()
            } else {
                t.format("%Y-%m-%d").to_string()
            };
            let _ = writeln!(
                o,
                "<line class=\"grid\" x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{bottom:.1}\"/><text class=\"tick\" x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                AXIS_H - 4.0,
                AXIS_H - 10.0
            );
        }
        tick += step;
    }
    let _ = writeln!(
        o,
        "<text class=\"tick\" x=\"{PLOT_X0}\" y=\"14\">{}</text><text class=\"tick\" x=\"{PLOT_X1}\" y=\"14\" text-anchor=\"end\">{}</text><text class=\"caption\" x=\"{LABEL_W}\" y=\"{:.1}\" text-anchor=\"end\">secret · time (UTC) →</text>",
        text::time(t0),
        text::time(t1),
        AXIS_H - 10.0
    );

    // The approved windows, dashed, behind the bars: a long window shows even when access
    // ended early.
    for (row, &top) in rows.iter().zip(&row_y) {
        for &(g, lane) in &row.bars {
            if let (Some(ws), Some(we)) = (g.window_start, g.window_expires)
                && we > t0
                && ws < t1
            {
                let (wx0, wx1) = (x(ws), x(we));
                let by = top + ROW_PAD + lane as f64 * (LANE_H + LANE_GAP) - 1.5;
                let _ = writeln!(
                    o,
                    "<rect class=\"window\" x=\"{wx0:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\"/>",
                    (wx1 - wx0).max(1.0),
                    LANE_H + 3.0
                );
            }
        }
    }

    // The bars.
    for (row, &top) in rows.iter().zip(&row_y) {
        for &(g, lane) in &row.bars {
            let (Some(from), Some(to)) = (g.from(), g.to(r.as_of)) else {
                continue;
            };
            let x0 = x(from);
            let x1 = x(to).max(x0 + MIN_BAR);
            let by = top + ROW_PAD + lane as f64 * (LANE_H + LANE_GAP);
            let mut title = html_lines(&text::hover(g));
            let clipped_start = from < t0;
            let clipped_end = to > t1;
            if clipped_start || clipped_end {
                title.push_str("\n(clipped to the report's range)");
            }
            let _ = writeln!(
                o,
                "<rect class=\"bar {}\" x=\"{x0:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{LANE_H}\" rx=\"2\" data-line=\"{}\"><title>{title}</title></rect>",
                g.end_class.css(),
                x1 - x0,
                g.line
            );
            // The revoke lag: the part of the bar after the window's end.
            if let (Some(exp), Some(revoked)) = (g.window_expires, g.revoked_at)
                && revoked > exp
                && g.end_class != EndClass::Active
            {
                let lx0 = x(exp.max(from));
                let lx1 = x(revoked);
                if lx1 - lx0 >= 1.0 {
                    let _ = writeln!(
                        o,
                        "<rect class=\"lag\" x=\"{lx0:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{LANE_H}\"/>",
                        lx1 - lx0
                    );
                }
            }
            let mid = by + LANE_H / 2.0;
            if clipped_start {
                let _ = writeln!(
                    o,
                    "<path class=\"clip\" d=\"M{:.1} {mid:.1} l6 -5 v10 z\"/>",
                    PLOT_X0 - 7.0
                );
            }
            if clipped_end {
                let _ = writeln!(
                    o,
                    "<path class=\"clip\" d=\"M{:.1} {mid:.1} l-6 -5 v10 z\"/>",
                    PLOT_X1 + 7.0
                );
            }
        }
    }
    // Refusals, as a cross on their secret's row (when it has one).
    for f in &r.refusals {
        let target = match (&f.vault, &f.secret) {
            (Some(v), Some(s)) => format!("{v}/{s}"),
            (Some(v), None) => format!("{v} (whole vault)"),
            _ => continue,
        };
        let Some(i) = rows.iter().position(|row| row.label == target) else {
            continue;
        };
        if f.time < t0 || f.time > t1 {
            continue;
        }
        let (cx, cy) = (x(f.time), row_y[i] + ROW_PAD + LANE_H / 2.0);
        let _ = writeln!(
            o,
            "<path class=\"refusal\" d=\"M{:.1} {:.1} l8 8 m0 -8 l-8 8\"><title>{}</title></path>",
            cx - 4.0,
            cy - 4.0,
            html_lines(&format!(
                "refused at {}: {}\nrequest: {}\nrequester: {}",
                text::time(f.time),
                f.error,
                f.request.as_deref().unwrap_or("—"),
                f.requester.as_deref().unwrap_or("—")
            ))
        );
    }
    if r.as_of >= t0 && r.as_of <= t1 {
        let nx = x(r.as_of);
        let _ = writeln!(
            o,
            "<line class=\"now\" x1=\"{nx:.1}\" y1=\"{:.1}\" x2=\"{nx:.1}\" y2=\"{bottom:.1}\"/><text class=\"now-label\" x=\"{:.1}\" y=\"{:.1}\">now</text>",
            AXIS_H - 2.0,
            nx + 3.0,
            bottom + 10.0
        );
    }
    o.push_str("</svg>\n");
}

/// Escapes each line; the lines of a `<title>` show as lines of its tooltip.
fn html_lines(s: &str) -> String {
    s.lines().map(html).collect::<Vec<_>>().join("\n")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn badge(g: &Grant) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        g.end_class.css(),
        g.end_class.label()
    )
}

fn tables(o: &mut String, r: &Report) {
    if !r.grants.is_empty() {
        o.push_str("<h2>By secret</h2>\n");
        for (target, grants) in r.by_target() {
            let people: std::collections::BTreeSet<String> =
                grants.iter().map(|g| g.person()).collect();
            let secs: i64 = grants.iter().map(|g| g.access_seconds).sum();
            let _ = writeln!(
                o,
                "<h3>{}</h3>\n<p>{} grant(s), {} person(s), {} of access.</p>",
                html(&target),
                grants.len(),
                people.len(),
                text::hours(secs)
            );
            o.push_str("<table><thead><tr><th>who</th><th>request</th><th>window</th><th>approved by</th><th>PR</th><th>how it ended</th><th>revoke lag</th></tr></thead><tbody>\n");
            for g in grants {
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td class=\"n\">{}</td></tr>",
                    html(&g.person()),
                    html(g.request.as_deref().unwrap_or("—")),
                    html(&text::window(g)),
                    html(&text::approvers(g)),
                    html(&text::pr(g)),
                    badge(g),
                    html(&text::ending(g)),
                    html(&text::lag(g.lag_seconds)),
                );
            }
            o.push_str("</tbody></table>\n");
        }
        o.push_str("<h2>By person</h2>\n<table><thead><tr><th>person</th><th>grants</th><th>secrets</th><th>hours of access</th><th>break-glass</th><th>ended early</th><th>still active</th></tr></thead><tbody>\n");
        for p in r.person_rows() {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                html(&p.person),
                p.grants,
                html(&p.targets),
                text::hours(p.access_seconds),
                p.break_glass,
                p.early,
                p.active,
            );
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.refusals.is_empty() {
        o.push_str("<h2>Refusals</h2>\n<table><thead><tr><th>reason</th><th>count</th></tr></thead><tbody>\n");
        for c in &r.totals.refusals_by_reason {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                html(&c.reason),
                c.count
            );
        }
        o.push_str("</tbody></table>\n<table><thead><tr><th>when</th><th>request</th><th>requester</th><th>why</th></tr></thead><tbody>\n");
        for f in &r.refusals {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text::time(f.time),
                html(f.request.as_deref().unwrap_or("—")),
                html(f.requester.as_deref().unwrap_or("—")),
                html(&f.error)
            );
        }
        o.push_str("</tbody></table>\n");
    }
    if !r.failures.is_empty() {
        o.push_str("<h2>Failed attempts</h2>\n<table><thead><tr><th>when</th><th>event</th><th>request</th><th>error</th></tr></thead><tbody>\n");
        for f in &r.failures {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text::time(f.time),
                html(&f.event),
                html(f.request.as_deref().unwrap_or("—")),
                html(&f.error)
            );
        }
        o.push_str("</tbody></table>\n");
    }
}
