//! The checks of what protects a session and a form: CSRF on browser
//! flows, sessions that end when they should, and answers that do not tell
//! who has an account.

use harness::Browser;
use harness::kratos::{Flow, Kratos};
use reqwest::Method;
use serde_json::{Value, json};

use super::super::someone;
use super::super::{Context, Evidence, Probe, Verdict};

/// Whether a browser flow's post was refused for its CSRF token: Kratos
/// answers 403 with `security_csrf_violation`.
fn csrf_refused(probe: &Probe) -> bool {
    probe.status == 403 && probe.body.contains("security_csrf_violation")
}

pub(super) async fn csrf(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    let browser = match Browser::new() {
        Ok(b) => b,
        Err(e) => return Verdict::Skipped(format!("no browser: {e}")),
    };
    let agent = browser.agent();
    let (_, flow, action) = match someone::start_flow(agent, kratos, "login", "browser").await {
        Ok(started) => started,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let token = flow.csrf_token().unwrap_or_default().to_owned();
    let tampered: String = token.chars().rev().collect();
    let mut evidence = Vec::new();
    let cases: [(&str, Option<&str>); 2] = [
        ("no csrf_token", None),
        ("a tampered csrf_token", Some(&tampered)),
    ];
    for (what, csrf) in cases {
        let mut form = vec![
            ("method", "password"),
            ("identifier", "gate-nobody@orygate.test"),
            ("password", "orygate-gate-not-a-password"),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf_token", csrf));
        }
        let request = agent
            .client()
            .post(action.clone())
            .header("Accept", "application/json")
            .form(&form);
        match Probe::send(agent, "kratos", Method::POST, &action, what, request).await {
            Ok(p) if csrf_refused(&p) => {}
            Ok(p) => evidence.push(Evidence::answer(
                &p,
                format!(
                    "a login form with {what} was not refused for CSRF: {}",
                    p.body_start()
                ),
            )),
            Err(e) => evidence.push(e),
        }
    }
    Verdict::from_evidence(
        evidence,
        "posts without the flow's CSRF token refused (403)",
    )
}

/// A session token for a fresh person created through the admin API, and
/// their identity's id.
async fn signed_in(cx: &Context<'_>, kratos: &Kratos) -> Result<(String, String), Evidence> {
    let (person, id) = someone::created(&cx.app, kratos).await?;
    let login = someone::api_login(&cx.app, kratos, &person).await?;
    let token = someone::session_token(&login)?;
    Ok((token, id))
}

/// `GET /sessions/whoami` with `token`: its answer.
async fn whoami(
    cx: &Context<'_>,
    kratos: &Kratos,
    token: &str,
    note: &str,
) -> Result<Probe, Evidence> {
    let url = kratos.public("sessions/whoami");
    let agent = cx.app.agent();
    let request = agent
        .client()
        .get(url.clone())
        .header("X-Session-Token", token);
    Probe::send(agent, "kratos", Method::GET, &url, note, request).await
}

/// Whether a fresh session's whoami answers 200 (else the evidence): a
/// 401 after logout means nothing for a session that never worked, and a
/// cache in front only keeps what it was asked before.
async fn works(
    cx: &Context<'_>,
    kratos: &Kratos,
    token: &str,
    evidence: &mut Vec<Evidence>,
) -> bool {
    match whoami(cx, kratos, token, "a fresh session").await {
        Ok(p) if p.status == 200 => true,
        Ok(p) => {
            evidence.push(Evidence::answer(
                &p,
                format!("a fresh session's whoami answers {}, not 200", p.status),
            ));
            false
        }
        Err(e) => {
            evidence.push(e);
            false
        }
    }
}

pub(super) async fn session_ends(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let mut evidence = Vec::new();
    let agent = cx.app.agent();
    // Logged out: the token worked, and no longer does.
    match signed_in(cx, kratos).await {
        Ok((token, _)) if !works(cx, kratos, &token, &mut evidence).await => {}
        Ok((token, _)) => {
            let url = kratos.public("self-service/logout/api");
            let request = agent
                .client()
                .delete(url.clone())
                .json(&json!({"session_token": token}));
            let logout =
                Probe::send(agent, "kratos", Method::DELETE, &url, "logout", request).await;
            match (logout, whoami(cx, kratos, &token, "after logout").await) {
                (Ok(_), Ok(p)) if p.status != 401 => {
                    evidence.push(Evidence::answer(
                        &p,
                        format!("after logout whoami answers {}, not 401", p.status),
                    ));
                }
                (Err(e), _) | (_, Err(e)) => evidence.push(e),
                _ => {}
            }
        }
        Err(e) => evidence.push(e),
    }
    // The identity disabled: its session worked, and no longer does.
    match signed_in(cx, kratos).await {
        Ok((token, _)) if !works(cx, kratos, &token, &mut evidence).await => {}
        Ok((token, id)) => {
            let patch = json!([{"op": "replace", "path": "/state", "value": "inactive"}]);
            match kratos.patch_identity(&cx.app, &id, &patch).await {
                Ok(_) => {
                    match whoami(cx, kratos, &token, "after the identity was disabled").await {
                        Ok(p) if p.status != 401 => evidence.push(Evidence::answer(
                            &p,
                            format!(
                                "for a disabled identity whoami answers {}, not 401",
                                p.status
                            ),
                        )),
                        Ok(_) => {}
                        Err(e) => evidence.push(e),
                    }
                }
                Err(e) => evidence.push(Evidence::config(
                    "kratos",
                    "PATCH /admin/identities",
                    e.to_string(),
                )),
            }
        }
        Err(e) => evidence.push(e),
    }
    Verdict::from_evidence(
        evidence,
        "sessions end on logout and when the identity is disabled (401)",
    )
}

/// What an answer says, for comparing two: its status and the ids of the
/// messages on the form (or the error's id).
fn said(probe: &Probe) -> (u16, Vec<i64>, String) {
    let json = probe.json().unwrap_or_default();
    let mut ids: Vec<i64> = serde_json::from_value::<Flow>(json.clone())
        .map(|f| f.messages().into_iter().map(|(id, _)| id).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    let error = json
        .pointer("/error/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (probe.status, ids, error)
}

/// The methods a flow's form offers (its `method` inputs' values).
fn methods(start: &Probe) -> Vec<String> {
    start
        .json()
        .and_then(|v| v.pointer("/ui/nodes").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter(|n| n.pointer("/attributes/name").and_then(Value::as_str) == Some("method"))
        .filter_map(|n| n.pointer("/attributes/value").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Posts `body` to a fresh API flow of `kind`.
async fn post_api(
    cx: &Context<'_>,
    kratos: &Kratos,
    kind: &str,
    body: &Value,
    note: &str,
) -> Result<Probe, Evidence> {
    let agent = cx.app.agent();
    let (_, _, action) = someone::start_flow(agent, kratos, kind, "api").await?;
    let request = agent.client().post(action.clone()).json(body);
    Probe::send(agent, "kratos", Method::POST, &action, note, request).await
}

pub(super) async fn enumeration(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let (person, _) = match someone::created(&cx.app, kratos).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let known = person.identifiers.first().cloned().unwrap_or_default();
    let unknown = "gate-nobody-at-all@orygate.test".to_owned();
    let mut evidence = Vec::new();
    let mut compared = Vec::new();
    let login = |who: &str| json!({"method": "password", "identifier": who, "password": "orygate-gate-wrong-password"});
    let mut pairs = vec![(
        "login with a wrong password",
        "login",
        login(&known),
        login(&unknown),
    )];
    // The login's other first steps, as the form offers them: an
    // identifier alone (identifier-first login) or a code by mail.
    let offered = match someone::start_flow(cx.app.agent(), kratos, "login", "api").await {
        Ok((start, _, _)) => methods(&start),
        Err(e) => return Verdict::Failed(vec![e]),
    };
    for (method, what) in [
        ("identifier_first", "identifier-first login"),
        ("code", "login by code"),
    ] {
        if offered.iter().any(|m| m == method) {
            let body = |who: &str| json!({"method": method, "identifier": who});
            pairs.push((what, "login", body(&known), body(&unknown)));
        }
    }
    if let Some((email, _)) = person.addresses.iter().find(|(_, via)| *via == "email") {
        for kind in ["recovery", "verification"] {
            // Unknown (by URL): left out rather than guessed.
            let config = cx.deployment.config.kratos.as_ref();
            if super::super::flow_enabled(config, kind) == Some(true) {
                let body = |who: &str| json!({"method": "code", "email": who});
                pairs.push((kind, kind, body(email), body(&unknown)));
            }
        }
    }
    for (what, kind, for_known, for_unknown) in pairs {
        let a = post_api(cx, kratos, kind, &for_known, "a known identifier").await;
        let b = post_api(cx, kratos, kind, &for_unknown, "an unknown identifier").await;
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let (sa, sb) = (said(&a), said(&b));
                if sa == sb {
                    compared.push(what);
                } else {
                    evidence.push(Evidence::answer(
                        &b,
                        format!("{what}: a known identifier gets {sa:?}, an unknown one {sb:?}: the answer tells who has an account"),
                    ));
                }
            }
            (Err(e), _) | (_, Err(e)) => evidence.push(e),
        }
    }
    Verdict::from_evidence(
        evidence,
        format!(
            "{} answer a known and an unknown identifier alike",
            compared.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(status: u16, body: &str) -> Probe {
        Probe {
            request: "POST /self-service/login".into(),
            status,
            headers: reqwest::header::HeaderMap::new(),
            body: body.into(),
        }
    }

    #[test]
    fn only_a_csrf_refusal_counts() {
        assert!(csrf_refused(&probe(
            403,
            r#"{"error":{"id":"security_csrf_violation"}}"#
        )));
        assert!(!csrf_refused(&probe(
            400,
            r#"{"ui":{"messages":[{"id":4000006}]}}"#
        )));
        assert!(!csrf_refused(&probe(200, "{}")));
        assert!(!csrf_refused(&probe(
            403,
            r#"{"error":{"id":"forbidden"}}"#
        )));
    }

    #[test]
    fn answers_differing_in_status_or_message_tell_apart() {
        // Kratos' "invalid credentials" (4000006) against "no such account"
        // (4000035 in later versions): a difference is an enumeration.
        let flow = |id: i64| {
            format!(
                r#"{{"id":"f","type":"api","expires_at":"","issued_at":"","request_url":"","ui":{{"action":"","method":"POST","nodes":[],"messages":[{{"id":{id},"text":"t","type":"error"}}]}}}}"#
            )
        };
        assert_eq!(
            said(&probe(400, &flow(4000006))),
            said(&probe(400, &flow(4000006)))
        );
        assert_ne!(
            said(&probe(400, &flow(4000006))),
            said(&probe(400, &flow(4000035)))
        );
        assert_ne!(
            said(&probe(400, &flow(4000006))),
            said(&probe(404, &flow(4000006)))
        );
    }
}
