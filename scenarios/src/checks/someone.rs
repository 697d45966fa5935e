//! Someone to sign in as, for the checks that need a session: traits made
//! from the deployment's own registration form (so any identity schema
//! works), an identity created through the admin API with its addresses
//! verified, and a login by API or by browser.

use harness::kratos::{Flow, Kratos};
use harness::{Agent, Browser, NativeApp};
use rand::Rng;
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use super::{Evidence, Probe};

/// A person made for the deployment's schema.
#[derive(Debug, Clone)]
pub(crate) struct Someone {
    pub traits: Value,
    /// The values a password login may take as identifier, most likely
    /// first (addresses, then names).
    pub identifiers: Vec<String>,
    /// `(address, via)` of each email and phone trait.
    pub addresses: Vec<(String, &'static str)>,
    /// `(trait path, value)` of each text trait.
    pub fields: Vec<(String, String)>,
    pub password: String,
}

fn letters(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// A tag for the addresses and names of a group of people: ten letters.
pub(crate) fn tag() -> String {
    letters(10)
}

/// A password of `n` characters, unlike any identifier and not a word.
pub(crate) fn password(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A self-service flow started by `agent` asking for JSON
/// (`GET /self-service/<kind>/api`, or `.../browser` with a browser's
/// agent, which then holds the CSRF cookie): the answer, the flow and the
/// URL its form posts to.
pub(crate) async fn start_flow(
    agent: &Agent,
    kratos: &Kratos,
    kind: &str,
    client: &str,
) -> Result<(Probe, Flow, Url), Evidence> {
    let url = kratos.public(&format!("self-service/{kind}/{client}"));
    let start = Probe::get_json(agent, "kratos", &url).await?;
    let no_flow = |why: String| {
        Evidence::answer(
            &start,
            format!("no {kind} flow ({why}): {}", start.body_start()),
        )
    };
    if start.status != 200 {
        return Err(no_flow(format!("HTTP {}", start.status)));
    }
    let flow: Flow = serde_json::from_str(&start.body).map_err(|e| no_flow(e.to_string()))?;
    let action =
        Url::parse(&flow.ui.action).map_err(|e| no_flow(format!("the form's action: {e}")))?;
    Ok((start, flow, action))
}

/// Starts an API registration flow: `GET /self-service/registration/api`.
pub(crate) async fn registration_flow(app: &NativeApp, kratos: &Kratos) -> Result<Flow, Evidence> {
    start_flow(app.agent(), kratos, "registration", "api")
        .await
        .map(|(_, flow, _)| flow)
}

/// People made in numbered groups ([`from_form_as`]) have numbers below
/// this; one-off people ([`from_form`]) at or above it.
pub(crate) const NUMBERED_BELOW: u32 = 5_000_000;

/// Traits for every `traits.*` input of `flow`'s form, by input type.
pub(crate) fn from_form(flow: &Flow) -> Someone {
    let mut rng = rand::rng();
    let digits: u32 = rng.random_range(NUMBERED_BELOW..10_000_000);
    from_form_as(flow, &letters(10), digits)
}

/// Someone for `flow`'s form whose addresses and names are made of `tag`
/// and `n`: unique for each `n` (below 10,000,000) of one tag, so a
/// population of thousands has no duplicate identifier. A phone number
/// has room for `n` alone, not the tag: numbered groups use `n` below
/// [`NUMBERED_BELOW`] and one-off people draw theirs above it, so the
/// two never share a number.
pub(crate) fn from_form_as(flow: &Flow, tag: &str, n: u32) -> Someone {
    let mut traits = Map::new();
    let mut identifiers = Vec::new();
    let mut names = Vec::new();
    let mut addresses = Vec::new();
    let mut fields = Vec::new();
    for node in &flow.ui.nodes {
        let a = &node.attributes;
        let Some(path) = a.name.as_deref().and_then(|n| n.strip_prefix("traits.")) else {
            continue;
        };
        let value = match a.input_type.as_deref() {
            Some("email") => {
                let email = format!("gate-{tag}-{n}-{}@orygate.test", traits.len());
                identifiers.push(email.clone());
                addresses.push((email.clone(), "email"));
                Value::from(email)
            }
            Some("tel") => {
                // Seven digits of `n`, one of the field's place.
                let phone = format!("+49151{n:07}{}", traits.len() % 10);
                identifiers.push(phone.clone());
                addresses.push((phone.clone(), "sms"));
                Value::from(phone)
            }
            Some("number") => Value::from(1),
            Some("checkbox") => Value::from(true),
            _ => {
                let name = format!("gate{tag}{n}");
                names.push(name.clone());
                Value::from(name)
            }
        };
        if let Some(text) = value.as_str() {
            fields.push((path.to_owned(), text.to_owned()));
        }
        insert(&mut traits, path, value);
    }
    identifiers.extend(names);
    Someone {
        traits: Value::Object(traits),
        identifiers,
        addresses,
        fields,
        password: password(24),
    }
}

impl Someone {
    /// Puts the values of the traits at `paths` (the schema's password
    /// identifiers) first among the identifiers.
    pub fn prefer(&mut self, paths: &[String]) {
        let preferred: Vec<String> = self
            .fields
            .iter()
            .filter(|(p, _)| paths.contains(p))
            .map(|(_, v)| v.clone())
            .collect();
        self.identifiers.retain(|i| !preferred.contains(i));
        self.identifiers.splice(0..0, preferred);
    }
}

/// The trait paths the deployment's identity schemas mark as password
/// identifiers (`ory.sh/kratos.credentials.password.identifier`), read
/// from Kratos' public `/schemas`.
pub(crate) async fn password_identifiers(app: &NativeApp, kratos: &Kratos) -> Vec<String> {
    let url = kratos.public("schemas");
    let Ok(probe) = Probe::get_json(app.agent(), "kratos", &url).await else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for schema in probe
        .json()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
    {
        let traits = schema
            .get("schema")
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get("traits"));
        if let Some(traits) = traits {
            collect_identifiers(traits, "", &mut paths);
        }
    }
    paths
}

fn collect_identifiers(node: &Value, prefix: &str, paths: &mut Vec<String>) {
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let identifier = property
            .pointer("/ory.sh~1kratos/credentials/password/identifier")
            .and_then(Value::as_bool)
            == Some(true);
        if identifier {
            paths.push(path.clone());
        }
        collect_identifiers(property, &path, paths);
    }
}

/// Sets `value` at the dotted `path` of `map`, making the objects on the
/// way.
fn insert(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert(inner, rest, value);
            }
        }
    }
}

