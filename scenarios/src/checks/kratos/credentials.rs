//! The checks of what signing up and in produce: the password policy,
//! the session's lifetime, the stored hash.

use std::time::Duration;

use harness::kratos::Kratos;
use serde_json::Value;

use super::super::someone;
use super::super::{Context, Evidence, Probe, Verdict, at};

/// Whether Kratos' answer refuses the password itself: an error message
/// on the form's `password` node.
fn password_refused(probe: &Probe) -> bool {
    serde_json::from_str::<harness::kratos::Flow>(&probe.body).is_ok_and(|flow| {
        flow.node("password")
            .is_some_and(|n| n.messages.iter().any(|m| m.message_type == "error"))
    })
}

/// Whether a registration with `password` was refused; evidence if not.
async fn refused(
    cx: &Context<'_>,
    kratos: &Kratos,
    someone: &someone::Someone,
    password: &str,
    why: &str,
) -> Option<Evidence> {
    let agent = cx.app.agent();
    let action = match someone::start_flow(agent, kratos, "registration", "api").await {
        Ok((_, _, action)) => action,
        Err(e) => return Some(e),
    };
    let body =
        serde_json::json!({"method": "password", "traits": someone.traits, "password": password});
    let request = agent.client().post(action.clone()).json(&body);
    match Probe::send(
        agent,
        "kratos",
        reqwest::Method::POST,
        &action,
        why,
        request,
    )
    .await
    {
        Ok(p) if p.status == 200 => Some(Evidence::answer(
            &p,
            format!("registration with {why} was accepted"),
        )),
        Ok(p) if p.status == 400 && password_refused(&p) => None,
        Ok(p) if p.status == 400 => Some(Evidence::answer(
            &p,
            format!(
                "refused, but not for the password (the made-up traits?), so the policy is untested: {}",
                p.body_start()
            ),
        )),
        Ok(p) => Some(Evidence::answer(
            &p,
            format!("neither accepted nor refused as a form: {}", p.body_start()),
        )),
        Err(e) => Some(e),
    }
}

