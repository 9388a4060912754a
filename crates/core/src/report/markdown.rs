//! The Markdown form: GitHub Flavored Markdown that reads as plain text on a terminal and fits
//! a GitHub job summary. Every ledger string goes through [`text::md`].

use std::fmt::Write as _;

use super::model::{EndClass, Report};
use super::text::{self, md};

/// Renders `r`. When the chain is broken, the first line says where.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    if let Some(b) = &r.chain_break {
        let _ = writeln!(
            o,
            "**Ledger chain broken at line {}: {}.** This report covers only the {} entries before it, which verify; run `kv-jit audit verify`.",
            b.line,
            md(&b.problem),
            r.entries
        );
        o.push('\n');
    }
    o.push_str("# kv-jit access report\n\n");
    let _ = writeln!(o, "{}\n", header(r));
    if let Some(empty) = empty_note(r) {
        let _ = writeln!(o, "{empty}");
        return o;
    }

    let t = &r.totals;
    o.push_str("## Totals\n\n");
    o.push_str("| grants | people | secrets | hours of access | revoke lag p50 / p95 / max | break-glass | refusals | failures |\n");
    o.push_str("|---:|---:|---:|---:|---|---:|---:|---:|\n");
    let lag = t.revoke_lag.map_or_else(
        || "— (no expired grant revoked)".to_owned(),
        |l| {
            format!(
                "{} / {} / {} (over {} revokes)",
                text::lag(Some(l.p50_seconds)),
                text::lag(Some(l.p95_seconds)),
                text::lag(Some(l.max_seconds)),
                l.count
            )
        },
    );
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | {lag} | {} | {} | {} |\n",
        t.grants,
        t.people,
        t.secrets,
        text::hours(t.access_seconds),
        t.break_glass,
        t.refusals,
        t.failures
    );
    let classes: Vec<String> = t
        .by_class
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| format!("{} {}", c.class.label(), c.count))
        .collect();
    if !classes.is_empty() {
        let _ = writeln!(o, "How grants ended: {}.\n", classes.join(" · "));
    }

    if !r.grants.is_empty() {
        o.push_str("## By secret\n\n");
        for (target, grants) in r.by_target() {
            let people: std::collections::BTreeSet<String> =
                grants.iter().map(|g| g.person()).collect();
            let secs: i64 = grants.iter().map(|g| g.access_seconds).sum();
            let _ = writeln!(
                o,
                "### {}\n\n{} grant(s), {} person(s), {} of access.\n",
                md(&target),
                grants.len(),
                people.len(),
                text::hours(secs)
            );
            o.push_str(
                "| who | request | window | approved by | PR | how it ended | revoke lag |\n",
            );
            o.push_str("|---|---|---|---|---|---|---|\n");
            for g in grants {
                let mut ended = md(&text::ending(g));
                if g.end_class == EndClass::BreakGlass {
                    ended = format!("**break-glass**; {ended}");
                }
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {ended} | {} |",
                    md(&g.person()),
                    md(g.request.as_deref().unwrap_or("—")),
                    md(&text::window(g)),
                    md(&text::approvers(g)),
                    text::pr(g),
                    text::lag(g.lag_seconds),
                );
            }
            o.push('\n');
        }

        o.push_str("## By person\n\n");
        o.push_str("| person | grants | secrets | hours of access | break-glass | ended early | still active |\n");
        o.push_str("|---|---:|---|---:|---:|---:|---:|\n");
        for p in r.person_rows() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&p.person),
                p.grants,
                md(&p.targets),
                text::hours(p.access_seconds),
                p.break_glass,
                p.early,
                p.active,
            );
        }
        o.push('\n');
    }

    if !r.refusals.is_empty() {
        o.push_str("## Refusals\n\n| reason | count |\n|---|---:|\n");
        for c in &t.refusals_by_reason {
            let _ = writeln!(o, "| {} | {} |", md(&c.reason), c.count);
        }
        o.push_str("\n| when | request | requester | why |\n|---|---|---|---|\n");
        for f in &r.refusals {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                text::time(f.time),
                md(f.request.as_deref().unwrap_or("—")),
                md(f.requester.as_deref().unwrap_or("—")),
                md(&f.error)
            );
        }
        o.push('\n');
    }

    if !r.failures.is_empty() {
        o.push_str("## Failed attempts\n\n| when | event | request | error |\n|---|---|---|---|\n");
        for f in &r.failures {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                text::time(f.time),
                f.event,
                md(f.request.as_deref().unwrap_or("—")),
                md(&f.error)
            );
        }
        o.push('\n');
    }
    o.push_str(
        "Lag is the time from a window's end to the revoke (negative: revoked early). Hours of access count from the role assignment to its removal (or to the report's end), inside the range.\n",
    );
    o
}

/// `Ledger `PATH` · 12 entries · from … to … · vault V · as of …` (escaped).
pub fn header(r: &Report) -> String {
    let mut h = format!("Ledger {} · {} entries verified", md(&r.ledger), r.entries);
    let range = super::range_words(r);
    let _ = write!(h, " · {range}");
    if let Some(v) = &r.vault {
        let _ = write!(h, " · vault {}", md(v));
    }
    let _ = write!(h, " · as of {}", text::time(r.as_of));
    h
}

/// The sentence an empty report is, if it is one (escaped for Markdown).
pub fn empty_note(r: &Report) -> Option<String> {
    super::empty_words(r).map(|s| md(&s))
}
