//! The one Markdown table the benchmark prints (and writes to `target/bench-table.md`).

/// One row: which figure (`P1`…`P4`, `S`), what was measured, kv-jit's figure, the baseline
/// measured in the same run, their ratio, the goal and whether it was met (empty when the
/// figure has no goal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub what: String,
    pub kv_jit: String,
    pub baseline: String,
    pub ratio: String,
    pub goal: String,
    pub result: String,
}

pub const HEADERS: [&str; 7] = [
    "#",
    "what",
    "kv-jit",
    "baseline (same run)",
    "ratio",
    "goal",
    "met",
];

/// A cell's text: pipes escaped, line breaks flattened (a cell is one line of Markdown).
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The table, header and separator first, one line per row.
pub fn render(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n", HEADERS.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADERS.len())));
    for r in rows {
        let cells = [
            &r.id,
            &r.what,
            &r.kv_jit,
            &r.baseline,
            &r.ratio,
            &r.goal,
            &r.result,
        ];
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// `a / b` to two decimals, or `n/a` when the baseline is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "n/a".into()
    }
}

/// Seconds with three significant decimals.
pub fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.3} s")
    } else {
        format!("{s:.1} s")
    }
}

pub fn pass(ok: bool) -> String {
    if ok { "yes".into() } else { "**no**".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_markdown_table_with_escaped_cells() {
        let rows = [
            Row {
                id: "P1".into(),
                what: "grant 1000, c=8".into(),
                kv_jit: "1.5 s".into(),
                baseline: "0.5 s".into(),
                ratio: ratio(1.5, 0.5),
                ..Row::default()
            },
            Row {
                id: "P2".into(),
                what: "a | b\nc".into(),
                goal: "< 0.5 s".into(),
                result: pass(false),
                ..Row::default()
            },
        ];
        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "| # | what | kv-jit | baseline (same run) | ratio | goal | met |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| P1 | grant 1000, c=8 | 1.5 s | 0.5 s | 3.00 |  |  |"
        );
        assert_eq!(lines[3], "| P2 | a \\| b c |  |  |  | < 0.5 s | **no** |");
        // Every line has the same number of unescaped separators.
        for l in &lines {
            assert_eq!(
                l.replace("\\|", "").matches('|').count(),
                HEADERS.len() + 1,
                "{l}"
            );
        }
    }

    #[test]
    fn formats_figures() {
        assert_eq!(ratio(1.0, 0.0), "n/a");
        assert_eq!(ratio(3.0, 4.0), "0.75");
        assert_eq!(secs(0.12345), "0.123 s");
        assert_eq!(secs(12.345), "12.3 s");
        assert_eq!(pass(true), "yes");
    }
}
