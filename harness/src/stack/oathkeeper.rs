//! Oathkeeper's access rules as a stack starts them: the config folder's
//! rules file (the last overlay's, when one has it), their upstreams sent
//! to the harness's app (see [`Upstreams`]), handed to Oathkeeper inline
//! (`ACCESS_RULES_REPOSITORIES=inline://...`) since the app's port is
//! known only now.

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::oathkeeper::{Upstreams, api_port, read_rules, redirect_upstreams, rules_file};
use crate::service::Endpoints;
use crate::webhook::WebhookSink;

use super::containers::Spec;

/// Hands Oathkeeper its rules, pointed at `app` (and at its own API,
/// `own`, for a rule that forwards there, with [`Upstreams::Every`]).
pub(super) fn rules(
    spec: &mut Spec,
    mode: Upstreams,
    app: &WebhookSink,
    own: &Endpoints,
) -> Result<()> {
    let path = rules_file(&spec.config_dir, &spec.overlays);
    let mut rules = read_rules(&path)?;
    let port = configured_api_port(spec);
    redirect_upstreams(&mut rules, mode, &app.url(""), &own.admin, port);
    let json = serde_json::to_vec(&rules).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let inline = format!(
        "inline://{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    );
    spec.env.retain(|(k, _)| k != "ACCESS_RULES_REPOSITORIES");
    spec.env.push(("ACCESS_RULES_REPOSITORIES".into(), inline));
    Ok(())
}

/// The API port the config folder (and its overlays, the last one that
/// sets it winning) gives Oathkeeper.
fn configured_api_port(spec: &Spec) -> u16 {
    std::iter::once(&spec.config_dir)
        .chain(&spec.overlays)
        .rev()
        .filter_map(|dir| std::fs::read_to_string(dir.join("oathkeeper.yml")).ok())
        .filter_map(|text| serde_yaml_ng::from_str::<Value>(&text).ok())
        .find(|config| config.pointer("/serve/api/port").is_some())
        .map_or(crate::oathkeeper::DEFAULT_API_PORT, |c| api_port(&c))
}
