//! Oathkeeper's access rules as a stack starts them: the config folder's
//! `rules.json` (the last overlay's, when one has it), each rule whose
//! upstream is the placeholder sent to the harness's upstream instead,
//! handed to Oathkeeper inline (`ACCESS_RULES_REPOSITORIES=inline://...`)
//! since the upstream's port is known only now.

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::webhook::WebhookSink;

use super::containers::Spec;

/// The upstream a rule names to be sent to the harness's.
pub const PLACEHOLDER: &str = "http://upstream.orygate.test";

/// Starts the upstream and hands Oathkeeper its rules, pointed at it.
pub(super) async fn upstream(spec: &mut Spec) -> Result<WebhookSink> {
    let upstream = WebhookSink::start().await?;
    let rules = rules(spec, &upstream)?;
    spec.env.retain(|(k, _)| k != "ACCESS_RULES_REPOSITORIES");
    spec.env.push(("ACCESS_RULES_REPOSITORIES".into(), rules));
    Ok(upstream)
}

/// The rules' repository for Oathkeeper's environment.
fn rules(spec: &Spec, upstream: &WebhookSink) -> Result<String> {
    let path = spec
        .overlays
        .iter()
        .rev()
        .map(|o| o.join("rules.json"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| spec.config_dir.join("rules.json"));
    let bad = |reason: String| Error::Config {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let mut rules: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a JSON list of rules: {e}")))?;
    let to = upstream.url("");
    let to = to.as_str().trim_end_matches('/');
    for rule in &mut rules {
        if let Some(url) = rule.pointer_mut("/upstream/url")
            && url
                .as_str()
                .is_some_and(|u| u.trim_end_matches('/') == PLACEHOLDER)
        {
            *url = Value::from(to);
        }
    }
    let json = serde_json::to_vec(&rules).map_err(|e| bad(e.to_string()))?;
    Ok(format!(
        "inline://{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    ))
}
