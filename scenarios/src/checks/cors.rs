//! What a public API answers a cross-origin request, shared by Kratos'
//! and Hydra's CORS checks.

use url::Url;

use super::{Context, Evidence, Probe, Verdict};

/// Checks the CORS answers of `url` (on `service`) to a hostile and, if the
/// policy names one, an allowed origin.
pub(super) async fn cors_of(cx: &Context<'_>, service: &'static str, url: &Url) -> Verdict {
    let agent = cx.app.agent();
    let mut evidence = Vec::new();
    let hostile = "https://evil.example";
    let mut origins = vec![hostile.to_owned()];
    origins.extend(cx.policy.cors.allowed_origins.iter().cloned());
    for origin in &origins {
        for preflight in [true, false] {
            let (method, request) = if preflight {
                (
                    reqwest::Method::OPTIONS,
                    agent
                        .client()
                        .request(reqwest::Method::OPTIONS, url.clone())
                        .header("Origin", origin)
                        .header("Access-Control-Request-Method", "GET"),
                )
            } else {
                (
                    reqwest::Method::GET,
                    agent.client().get(url.clone()).header("Origin", origin),
                )
            };
            let note = format!("Origin: {origin}");
            let probe = match Probe::send(agent, service, method, url, &note, request).await {
                Ok(p) => p,
                Err(e) => {
                    evidence.push(e);
                    continue;
                }
            };
            let allowed = probe
                .header("access-control-allow-origin")
                .map(str::to_owned);
            let credentials = probe.header("access-control-allow-credentials") == Some("true");
            match (origin == hostile, allowed.as_deref()) {
                (true, Some(a)) => evidence.push(Evidence::answer(
                    &probe,
                    format!("Access-Control-Allow-Origin: {a}{} for an origin the policy does not allow", if credentials { " with credentials" } else { "" }),
                )),
                (false, Some("*")) if credentials => evidence.push(Evidence::answer(
                    &probe,
                    "Access-Control-Allow-Origin: * with credentials",
                )),
                (false, Some(a)) if a != origin && a != "*" => evidence.push(Evidence::answer(
                    &probe,
                    format!("Access-Control-Allow-Origin: {a}, not the exact origin"),
                )),
                _ => {}
            }
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("no Access-Control-Allow-Origin for {hostile}; allowed origins echoed exactly"),
    )
}
