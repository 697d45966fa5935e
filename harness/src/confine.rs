//! Keeping a team's config on this machine: the URLs Ory would call (web
//! hooks, an HTTP courier, a token hook, tracing collectors, a leaked
//! password lookup) pointed at the stack or at a closed loopback port, so
//! that gating a config sends nothing beyond loopback whatever it names.
//! Redirect targets, base URLs and allowed origins are never called by the
//! service and stay as written: the checks judge them.

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::service::Service;

/// Where a URL that leads off this machine is sent instead: a loopback
/// port nothing listens on, so the call fails (closed) rather than leaves
/// loopback.
pub const NOWHERE: &str = "http://127.0.0.1:1/";

/// Whether `url` stays on this machine.
pub fn on_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => true,
    }
}

/// Whether the URL written as `text` stays on this machine, as Ory's Go
/// reads it: its host written as `localhost`, a dotted-quad loopback
/// address or `[::1]`. Spellings the URL standard reads as loopback but
/// Go takes for a name to look up (`127.1`, `2130706433`, `0x7f000001`)
/// do not.
pub fn text_on_loopback(text: &str) -> bool {
    let Ok(url) = Url::parse(text) else {
        return false;
    };
    if !on_loopback(&url) {
        return false;
    }
    if url.host().is_none() {
        return true;
    }
    let Some((_, rest)) = text.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// [`NOWHERE`] with `url`'s path and query.
pub fn nowhere(url: &Url) -> Url {
    moved_to(&Url::parse(NOWHERE).expect("a loopback URL"), url)
}

/// `base` with `url`'s path and query (a recorder sees what was called).
fn moved_to(base: &Url, url: &Url) -> Url {
    let mut to = base.clone();
    to.set_path(url.path());
    to.set_query(url.query());
    to
}

/// Calls `target` with the key path of every http(s) URL in `value` that
/// leads off this machine, whose key `skip` does not exclude, and puts
/// its answer in the URL's place. Returns what moved, `path: from -> to`.
pub(crate) fn walk(
    value: &mut Value,
    skip: &dyn Fn(&[String]) -> bool,
    target: &mut dyn FnMut(&[String], &Url) -> Result<Url>,
) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    walk_at(value, &mut Vec::new(), skip, target, &mut moved)?;
    Ok(moved)
}

fn walk_at(
    value: &mut Value,
    path: &mut Vec<String>,
    skip: &dyn Fn(&[String]) -> bool,
    target: &mut dyn FnMut(&[String], &Url) -> Result<Url>,
    moved: &mut Vec<String>,
) -> Result<()> {
    if skip(path) {
        return Ok(());
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                walk_at(v, path, skip, target, moved)?;
                path.pop();
            }
        }
        Value::Array(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                path.push(n.to_string());
                walk_at(item, path, skip, target, moved)?;
                path.pop();
            }
        }
        Value::String(text) => {
            let Ok(url) = Url::parse(text) else {
                return Ok(());
            };
            if !matches!(url.scheme(), "http" | "https") || text_on_loopback(text) {
                return Ok(());
            }
            let to = target(path, &url)?;
            moved.push(format!("{}: {url} -> {to}", path.join(".")));
            *text = to.to_string();
        }
        _ => {}
    }
    Ok(())
}

