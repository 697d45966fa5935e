//! The identity schema check: every identity names a schema Kratos serves
//! on `/schemas`, and its traits validate against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::{Context, Evidence, Verdict};
use crate::migration::schemas::{self, Problem};

/// Identities read per page, and the most pages read: a deployment with
/// more is checked on its first `PAGES * PAGE` identities, and says so.
const PAGE: usize = 500;
const PAGES: usize = 40;

pub(super) async fn identity_schemas(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let failed = |what: &str, e: harness::Error| {
        Verdict::Failed(vec![Evidence {
            request: what.to_owned(),
            status: None,
            part: e.to_string(),
            subject: None,
        }])
    };
    let served = match schemas::served(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => return failed("GET /schemas", e),
    };
    let mut identities = Vec::new();
    let mut token: Option<String> = None;
    let mut complete = false;
    for _ in 0..PAGES {
        match kratos.identities(&cx.app, PAGE, token.as_deref()).await {
            Ok(page) => {
                identities.extend(page.items);
                if let Some(next) = page.next {
                    token = Some(next);
                } else {
                    complete = true;
                    break;
                }
            }
            Err(e) => {
                // Kratos v1.3.1 answers the whole list 500 when one
                // identity names a schema it no longer has.
                let text = e.to_string();
                let lost = text.contains("JSON Schema") && text.contains("could not be found");
                return Verdict::Failed(vec![Evidence {
                    request: "GET /admin/identities".into(),
                    status: None,
                    part: if lost {
                        format!(
                            "an identity names a schema Kratos no longer serves, and the whole list fails on it: {text}"
                        )
                    } else {
                        text
                    },
                    subject: None,
                }]);
            }
        }
    }
    let invalid = schemas::validate(&identities, &served);
    // One piece of evidence per schema and kind of problem, with a count
    // and the first identities, not one per identity.
    let mut grouped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for bad in &invalid {
        for problem in &bad.problems {
            let kind = match problem {
                Problem::NoSchema { .. } => "names a schema /schemas does not serve".to_owned(),
                Problem::BrokenSchema { message, .. } => {
                    format!("its schema does not compile: {message}")
                }
                other => format!("does not validate: {other}"),
            };
            grouped
                .entry((bad.schema_id.clone(), kind))
                .or_default()
                .push(bad.identity.clone());
        }
    }
    let evidence = grouped
        .into_iter()
        .map(|((schema, kind), ids)| {
            let mut part = format!("{} identities with schema {schema:?}: {kind} (", ids.len());
            let _ = write!(
                part,
                "{}",
                ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            );
            if ids.len() > 3 {
                part.push_str(", ...");
            }
            part.push(')');
            Evidence::config("GET /admin/identities", "schema_id", part).about(schema)
        })
        .collect();
    let mut seen = format!(
        "{} identities validate against the {} schemas /schemas serves ({})",
        identities.len(),
        served.len(),
        served.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    if !complete {
        let _ = write!(seen, "; only the first {} read", PAGES * PAGE);
    }
    Verdict::from_evidence(evidence, seen)
}
