//! The OAuth2 clients a deployment registered, read page by page through
//! Hydra's admin API, and the token lifetimes a client sets for itself.

use harness::Agent;
use harness::hydra::Hydra;
use serde_json::Value;
use url::Url;

use super::super::policy::Tokens;
use super::super::{Evidence, Probe};

/// Clients asked for per page: Hydra's largest page.
pub const PAGE_SIZE: usize = 500;

/// The most pages read: a deployment with more clients than this many
/// pages hold is checked on those pages, and the check says so.
pub const MAX_PAGES: usize = 200;

/// One page of Hydra's client list: the answer (for evidence) and its
/// clients.
#[derive(Debug)]
pub struct Page {
    pub answer: Probe,
    pub clients: Vec<Value>,
}

/// Every client, following the `Link: <...>; rel="next"` of each page
/// (Hydra v2's token pagination), `page_size` a page. The second value is
/// true when [`MAX_PAGES`] were read and another was announced.
pub async fn list(
    agent: &Agent,
    hydra: &Hydra,
    page_size: usize,
) -> Result<(Vec<Page>, bool), Evidence> {
    let mut url = hydra.admin("admin/clients");
    url.query_pairs_mut()
        .append_pair("page_size", &page_size.to_string());
    let mut pages = Vec::new();
    loop {
        let answer = Probe::get_json(agent, "hydra", &url).await?;
        if answer.status != 200 {
            return Err(Evidence::answer(&answer, "the client list was refused"));
        }
        let Some(clients) = answer.json().and_then(|v| v.as_array().cloned()) else {
            return Err(Evidence::answer(
                &answer,
                "the client list is not a JSON array",
            ));
        };
        let next = answer.header("link").and_then(|link| next_page(link, &url));
        // A next link to the page just read (or an empty page) ends it too.
        let ended = clients.is_empty() || next.as_ref().is_none_or(|n| *n == url);
        pages.push(Page { answer, clients });
        match next {
            Some(next) if !ended => {
                if pages.len() == MAX_PAGES {
                    return Ok((pages, true));
                }
                url = next;
            }
            _ => return Ok((pages, false)),
        }
    }
}

/// Each client of `pages` judged by `faults`: how many clients there
/// were, and evidence for each fault, naming its client.
pub fn judge(pages: &[Page], faults: impl Fn(&Value) -> Vec<String>) -> (usize, Vec<Evidence>) {
    let mut evidence = Vec::new();
    let mut count = 0;
    for page in pages {
        for client in &page.clients {
            count += 1;
            let id = client
                .get("client_id")
                .and_then(Value::as_str)
                .unwrap_or("?");
            for fault in faults(client) {
                evidence.push(
                    Evidence::answer(&page.answer, format!("client {id}: {fault}"))
                        .about(id.to_owned()),
                );
            }
        }
    }
    (count, evidence)
}

/// The `rel="next"` target of a `Link` header (RFC 8288), resolved
/// against the page that carried it.
pub fn next_page(link: &str, base: &Url) -> Option<Url> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once('>')?;
        let target = target.trim().strip_prefix('<')?;
        let next = params.split(';').any(|p| {
            p.trim()
                .strip_prefix("rel=")
                .is_some_and(|r| r.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        next.then(|| base.join(target).ok()).flatten()
    })
}

/// A client's own `*_lifespan` fields longer than the policy allows for
/// that kind of token, each as "field value; the policy allows bound".
pub fn lifespan_faults(client: &Value, bounds: &Tokens) -> Vec<String> {
    let Some(fields) = client.as_object() else {
        return Vec::new();
    };
    let mut faults = Vec::new();
    for (key, value) in fields {
        let Some(kind) = key.strip_suffix("_lifespan") else {
            continue;
        };
        let max = if kind.ends_with("_access_token") {
            bounds.max_access_token
        } else if kind.ends_with("_refresh_token") {
            bounds.max_refresh_token
        } else if kind.ends_with("_id_token") {
            bounds.max_id_token
        } else {
            continue;
        };
        let Some(text) = value.as_str().filter(|t| !t.is_empty()) else {
            continue;
        };
        match go_duration(text) {
            Some(d) if d > max => faults.push(format!(
                "{key} {text}; the policy allows {}",
                humantime::format_duration(max)
            )),
            Some(_) => {}
            None => faults.push(format!("{key} {text:?} is not a duration")),
        }
    }
    faults
}

/// A duration as Go prints it (`24h0m0s`, `1h30m`, `90s`, `1.5h`), as
/// Hydra answers the lifespans.
fn go_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0.0_f64;
    let mut rest = text;
    if rest == "0" {
        return Some(std::time::Duration::ZERO);
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn the_next_link_is_found_among_others_and_resolved() {
        // As Hydra v2 sends it: first and next, paths relative to the API.
        let base = Url::parse("http://127.0.0.1:4445/admin/clients?page_size=2").unwrap();
        let link = "</admin/clients?page_size=2&page_token=abc>; rel=\"first\",\
                    </admin/clients?page_size=2&page_token=def>; rel=\"next\"";
        assert_eq!(
            next_page(link, &base).unwrap().as_str(),
            "http://127.0.0.1:4445/admin/clients?page_size=2&page_token=def"
        );
        assert_eq!(
            next_page("</admin/clients?page_token=abc>; rel=\"first\"", &base),
            None
        );
    }

    #[test]
    fn go_durations_read_as_go_prints_them() {
        assert_eq!(go_duration("24h0m0s"), Some(Duration::from_secs(86_400)));
        assert_eq!(go_duration("1h30m"), Some(Duration::from_secs(5_400)));
        assert_eq!(go_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5h"), Some(Duration::from_secs(5_400)));
        assert_eq!(go_duration("0"), Some(Duration::ZERO));
        assert_eq!(go_duration("1 day"), None);
        assert_eq!(go_duration("h"), None);
    }

    #[test]
    fn a_client_lifespan_beyond_the_policy_is_a_fault_and_one_within_is_not() {
        let bounds = Tokens {
            max_access_token: Duration::from_secs(3600),
            max_refresh_token: Duration::from_secs(720 * 3600),
            max_id_token: Duration::from_secs(3600),
            max_auth_code: Duration::from_secs(600),
        };
        let client = json!({
            "client_id": "c",
            "client_credentials_grant_access_token_lifespan": "24h0m0s",
            "authorization_code_grant_id_token_lifespan": "30m0s",
            "refresh_token_grant_refresh_token_lifespan": null,
        });
        assert_eq!(
            lifespan_faults(&client, &bounds),
            ["client_credentials_grant_access_token_lifespan 24h0m0s; the policy allows 1h"]
        );
    }
}