/// Creates `someone` through the admin API, addresses verified; returns
/// the identity's id.
pub(crate) async fn create(
    app: &NativeApp,
    kratos: &Kratos,
    someone: &Someone,
) -> Result<String, Evidence> {
    let url = kratos.admin("admin/identities").map_err(|e| Evidence {
        request: "POST /admin/identities".into(),
        status: None,
        part: e.to_string(),
        subject: None,
    })?;
    let addresses: Vec<Value> = someone
        .addresses
        .iter()
        .map(|(value, via)| json!({"value": value, "via": via, "verified": true, "status": "completed"}))
        .collect();
    let body = json!({
        "traits": someone.traits,
        "credentials": {"password": {"config": {"password": someone.password}}},
        "verifiable_addresses": addresses,
    });
    let request = app.agent().client().post(url.clone()).json(&body);
    let probe = Probe::send(
        app.agent(),
        "kratos",
        Method::POST,
        &url,
        "an identity for the checks",
        request,
    )
    .await?;
    let id = probe
        .json()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
    match (probe.status, id) {
        (201, Some(id)) => Ok(id),
        _ => Err(Evidence::answer(
            &probe,
            format!("the identity was not created: {}", probe.body_start()),
        )),
    }
}

/// Someone made from the registration form and created through the admin
/// API.
pub(crate) async fn created(
    app: &NativeApp,
    kratos: &Kratos,
) -> Result<(Someone, String), Evidence> {
    let flow = registration_flow(app, kratos).await?;
    let mut someone = from_form(&flow);
    someone.prefer(&password_identifiers(app, kratos).await);
    let id = create(app, kratos, &someone).await?;
    Ok((someone, id))
}

