//! Ory Oathkeeper: where its proxy and API are, and its access rules as
//! a config folder holds them.

use std::path::{Path, PathBuf};

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::urls::join;

/// The upstream a rule names to be sent to the harness's app.
pub const PLACEHOLDER: &str = "http://upstream.orygate.test";

/// Oathkeeper's API port when its config does not move it.
pub const DEFAULT_API_PORT: u16 = 4456;

/// An Oathkeeper deployment, by its proxy (what clients call) and its API
/// (rules, decisions, health, the `id_token` mutator's keys).
#[derive(Debug, Clone)]
pub struct Oathkeeper {
    proxy: Url,
    api: Option<Url>,
}

impl Oathkeeper {
    /// A deployment whose API is known (one the harness started, or given
    /// both URLs).
    pub fn new(proxy: Url, api: Url) -> Self {
        Self {
            proxy,
            api: Some(api),
        }
    }

    /// A deployment known by its proxy alone, as its users reach it.
    pub fn proxy_only(proxy: Url) -> Self {
        Self { proxy, api: None }
    }

    /// `path` through the proxy.
    pub fn proxy(&self, path: &str) -> Url {
        join(&self.proxy, path)
    }

    /// `path` on the API, when it is known.
    pub fn api(&self, path: &str) -> Option<Url> {
        self.api.as_ref().map(|api| join(api, path))
    }
}

/// Where a stack's Oathkeeper sends the requests its rules let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upstreams {
    /// Only a rule whose upstream is [`PLACEHOLDER`] goes to the harness's
    /// app; the others keep theirs (this repository's rules).
    #[default]
    Placeholder,
    /// Every rule goes to the harness's app, its upstream's path kept: a
    /// team's rules, whose apps are not here and must not be reached. A
    /// rule whose upstream is on Oathkeeper's own API port goes to this
    /// Oathkeeper's API instead, so a rule that exposes the API does so
    /// on the stack too.
    Every,
}

pub use crate::service::OathkeeperPeers as Peers;

/// Points every http(s) URL in `value` (a config, or a rule) that leads
/// off this machine at the stack instead: a session check at Kratos'
/// whoami, an introspection at Hydra's, a `remote_json` authorizer at
/// Keto's check, anything else at [`NOWHERE`](crate::confine::NOWHERE)
/// (its path kept). Match patterns, upstreams (see [`redirect_upstreams`]),
/// redirect targets and issuers are not called and stay. Returns what was
/// moved, as `key: from -> to`.
pub fn confine(value: &mut Value, peers: &Peers) -> Vec<String> {
    let skip = |path: &[String]| {
        path.last()
            .is_some_and(|key| matches!(key.as_str(), "match" | "upstream" | "to" | "issuer_url"))
    };
    let mut target = |path: &[String], url: &Url| {
        let peer = match path.last().map(String::as_str) {
            Some("check_session_url") => peers.whoami.clone(),
            Some("introspection_url") => peers.introspect.clone(),
            Some("remote") => peers.check.clone(),
            _ => None,
        };
        Ok(peer.unwrap_or_else(|| crate::confine::nowhere(url)))
    };
    crate::confine::walk(value, &skip, &mut target).expect("the target never fails")
}

/// The rules file of a config folder and its overlays: the last overlay's
/// `rules.json` (or `rules.yml`/`rules.yaml`), else the folder's.
pub fn rules_file(config_dir: &Path, overlays: &[PathBuf]) -> PathBuf {
    let in_dir = |dir: &Path| {
        ["rules.json", "rules.yml", "rules.yaml"]
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
    };
    overlays
        .iter()
        .rev()
        .find_map(|o| in_dir(o))
        .or_else(|| in_dir(config_dir))
        .unwrap_or_else(|| config_dir.join("rules.json"))
}