/// A Kratos or Hydra config (merged, as Ory reads it) with nothing it
/// calls off this machine: web hooks and token hooks go to `hooks` (a
/// recorder of the stack's, their paths kept), the courier delivers to
/// the stack's SMTP sink, tracing is off, Kratos' leaked-password lookup
/// off (it asks a host on the internet), anything else it would call goes
/// to [`NOWHERE`]. An identity schema fetched from off this machine is
/// refused: Kratos cannot run without it, and the gate fetches nothing.
/// Returns what changed, one line each.
pub(crate) fn service_config(
    service: Service,
    config: &mut Value,
    hooks: &Url,
) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    match service {
        Service::Kratos => {
            let skip = |path: &[String]| {
                path.last().is_some_and(|key| {
                    matches!(
                        key.as_str(),
                        "ui_url"
                            | "default_browser_return_url"
                            | "allowed_return_urls"
                            | "base_url"
                            | "allowed_origins"
                            | "origin"
                            | "origins"
                    )
                }) || private_exceptions(path)
            };
            let mut target = |path: &[String], url: &Url| kratos_target(path, url, hooks);
            changed = walk(config, &skip, &mut target)?;
            if let Some(courier) = config.get_mut("courier").and_then(Value::as_object_mut)
                && courier.get("delivery_strategy").and_then(Value::as_str) == Some("http")
            {
                courier.insert("delivery_strategy".into(), Value::from("smtp"));
                changed
                    .push("courier.delivery_strategy: http -> smtp (the stack's mail sink)".into());
            }
            if leaked_password_lookup(config) {
                let password =
                    ensure_object(config, &["selfservice", "methods", "password", "config"]);
                password.insert("haveibeenpwned_enabled".into(), Value::Bool(false));
                changed.push(
                    "selfservice.methods.password.config.haveibeenpwned_enabled: true -> false (the lookup asks a host off this machine)".into(),
                );
            }
        }
        Service::Hydra => {
            // Where Hydra sends browsers, never calls itself; its
            // identity provider (`urls.identity_provider`) it does call.
            let redirects = [
                "self",
                "login",
                "consent",
                "logout",
                "error",
                "post_logout_redirect",
                "registration",
            ];
            let skip = |path: &[String]| {
                let under = |first: &str| path.first().is_some_and(|p| p == first);
                (under("urls") && path.get(1).is_some_and(|k| redirects.contains(&k.as_str())))
                    || under("webfinger")
                    || path.last().is_some_and(|k| k == "allowed_origins")
                    || private_exceptions(path)
            };
            let mut target = |path: &[String], url: &Url| {
                Ok(if path.iter().any(|p| p.ends_with("token_hook")) {
                    moved_to(hooks, url)
                } else {
                    nowhere(url)
                })
            };
            changed = walk(config, &skip, &mut target)?;
        }
        Service::Keto => {
            let skip = |path: &[String]| path.last().is_some_and(|k| k == "allowed_origins");
            let mut target = |path: &[String], url: &Url| {
                if path.first().is_some_and(|p| p == "namespaces") {
                    return Err(Error::Config {
                        path: format!("keto.yml {}", path.join(".")),
                        reason: format!(
                            "the permission model {url} is off this machine, and the gate fetches nothing from there: keep it in the folder (file://)"
                        ),
                    });
                }
                Ok(nowhere(url))
            };
            changed = walk(config, &skip, &mut target)?;
        }
        Service::Oathkeeper => {}
    }
    changed.extend(private_ranges_allowed(service, config));
    changed.extend(tracing(config));
    Ok(changed)
}

/// `clients.http.private_ip_exception_urls`: loopback or not, these are
/// the exceptions to a rule, not URLs called.
fn private_exceptions(path: &[String]) -> bool {
    path.iter().any(|k| k == "private_ip_exception_urls")
}

/// Kratos' and Hydra's `clients.http.disallow_private_ip_ranges` turned
/// off: everything they call is on loopback now (the stack's recorder,
/// its sink, a closed port), which the setting refuses.
fn private_ranges_allowed(service: Service, config: &mut Value) -> Option<String> {
    if !matches!(service, Service::Kratos | Service::Hydra) {
        return None;
    }
    let http = config.pointer_mut("/clients/http")?.as_object_mut()?;
    if http.get("disallow_private_ip_ranges") != Some(&Value::Bool(true)) {
        return None;
    }
    http.insert("disallow_private_ip_ranges".into(), Value::Bool(false));
    Some(
        "clients.http.disallow_private_ip_ranges: true -> false (what it calls is on this machine's loopback now)"
            .into(),
    )
}