/// A password login by API; the answer is the successful one (200 with
/// the session), trying each identifier in turn.
pub(crate) async fn api_login(
    app: &NativeApp,
    kratos: &Kratos,
    someone: &Someone,
) -> Result<Probe, Evidence> {
    let mut last = None;
    for identifier in &someone.identifiers {
        let (_, _, action) = start_flow(app.agent(), kratos, "login", "api").await?;
        let body =
            json!({"method": "password", "identifier": identifier, "password": someone.password});
        let request = app.agent().client().post(action.clone()).json(&body);
        let probe = Probe::send(
            app.agent(),
            "kratos",
            Method::POST,
            &action,
            "password login",
            request,
        )
        .await?;
        if probe.status == 200 {
            return Ok(probe);
        }
        last = Some(probe);
    }
    Err(match last {
        Some(p) => Evidence::answer(&p, format!("the login failed: {}", p.body_start())),
        None => Evidence::config("identity schema", "traits", "no trait to log in with"),
    })
}

/// The session token of a successful API login's answer.
pub(crate) fn session_token(login: &Probe) -> Result<String, Evidence> {
    login
        .json()
        .and_then(|v| {
            v.get("session_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| Evidence::answer(login, "the login answer has no session_token"))
}

/// A password login in a browser: the login flow's start and the form's
/// post, both answers kept (their `Set-Cookie`s are what the cookie check
/// reads).
pub(crate) async fn browser_login(
    browser: &Browser,
    kratos: &Kratos,
    someone: &Someone,
) -> Result<(Probe, Probe), Evidence> {
    let agent = browser.agent();
    let (start, flow, action) = start_flow(agent, kratos, "login", "browser").await?;
    let csrf = flow.csrf_token().unwrap_or_default().to_owned();
    let mut last = None;
    for identifier in &someone.identifiers {
        let form = [
            ("method", "password"),
            ("identifier", identifier.as_str()),
            ("password", someone.password.as_str()),
            ("csrf_token", csrf.as_str()),
        ];
        let request = agent
            .client()
            .post(action.clone())
            .header("Accept", "application/json")
            .form(&form);
        let note = "password login form";
        let post = Probe::send(agent, "kratos", Method::POST, &action, note, request).await?;
        if post.status == 200 {
            return Ok((start, post));
        }
        last = Some(post);
    }
    Err(match last {
        Some(p) => Evidence::answer(&p, format!("the login failed: {}", p.body_start())),
        None => Evidence::config("identity schema", "traits", "no trait to log in with"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_identifiers_are_read_from_the_schema() {
        let traits = json!({"properties": {
            "username": {"type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
            "phone": {"type": "string"},
            "work": {"type": "object", "properties": {
                "email": {"ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}
            }}
        }});
        let mut paths = Vec::new();
        collect_identifiers(&traits, "", &mut paths);
        paths.sort();
        assert_eq!(paths, ["username", "work.email"]);
    }

    #[test]
    fn nested_traits_are_built_from_dotted_names() {
        let mut map = Map::new();
        insert(&mut map, "name.first", Value::from("Ada"));
        insert(&mut map, "name.last", Value::from("Lovelace"));
        insert(&mut map, "email", Value::from("a@orygate.test"));
        assert_eq!(
            Value::Object(map),
            json!({"name": {"first": "Ada", "last": "Lovelace"}, "email": "a@orygate.test"})
        );
    }
}