pub(super) async fn password_policy(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    let flow = match someone::registration_flow(&cx.app, kratos).await {
        Ok(f) => f,
        Err(_)
            if super::super::flow_enabled(cx.deployment.config.kratos.as_ref(), "registration")
                == Some(false) =>
        {
            return Verdict::Skipped("registration is off".into());
        }
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let mut evidence = Vec::new();
    let short = cx.policy.password.min_length.saturating_sub(1).max(1);
    let someone = someone::from_form(&flow);
    let why = format!("a {short}-character password");
    evidence.extend(refused(cx, kratos, &someone, &someone::password(short), &why).await);
    if cx.policy.password.identifier_similarity {
        let mut other = someone::from_form(&flow);
        other.prefer(&someone::password_identifiers(&cx.app, kratos).await);
        if let Some(identifier) = other.identifiers.first() {
            evidence.extend(
                refused(cx, kratos, &other, identifier, "the identifier as password").await,
            );
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("{short} characters and the identifier refused"),
    )
}

/// Parses an RFC 3339 time of Kratos' JSON.
fn time(session: &Value, key: &str) -> Option<jiff::Timestamp> {
    session.get(key)?.as_str()?.parse().ok()
}

pub(super) async fn session_lifespan(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let max = cx.policy.session.max_lifespan;
    let mut evidence = Vec::new();
    let (someone, _) = match someone::created(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let login = match someone::api_login(&cx.app, kratos, &someone).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let session = login
        .json()
        .and_then(|v| v.get("session").cloned())
        .unwrap_or_default();
    let (Some(from), Some(to)) = (
        time(&session, "authenticated_at"),
        time(&session, "expires_at"),
    ) else {
        return Verdict::Failed(vec![Evidence::answer(
            &login,
            "the session has no authenticated_at or expires_at",
        )]);
    };
    let lives = Duration::from_secs(u64::try_from(to.as_second() - from.as_second()).unwrap_or(0));
    if lives > max + Duration::from_secs(60) {
        evidence.push(Evidence::answer(
            &login,
            format!(
                "the session lives {} (expires_at {to} - authenticated_at {from}); the policy allows {}",
                humantime::format_duration(lives),
                humantime::format_duration(max)
            ),
        ));
    }
    Verdict::from_evidence(
        evidence,
        format!("a session lives {}", humantime::format_duration(lives)),
    )
}

/// The cost of a stored hash, and what's wrong with it under the policy.
fn hash_faults(hash: &str, policy: &super::super::Policy) -> Result<String, String> {
    let h = &policy.hashing;
    if let Some(rest) = hash
        .strip_prefix("$2a$")
        .or_else(|| hash.strip_prefix("$2b$"))
        .or_else(|| hash.strip_prefix("$2y$"))
    {
        let cost: u32 = rest
            .get(..2)
            .and_then(|c| c.parse().ok())
            .ok_or("a bcrypt hash without a cost")?;
        return if cost >= h.bcrypt_min_cost {
            Ok(format!("bcrypt cost {cost}"))
        } else {
            Err(format!(
                "bcrypt cost {cost}, below the policy's {}",
                h.bcrypt_min_cost
            ))
        };
    }
    if hash.starts_with("$argon2") {
        let params = hash.split('$').nth(3).unwrap_or_default();
        let param = |k: &str| {
            params
                .split(',')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (m, t) = (param("m").unwrap_or(0), param("t").unwrap_or(0));
        return if m >= h.argon2_min_memory_kib && t >= u64::from(h.argon2_min_iterations) {
            Ok(format!("argon2 m={m} KiB t={t}"))
        } else {
            Err(format!(
                "argon2 m={m} KiB t={t}, below the policy's m={} KiB t={}",
                h.argon2_min_memory_kib, h.argon2_min_iterations
            ))
        };
    }
    Err(format!(
        "an unknown hash format: {}",
        hash.split('$').nth(1).unwrap_or("?")
    ))
}

pub(super) async fn hashing(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let (_, id) = match someone::created(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let mut url = match kratos.admin(&format!("admin/identities/{id}")) {
        Ok(u) => u,
        Err(e) => return Verdict::Skipped(e.to_string()),
    };
    url.query_pairs_mut()
        .append_pair("include_credential", "password");
    let probe = match Probe::get_json(cx.app.agent(), "kratos", &url).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let hash = probe.json().and_then(|v| {
        at(&v, "credentials.password.config.hashed_password")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let Some(hash) = hash else {
        return Verdict::Failed(vec![Evidence::answer(
            &probe,
            "no credentials.password.config.hashed_password",
        )]);
    };
    match hash_faults(&hash, cx.policy) {
        Ok(seen) => Verdict::Passed(seen),
        Err(fault) => Verdict::Failed(vec![Evidence::answer(
            &probe,
            format!("hashed_password: {fault}"),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Policy;

    #[test]
    fn only_an_error_on_the_password_counts_as_its_refusal() {
        let flow = |node: &str| {
            format!(
                r#"{{"id":"f","type":"api","expires_at":"","issued_at":"","request_url":"","ui":{{"action":"","method":"POST","nodes":[{{"type":"input","group":"password","attributes":{{"node_type":"input","name":"{node}"}},"messages":[{{"id":4000032,"text":"too short","type":"error"}}]}}]}}}}"#
            )
        };
        let answer = |body: String| Probe {
            request: "POST /self-service/registration".into(),
            status: 400,
            headers: reqwest::header::HeaderMap::new(),
            body,
        };
        assert!(password_refused(&answer(flow("password"))));
        assert!(!password_refused(&answer(flow("traits.website"))));
    }

    #[test]
    fn hashes_are_read_for_their_cost() {
        let policy = Policy::default_policy();
        // A bcrypt hash of cost 12 and one of cost 10 (format per the
        // modular crypt format), an argon2id PHC string with m=16 MiB.
        let b12 = "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        let b10 = "$2a$10$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        let argon = "$argon2id$v=19$m=16384,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
        assert_eq!(hash_faults(b12, &policy), Ok("bcrypt cost 12".into()));
        assert!(
            hash_faults(b10, &policy)
                .unwrap_err()
                .contains("below the policy's 12")
        );
        assert!(hash_faults(argon, &policy).unwrap_err().contains("m=16384"));
    }
}