/// Tracing kept as configured (Ory accepts no "off" value once a
/// provider is named), its collector's addresses (`host:port`, which the
/// URL walk does not see) on a closed loopback port: spans are sent
/// nowhere. Every Ory service reads the same keys.
pub(crate) fn tracing(config: &mut Value) -> Vec<String> {
    let Some(tracing) = config.get_mut("tracing").and_then(Value::as_object_mut) else {
        return Vec::new();
    };
    if tracing
        .get("provider")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Vec::new();
    }
    let mut changed = Vec::new();
    let providers = tracing
        .entry("providers")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    for (provider, key, closed) in [
        ("jaeger", "local_agent_address", "127.0.0.1:1"),
        ("otlp", "server_url", "127.0.0.1:1"),
        ("zipkin", "server_url", "http://127.0.0.1:1/api/v2/spans"),
    ] {
        let at = ensure_object(providers, &[provider]);
        let before = at.get(key).and_then(Value::as_str).map(str::to_owned);
        let local = before.as_deref().is_some_and(|b| {
            let url = if b.contains("://") {
                b.to_owned()
            } else {
                format!("http://{b}/")
            };
            text_on_loopback(&url)
        });
        if !local {
            at.insert(key.into(), Value::from(closed));
            changed.push(format!(
                "tracing.providers.{provider}.{key}: {} -> {closed}",
                before.as_deref().unwrap_or("(its default)")
            ));
        }
    }
    changed
}

/// Where a URL of Kratos' config that leads off this machine goes: a
/// hook's to the recorder, anything else to [`NOWHERE`]; what Kratos reads
/// to work at all is refused by name.
fn kratos_target(path: &[String], url: &Url, hooks: &Url) -> Result<Url> {
    // What Kratos reads to work at all (an identity schema, a
    // mail template, a web hook's body): refused by name, not
    // silently missing.
    let read = if path.first().is_some_and(|p| p == "identity") {
        Some("the identity schema")
    } else if path.first().is_some_and(|p| p == "courier") && path.iter().any(|p| p == "templates")
    {
        Some("the mail template")
    } else if path.iter().any(|p| p == "hooks" || p == "migrate_hook")
        && path.last().is_some_and(|k| k == "body")
    {
        Some("the web hook's body template")
    } else {
        None
    };
    if let Some(what) = read {
        return Err(Error::Config {
            path: format!("kratos.yml {}", path.join(".")),
            reason: format!(
                "{what} {url} is off this machine, and the gate fetches nothing from there: keep it in the folder (file://) or inline (base64://)"
            ),
        });
    }
    Ok(
        if path.iter().any(|p| p == "hooks" || p == "migrate_hook") {
            moved_to(hooks, url)
        } else {
            nowhere(url)
        },
    )
}