/// The access rules in `path` (JSON, or YAML by its extension): a list of
/// rules, each an object with an `id`.
pub fn read_rules(path: &Path) -> Result<Vec<Value>> {
    let bad = |reason: String| Error::Config {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let rules: Vec<Value> = if yaml {
        serde_yaml_ng::from_str(&text).map_err(|e| bad(format!("not a YAML list of rules: {e}")))?
    } else {
        serde_json::from_str(&text).map_err(|e| bad(format!("not a JSON list of rules: {e}")))?
    };
    for (i, rule) in rules.iter().enumerate() {
        if rule.get("id").and_then(Value::as_str).is_none() {
            return Err(bad(format!("rule {} has no \"id\"", i + 1)));
        }
    }
    Ok(rules)
}

/// The API port an Oathkeeper config sets (`serve.api.port`), or its
/// default.
pub fn api_port(config: &Value) -> u16 {
    config
        .pointer("/serve/api/port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(DEFAULT_API_PORT)
}

/// The proxy port an Oathkeeper config sets (`serve.proxy.port`), or its
/// default.
pub fn proxy_port(config: &Value) -> u16 {
    config
        .pointer("/serve/proxy/port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(4455)
}

/// Whether a rule's upstream `url` is (very likely) Oathkeeper's own API:
/// its port is the config's API port, or its host names Oathkeeper (a
/// Kubernetes Service such as `http://oathkeeper-api`, port 80 in front
/// of 4456) and it is not the proxy's port.
pub fn is_api(url: &Url, api_port: u16, proxy_port: u16) -> bool {
    let port = url.port_or_known_default();
    port == Some(api_port)
        || (url
            .host_str()
            .is_some_and(|h| h.to_ascii_lowercase().contains("oathkeeper"))
            && port != Some(proxy_port))
}

/// The rules with their upstreams sent where `mode` says: `app` is the
/// harness's app, `api` this Oathkeeper's API and `api_port` the port
/// the config folder gives it.
pub fn redirect_upstreams(
    rules: &mut [Value],
    mode: Upstreams,
    app: &Url,
    api: &Url,
    ports: (u16, u16),
) {
    let (api_port, proxy_port) = ports;
    for rule in rules {
        let Some(url) = rule.pointer_mut("/upstream/url") else {
            continue;
        };
        let given = url.as_str().unwrap_or_default().to_owned();
        let given = given.as_str();
        if given.trim_end_matches('/') == PLACEHOLDER {
            *url = Value::from(app.as_str().trim_end_matches('/'));
            continue;
        }
        if mode == Upstreams::Placeholder {
            continue;
        }
        // Whatever it names, nothing leaves loopback: an upstream that is
        // not a URL goes to the app too.
        let given = Url::parse(given).unwrap_or_else(|_| app.clone());
        let to = if is_api(&given, api_port, proxy_port) {
            api
        } else {
            app
        };
        let mut moved = to.clone();
        moved.set_path(given.path());
        moved.set_query(given.query());
        *url = Value::from(moved.as_str().trim_end_matches('/'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_upstream_is_moved_onto_loopback_with_its_path() {
        let app = Url::parse("http://127.0.0.1:9001/").unwrap();
        let api = Url::parse("http://127.0.0.1:9002/").unwrap();
        let mut rules = vec![
            json!({"id": "a", "upstream": {"url": "https://app.example.com:8443/base"}}),
            json!({"id": "b", "upstream": {"url": "http://oathkeeper:4456"}}),
            json!({"id": "c", "upstream": {"url": "http://upstream.orygate.test/"}}),
        ];
        let mut kept = rules.clone();
        redirect_upstreams(&mut rules, Upstreams::Every, &app, &api, (4456, 4455));
        let urls: Vec<&str> = rules
            .iter()
            .map(|r| r.pointer("/upstream/url").unwrap().as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:9001/base",
                "http://127.0.0.1:9002",
                "http://127.0.0.1:9001"
            ]
        );
        redirect_upstreams(&mut kept, Upstreams::Placeholder, &app, &api, (4456, 4455));
        assert_eq!(
            kept[0].pointer("/upstream/url").unwrap(),
            "https://app.example.com:8443/base"
        );
        assert_eq!(
            kept[2].pointer("/upstream/url").unwrap(),
            "http://127.0.0.1:9001"
        );
    }

    #[test]
    fn urls_off_this_machine_are_pointed_at_the_stack_or_nowhere() {
        let peers = Peers {
            whoami: Some(Url::parse("http://127.0.0.1:7001/sessions/whoami").unwrap()),
            introspect: None,
            check: None,
        };
        let mut rule = json!({
            "match": {"url": "https://api.example.com/<**>"},
            "authenticators": [
                {"handler": "cookie_session", "config": {"check_session_url": "https://auth.example.com/sessions/whoami"}},
                {"handler": "oauth2_introspection", "config": {"introspection_url": "https://hydra.example.com/admin/oauth2/introspect"}},
                {"handler": "jwt", "config": {"jwks_urls": ["https://keys.example.com/jwks.json", "file:///etc/keys.json"]}}
            ],
            "authorizer": {"handler": "remote_json", "config": {"remote": "http://localhost:4466/check"}},
            "errors": [{"handler": "redirect", "config": {"to": "https://auth.example.com/login"}}],
            "upstream": {"url": "https://app.example.com"}
        });
        let moved = confine(&mut rule, &peers);
        assert_eq!(moved.len(), 3, "{moved:?}");
        assert_eq!(
            rule.pointer("/authenticators/0/config/check_session_url")
                .unwrap(),
            "http://127.0.0.1:7001/sessions/whoami"
        );
        assert_eq!(
            rule.pointer("/authenticators/1/config/introspection_url")
                .unwrap(),
            "http://127.0.0.1:1/admin/oauth2/introspect"
        );
        assert_eq!(
            rule.pointer("/authenticators/2/config/jwks_urls").unwrap(),
            &json!(["http://127.0.0.1:1/jwks.json", "file:///etc/keys.json"])
        );
        // Loopback, match patterns, redirect targets and upstreams stay.
        assert_eq!(
            rule.pointer("/authorizer/config/remote").unwrap(),
            "http://localhost:4466/check"
        );
        assert_eq!(
            rule.pointer("/match/url").unwrap(),
            "https://api.example.com/<**>"
        );
        assert_eq!(
            rule.pointer("/errors/0/config/to").unwrap(),
            "https://auth.example.com/login"
        );
        assert_eq!(
            rule.pointer("/upstream/url").unwrap(),
            "https://app.example.com"
        );
    }

    #[test]
    fn the_api_is_its_port_or_a_host_named_after_it() {
        let is = |u: &str| is_api(&Url::parse(u).unwrap(), 4456, 4455);
        assert!(is("http://gateway:4456"));
        assert!(is("http://oathkeeper-api"));
        assert!(is("http://ory-oathkeeper.auth.svc:8080/"));
        assert!(!is("http://oathkeeper:4455"));
        assert!(!is("http://app:8080"));
    }

    #[test]
    fn the_api_port_is_the_configs_or_4456() {
        assert_eq!(api_port(&json!({"serve": {"api": {"port": 5000}}})), 5000);
        assert_eq!(api_port(&json!({"serve": {}})), 4456);
    }
}
