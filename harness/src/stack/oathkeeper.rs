//! Oathkeeper's access rules as a stack starts them: the config folder's
//! rules file (the last overlay's, when one has it), their upstreams sent
//! to the harness's app (see [`Upstreams`]), handed to Oathkeeper inline
//! (`ACCESS_RULES_REPOSITORIES=inline://...`) since the app's port is
//! known only now. With [`Upstreams::Every`] (a team's folder) nothing
//! Oathkeeper calls leaves loopback: the rules' and the config's URLs are
//! confined to the stack (see [`confine`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::oathkeeper::{
    Upstreams, api_port, confine, proxy_port, read_rules, redirect_upstreams, rules_file,
};
use crate::service::{Endpoints, Service};
use crate::webhook::WebhookSink;

use super::containers::Spec;
use super::files::Written;

/// The most rules JSON an environment variable carries: Linux refuses
/// one string over 128 KiB, and the container would not start.
const MAX_INLINE: usize = 96 * 1024;

/// Hands Oathkeeper its rules, pointed at `app` (and at its own API for a
/// rule that forwards there, with [`Upstreams::Every`], which also
/// confines the config: see [`confined_config`]).
pub(super) fn rules(
    spec: &mut Spec,
    mode: Upstreams,
    app: &WebhookSink,
    peers: &BTreeMap<Service, Endpoints>,
    stack: &str,
) -> Result<Option<Written>> {
    let own = peers
        .get(&Service::Oathkeeper)
        .expect("Oathkeeper's ports were chosen");
    let path = rules_file(&spec.config_dir, &spec.overlays);
    let bad = |reason: String| Error::Config {
        path: path.display().to_string(),
        reason,
    };
    let mut rules = read_rules(&path)?;
    let config = crate::merged_config(&config_files(spec)).map_err(|reason| Error::Config {
        path: spec.config_dir.display().to_string(),
        reason,
    })?;
    let ports = (api_port(&config), proxy_port(&config));
    redirect_upstreams(&mut rules, mode, &app.url(""), &own.admin, ports);
    let mut written = None;
    if mode == Upstreams::Every {
        let targets = crate::service::oathkeeper_targets(peers);
        let mut rules_value = Value::Array(rules);
        let moved = confine(&mut rules_value, &targets);
        if !moved.is_empty() {
            tracing::info!(?moved, "oathkeeper rules: URLs off this machine confined");
        }
        rules = match rules_value {
            Value::Array(r) => r,
            _ => unreachable!("confine keeps the list"),
        };
        written = Some(confined_config(spec, config, &targets, stack)?);
    }
    let json = serde_json::to_vec(&rules).map_err(|e| bad(e.to_string()))?;
    if json.len() > MAX_INLINE {
        return Err(bad(format!(
            "{} bytes of rules: at most {MAX_INLINE} can be handed to Oathkeeper",
            json.len()
        )));
    }
    let inline = format!(
        "inline://{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    );
    spec.env.retain(|(k, _)| k != "ACCESS_RULES_REPOSITORIES");
    spec.env.push(("ACCESS_RULES_REPOSITORIES".into(), inline));
    Ok(written)
}

/// The config folder's and its overlays' config files.
fn config_files(spec: &Spec) -> Vec<PathBuf> {
    std::iter::once(&spec.config_dir)
        .chain(&spec.overlays)
        .map(|dir| dir.join(Service::Oathkeeper.config_file()))
        .collect()
}

/// The merged config with every URL off this machine confined and
/// tracing off, as a last overlay: whatever the team's config names,
/// Oathkeeper calls nothing beyond loopback.
fn confined_config(
    spec: &mut Spec,
    mut config: Value,
    targets: &crate::oathkeeper::Peers,
    stack: &str,
) -> Result<Written> {
    let moved = confine(&mut config, targets);
    if !moved.is_empty() {
        tracing::info!(?moved, "oathkeeper config: URLs off this machine confined");
    }
    let traced = crate::confine::tracing(&mut config);
    if !traced.is_empty() {
        tracing::info!(?traced, "oathkeeper config: tracing sent nowhere");
    }
    let dir = std::env::temp_dir().join(format!("orygate-{stack}-oathkeeper-confined"));
    let failed = |e: std::io::Error| Error::Config {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let written = Written(dir.clone());
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Config {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(dir.join(Service::Oathkeeper.config_file()), yaml).map_err(failed)?;
    spec.overlays.push(dir);
    Ok(written)
}