/// Whether Kratos would look passwords up on haveibeenpwned (on unless
/// turned off) at a host off this machine.
fn leaked_password_lookup(config: &Value) -> bool {
    let password = config.pointer("/selfservice/methods/password");
    let enabled = password
        .and_then(|p| p.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let settings = password.and_then(|p| p.get("config"));
    let lookup = settings
        .and_then(|c| c.get("haveibeenpwned_enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let host = settings
        .and_then(|c| c.get("haveibeenpwned_host"))
        .and_then(Value::as_str)
        .unwrap_or("api.pwnedpasswords.com");
    let local = text_on_loopback(&format!("http://{host}/"));
    enabled && lookup && !local
}

/// The object at `keys` under `value`, made where it is missing.
fn ensure_object<'a>(
    value: &'a mut Value,
    keys: &[&str],
) -> &'a mut serde_json::Map<String, Value> {
    let mut at = value;
    for key in keys {
        if !at.is_object() {
            *at = Value::Object(serde_json::Map::new());
        }
        at = at
            .as_object_mut()
            .expect("made an object")
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    if !at.is_object() {
        *at = Value::Object(serde_json::Map::new());
    }
    at.as_object_mut().expect("made an object")
}

/// An OAuth2 client (as `hydra/clients/*.json` holds it) with nothing
/// Hydra fetches or calls for it off this machine: its key set, request
/// objects and back-channel logout go to [`NOWHERE`]; its sector
/// identifier, which Hydra fetches over https when the client is
/// registered, is left out (pairwise subjects are not judged). Its
/// redirect URIs stay (Hydra redirects to them, never calls them).
/// Returns what changed.
pub fn client(client: &mut Value) -> Vec<String> {
    let fetched = ["jwks_uri", "backchannel_logout_uri", "request_uris"];
    let skip = |path: &[String]| {
        path.first()
            .is_some_and(|key| !fetched.contains(&key.as_str()))
    };
    let mut changed =
        walk(client, &skip, &mut |_, url| Ok(nowhere(url))).expect("the target never fails");
    if let Some(map) = client.as_object_mut()
        && let Some(uri) = map.get("sector_identifier_uri").and_then(Value::as_str)
        && !text_on_loopback(uri)
    {
        changed.push(format!(
            "sector_identifier_uri: {uri} left out (Hydra would fetch it)"
        ));
        map.remove("sector_identifier_uri");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hooks() -> Url {
        Url::parse("http://127.0.0.1:40000/").unwrap()
    }

    #[test]
    fn a_kratos_config_calls_nothing_off_this_machine() {
        let mut config = json!({
            "serve": {"public": {"base_url": "https://auth.team.example/"}},
            "selfservice": {
                "default_browser_return_url": "https://app.team.example/",
                "allowed_return_urls": ["https://app.team.example/"],
                "flows": {
                    "login": {"ui_url": "https://app.team.example/login"},
                    "registration": {"after": {"password": {"hooks": [
                        {"hook": "web_hook", "config": {"url": "https://crm.team.example/hooks/new?src=kratos", "method": "POST"}}
                    ]}}}
                },
                "methods": {"oidc": {"config": {"providers": [
                    {"id": "corp", "issuer_url": "https://sso.team.example/", "mapper_url": "https://cfg.team.example/corp.jsonnet"}
                ]}}}
            },
            "courier": {"delivery_strategy": "http", "http": {"request_config": {"url": "https://mail.team.example/send"}}},
            "oauth2_provider": {"url": "https://hydra-admin.team.example/"},
            "tracing": {"provider": "otel", "providers": {"otlp": {"server_url": "otel.team.example:4318"}}},
            "identity": {"schemas": [{"id": "p", "url": "file:///etc/config/kratos/p.json"}]}
        });
        let changed = service_config(Service::Kratos, &mut config, &hooks()).unwrap();
        let at = |p: &str| config.pointer(p).unwrap().as_str().unwrap().to_owned();
        assert_eq!(
            at("/selfservice/flows/registration/after/password/hooks/0/config/url"),
            "http://127.0.0.1:40000/hooks/new?src=kratos"
        );
        assert_eq!(
            at("/courier/http/request_config/url"),
            "http://127.0.0.1:1/send"
        );
        assert_eq!(at("/courier/delivery_strategy"), "smtp");
        assert_eq!(at("/oauth2_provider/url"), "http://127.0.0.1:1/");
        assert_eq!(
            at("/selfservice/methods/oidc/config/providers/0/issuer_url"),
            "http://127.0.0.1:1/"
        );
        // Tracing stays on (Ory refuses an empty provider), sending
        // nowhere.
        assert_eq!(at("/tracing/provider"), "otel");
        assert_eq!(at("/tracing/providers/otlp/server_url"), "127.0.0.1:1");
        assert_eq!(
            at("/tracing/providers/jaeger/local_agent_address"),
            "127.0.0.1:1"
        );
        assert_eq!(
            config.pointer("/selfservice/methods/password/config/haveibeenpwned_enabled"),
            Some(&Value::Bool(false))
        );
        // What Kratos never calls stays as written: the checks judge it.
        assert_eq!(at("/serve/public/base_url"), "https://auth.team.example/");
        assert_eq!(
            at("/selfservice/flows/login/ui_url"),
            "https://app.team.example/login"
        );
        assert_eq!(
            at("/selfservice/allowed_return_urls/0"),
            "https://app.team.example/"
        );
        assert_eq!(
            at("/identity/schemas/0/url"),
            "file:///etc/config/kratos/p.json"
        );
        assert_eq!(changed.len(), 10, "{changed:#?}");
    }

    #[test]
    fn a_remote_template_or_hook_body_is_refused_and_a_migrate_hook_recorded() {
        let refused = |config: Value, what: &str| {
            let mut config = config;
            let e = service_config(Service::Kratos, &mut config, &hooks())
                .unwrap_err()
                .to_string();
            assert!(e.contains(what) && e.contains("team.example"), "{e}");
        };
        refused(
            json!({"courier": {"templates": {"recovery_code": {"valid": {"email": {"body": {
                "html": "https://cdn.team.example/recovery.gotmpl"}}}}}}}),
            "the mail template",
        );
        refused(
            json!({"selfservice": {"flows": {"registration": {"after": {"hooks": [
                {"hook": "web_hook", "config": {"url": "http://127.0.0.1:8080/x",
                    "body": "https://cdn.team.example/body.jsonnet"}}]}}}}}),
            "the web hook's body template",
        );
        let mut config = json!({"selfservice": {"methods": {"password": {"config": {
            "migrate_hook": {"enabled": true, "config": {"url": "https://legacy.team.example/check"}}}}}}});
        service_config(Service::Kratos, &mut config, &hooks()).unwrap();
        assert_eq!(
            config
                .pointer("/selfservice/methods/password/config/migrate_hook/config/url")
                .unwrap(),
            "http://127.0.0.1:40000/check"
        );
    }

    #[test]
    fn a_remote_identity_schema_is_refused_by_name() {
        let mut config = json!({"identity": {"schemas": [{"id": "p", "url": "https://cfg.team.example/person.json"}]}});
        let e = service_config(Service::Kratos, &mut config, &hooks())
            .unwrap_err()
            .to_string();
        assert!(e.contains("identity.schemas.0.url"), "{e}");
        assert!(e.contains("https://cfg.team.example/person.json"), "{e}");
    }

    #[test]
    fn a_local_leaked_password_service_and_loopback_hooks_stay() {
        let mut config = json!({
            "selfservice": {
                "methods": {"password": {"config": {"haveibeenpwned_host": "127.0.0.1:9999"}}},
                "flows": {"registration": {"after": {"hooks": [{"hook": "web_hook", "config": {"url": "http://127.0.0.1:8080/x"}}]}}}
            }
        });
        let before = config.clone();
        assert!(
            service_config(Service::Kratos, &mut config, &hooks())
                .unwrap()
                .is_empty()
        );
        assert_eq!(config, before);
    }

    #[test]
    fn a_hydra_config_and_client_call_nothing_off_this_machine() {
        let mut config = json!({
            "urls": {
                "self": {"issuer": "https://auth.team.example/"},
                "login": "https://app.team.example/login",
                "identity_provider": {"url": "https://kratos-admin.team.example/admin", "headers": {"Authorization": "Bearer k"}}
            },
            "webfinger": {"oidc_discovery": {"userinfo_url": "https://auth.team.example/userinfo"}},
            "oauth2": {"token_hook": {"url": "https://claims.team.example/hook"}},
            "serve": {"public": {"cors": {"allowed_origins": ["https://app.team.example"]}}},
            "clients": {"http": {"disallow_private_ip_ranges": true,
                "private_ip_exception_urls": ["https://intranet.team.example/*"]}}
        });
        let changed = service_config(Service::Hydra, &mut config, &hooks()).unwrap();
        assert_eq!(changed.len(), 3, "{changed:#?}");
        // Hydra calls its identity provider (Kratos' admin API) at logout.
        assert_eq!(
            config.pointer("/urls/identity_provider/url").unwrap(),
            "http://127.0.0.1:1/admin"
        );
        assert_eq!(
            config
                .pointer("/clients/http/disallow_private_ip_ranges")
                .unwrap(),
            &Value::Bool(false)
        );
        assert_eq!(
            config
                .pointer("/clients/http/private_ip_exception_urls/0")
                .unwrap(),
            "https://intranet.team.example/*"
        );
        assert_eq!(
            config.pointer("/oauth2/token_hook/url").unwrap(),
            "http://127.0.0.1:40000/hook"
        );
        assert_eq!(
            config.pointer("/urls/login").unwrap(),
            "https://app.team.example/login"
        );
        let mut c = json!({
            "client_id": "web",
            "redirect_uris": ["https://app.team.example/cb"],
            "jwks_uri": "https://app.team.example/jwks.json",
            "backchannel_logout_uri": "https://app.team.example/bcl",
            "request_uris": ["https://app.team.example/req/1"],
            "sector_identifier_uri": "https://app.team.example/sector.json"
        });
        assert_eq!(client(&mut c).len(), 4);
        assert!(c.get("sector_identifier_uri").is_none());
        assert_eq!(c["jwks_uri"], "http://127.0.0.1:1/jwks.json");
        assert_eq!(c["request_uris"][0], "http://127.0.0.1:1/req/1");
        assert_eq!(c["redirect_uris"][0], "https://app.team.example/cb");
    }

    #[test]
    fn loopback_is_what_go_reads_as_loopback() {
        for here in [
            "http://127.0.0.1:8080/x",
            "http://localhost/",
            "http://LOCALHOST:1/",
            "http://[::1]:9/",
            "https://user:pw@127.0.0.1/",
            "http://127.0.0.2/",
        ] {
            assert!(text_on_loopback(here), "{here}");
        }
        for away in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.0.0.1.nip.io/",
            "https://hooks.team.example/",
            "not a url",
        ] {
            assert!(!text_on_loopback(away), "{away}");
        }
        let mut config = json!({"selfservice": {"flows": {"registration": {"after": {"hooks": [
            {"hook": "web_hook", "config": {"url": "http://127.1:8080/hook"}}]}}}}});
        service_config(Service::Kratos, &mut config, &hooks()).unwrap();
        assert_eq!(
            config
                .pointer("/selfservice/flows/registration/after/hooks/0/config/url")
                .unwrap(),
            "http://127.0.0.1:40000/hook"
        );
    }

    #[test]
    fn a_keto_config_fetches_no_model_and_traces_nowhere() {
        let mut config = json!({
            "namespaces": {"location": "https://models.team.example/namespaces.keto.ts"}
        });
        let e = service_config(Service::Keto, &mut config, &hooks())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("namespaces.location") && e.contains("models.team.example"),
            "{e}"
        );
        let mut config = json!({
            "namespaces": {"location": "file:///etc/config/keto/namespaces.keto.ts"},
            "tracing": {"provider": "jaeger", "providers": {"jaeger": {
                "local_agent_address": "jaeger.team.example:6831",
                "sampling": {"server_url": "http://jaeger.team.example:5778/sampling"}}}}
        });
        let changed = service_config(Service::Keto, &mut config, &hooks()).unwrap();
        assert_eq!(
            config
                .pointer("/tracing/providers/jaeger/local_agent_address")
                .unwrap(),
            "127.0.0.1:1"
        );
        assert_eq!(
            config
                .pointer("/tracing/providers/jaeger/sampling/server_url")
                .unwrap(),
            "http://127.0.0.1:1/sampling"
        );
        assert_eq!(changed.len(), 4, "{changed:#?}");
    }
}
