//! Ledgers of any length with every field a real entry carries: granted/revoked pairs of
//! requests that ended long ago (ids `old/…`, which no generated request file uses), chained.
//! Also the ledger of the root's `benches/ledger_verify.rs`.

use std::io::Write;

use chrono::{DateTime, Duration as Span, Utc};
use kv_jit_core::ledger::{
    Approval, Approvals, Event, NewEntry, Reason, Role, Tip, Window, append, to_line,
};

/// Grants and their revokes in equal numbers, with every field a real entry carries.
pub fn write_ledger(path: &std::path::Path, n: u64) -> Result<(), String> {
    let base: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut tip = Tip::genesis();
    let batch = 10_000;
    let mut i = 0;
    while i < n {
        let news: Vec<NewEntry> = (i..(i + batch).min(n)).map(|k| entry(base, k)).collect();
        let entries = append(&tip, news);
        for e in &entries {
            out.write_all(to_line(e).as_bytes())
                .map_err(|e| e.to_string())?;
        }
        tip = Tip::of(&entries);
        i += batch;
    }
    out.flush().map_err(|e| e.to_string())
}

fn entry(base: DateTime<Utc>, k: u64) -> NewEntry {
    let g = k / 2;
    let start = base + Span::minutes(g as i64);
    let expires = start + Span::hours(2);
    let sha = format!("{:064x}", g.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let commit = format!("{:040x}", g.wrapping_mul(0x1234_5678_9abc));
    let granted = NewEntry {
        request: Some(format!("old/alice-api-key-{g}")),
        request_sha256: Some(sha),
        requester: Some("alice@contoso.com".into()),
        principal_id: Some("9a3f0c2e-1b7d-4e55-8c21-6f0d2b7a9e41".into()),
        vault: Some("flowlibs-demo-kv".into()),
        secret: Some("demo-api-key".into()),
        scope: Some(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-flowlibs-demo/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv"
                .into(),
        ),
        role: Some(Role {
            id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            alias: Some("secrets-user".into()),
        }),
        assignment: Some(format!("5f0c8e1a-0000-5000-8000-{g:012x}")),
        window: Some(Window { start, expires }),
        approvals: Some(Approvals {
            pr: 1000 + g,
            commit: commit.clone(),
            by: vec![Approval {
                login: "bob-sec".into(),
                commit,
            }],
            owners: vec![],
        }),
        run_url: Some(format!(
            "https://github.com/contoso/access/actions/runs/{}",
            9_000_000_000 + k
        )),
        ..NewEntry::new(start + Span::seconds(40), Event::Granted)
    };
    if k.is_multiple_of(2) {
        granted
    } else {
        NewEntry {
            time: expires + Span::seconds(150),
            event: Event::Revoked,
            reason: Some(Reason::Expired),
            approvals: None,
            ..granted
        }
    }
}
