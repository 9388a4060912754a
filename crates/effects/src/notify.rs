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
