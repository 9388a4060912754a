//! Teams: posts the notice `kv_jit_core::notice` renders. Best effort: the caller reports a
//! failure and never undoes a grant or revoke for it.

/// Posts `card` to the webhook in `url`. Errors name the variable, never the URL.
pub async fn post_teams(url: &str, variable: &str, card: &serde_json::Value) -> Result<(), String> {
    let parsed = kv_jit_core::azure::parse_endpoint_url(url).map_err(|_| {
        format!("{variable} does not hold an https URL (plain http only on loopback); nothing was posted")
    })?;
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|_| "cannot build an HTTP client for the Teams webhook".to_owned())?;
    let resp = client.post(parsed).json(card).send().await.map_err(|e| {
        format!(
            "posting to the Teams webhook in {variable} failed ({})",
            if e.is_timeout() {
                "timed out"
            } else {
                "could not connect"
            }
        )
    })?;
    if !resp.status().is_success() {
        return Err(format!(
            "the Teams webhook in {variable} answered HTTP {}",
            resp.status().as_u16()
        ));
    }
    Ok(())
}

/// The engine's [`Notifier`]: the job summary (appended to `GITHUB_STEP_SUMMARY`) and the Teams
/// card. A failed announcement is a warning: the ledger, not the chat, is the record.
pub struct Announcer {
    /// `GITHUB_STEP_SUMMARY`, when set.
    pub summary_path: Option<std::path::PathBuf>,
    /// The config's `teams_webhook_env`, and that variable's value when set.
    pub teams: Option<(String, Option<String>)>,
}

impl kv_jit_engine::ports::Notifier for Announcer {
    async fn announce(
        &self,
        title: &str,
        run_url: Option<&str>,
        new: &[kv_jit_core::ledger::NewEntry],
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(path) = &self.summary_path {
            use std::io::Write;
            let md = kv_jit_core::notice::summary_markdown(title, new);
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut f| f.write_all(md.as_bytes()))
            {
                warnings.push(format!("cannot write the job summary: {e}"));
            }
        }
        match &self.teams {
            None => {}
            Some((variable, None)) => {
                warnings.push(format!("{variable} is not set; no Teams card was posted"));
            }
            Some((variable, Some(url))) => {
                let card = kv_jit_core::notice::teams_card(title, run_url, new);
                if let Err(m) = post_teams(url, variable, &card).await {
                    warnings.push(m);
                }
            }
        }
        warnings
    }
}
