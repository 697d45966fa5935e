//! The identity schema check: every identity names a schema Kratos serves
//! on `/schemas`, and its traits validate against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::{Context, Evidence, Verdict};
use crate::migration::schemas::{self, Problem};

/// Identities read per page, and the most pages read: a deployment with
/// more is checked on its first `PAGES * PAGE` identities and is not
/// passed (skipped, saying so) unless those fail.
const PAGE: usize = 500;
const PAGES: usize = 200;

pub(super) async fn identity_schemas(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let served = match schemas::served(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => {
            return Verdict::Failed(vec![Evidence {
                request: "GET /schemas".into(),
                status: None,
                part: e.to_string(),
                subject: None,
            }]);
        }
    };
    // Each page is judged as it is read: only the problems are kept.
    let mut tally = Tally::default();
    let mut token: Option<String> = None;
    let mut complete = false;
    for _ in 0..PAGES {
        match kratos.identities(&cx.app, PAGE, token.as_deref()).await {
            Ok(page) => {
                tally.read += page.items.len();
                tally.add(&schemas::validate(&page.items, &served));
                if let Some(next) = page.next {
                    token = Some(next);
                } else {
                    complete = true;
                    break;
                }
            }
            Err(e) => return Verdict::Failed(vec![listing_failed(&e)]),
        }
    }
    tally.verdict(&served, complete)
}

/// Kratos v1.3.1 answers the whole list 500 when one identity names a
/// schema it no longer has.
fn listing_failed(e: &harness::Error) -> Evidence {
    let text = e.to_string();
    let lost = text.contains("JSON Schema") && text.contains("could not be found");
    Evidence {
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
    }
}

/// What the identities read so far came to.
#[derive(Default)]
struct Tally {
    read: usize,
    /// The identities failing, by schema and kind of problem.
    failing: BTreeMap<(String, String), Vec<String>>,
    /// Identities not judged, by schema: it refers to another document.
    unjudged: BTreeMap<String, (String, usize)>,
    /// Values only a format check refused, by schema and format: told,
    /// not failed, as Kratos' format checks and this validator's differ
    /// at the edges (internationalised addresses).
    formats: BTreeMap<(String, String), Vec<String>>,
}

impl Tally {
    fn add(&mut self, invalid: &[schemas::Invalid]) {
        for bad in invalid {
            for problem in &bad.problems {
                let kind = match problem {
                    Problem::Unjudged { reference, .. } => {
                        let entry = self
                            .unjudged
                            .entry(bad.schema_id.clone())
                            .or_insert_with(|| (reference.clone(), 0));
                        entry.1 += 1;
                        continue;
                    }
                    Problem::Format { at, format, .. } => {
                        self.formats
                            .entry((bad.schema_id.clone(), format!("{format} at {at}")))
                            .or_default()
                            .push(bad.identity.clone());
                        continue;
                    }
                    Problem::NoSchema { .. } => "names a schema /schemas does not serve".to_owned(),
                    Problem::BrokenSchema { message, .. } => {
                        format!("its schema does not compile: {message}")
                    }
                    other => format!("does not validate: {other}"),
                };
                self.failing
                    .entry((bad.schema_id.clone(), kind))
                    .or_default()
                    .push(bad.identity.clone());
            }
        }
    }

    /// One piece of evidence per schema and kind of problem, with a count
    /// and the first identities, not one per identity.
    fn verdict(self, served: &schemas::Schemas, complete: bool) -> Verdict {
        let evidence: Vec<Evidence> = self
            .failing
            .into_iter()
            .map(|((schema, kind), ids)| {
                let part = format!(
                    "{} identities with schema {schema:?}: {kind} ({})",
                    ids.len(),
                    first(&ids)
                );
                Evidence::config("GET /admin/identities", "schema_id", part).about(schema)
            })
            .collect();
        if !evidence.is_empty() {
            return Verdict::Failed(evidence);
        }
        let unjudged: usize = self.unjudged.values().map(|(_, n)| n).sum();
        let mut seen = format!(
            "{} identities validate against the {} schemas /schemas serves ({})",
            self.read - unjudged,
            served.len(),
            served.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        for (schema, (reference, n)) in &self.unjudged {
            let _ = write!(
                seen,
                "; {n} with schema {schema:?} not judged: it refers to {reference}, which is not fetched here"
            );
        }
        for ((schema, format), ids) in &self.formats {
            let _ = write!(
                seen,
                "; {} with schema {schema:?} have a value this validator's {format} check refuses, which Kratos' may accept: not failed ({})",
                ids.len(),
                first(ids)
            );
        }
        if !complete {
            return Verdict::Skipped(format!(
                "{seen}; only the first {} read: the rest are not judged",
                PAGES * PAGE
            ));
        }
        if unjudged > 0 {
            return Verdict::Skipped(seen);
        }
        Verdict::Passed(seen)
    }
}

/// The first three of `ids`, and `...` if there are more.
fn first(ids: &[String]) -> String {
    let mut text = ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 3 {
        text.push_str(", ...");
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity(
        id: &str,
        schema_id: &str,
        traits: &serde_json::Value,
    ) -> harness::kratos::Identity {
        serde_json::from_value(json!({"id": id, "schema_id": schema_id, "traits": traits}))
            .expect("an identity")
    }

    fn person() -> serde_json::Value {
        json!({"type": "object", "properties": {"traits": {"type": "object",
            "properties": {"email": {"type": "string", "format": "email"}},
            "required": ["email"]}}})
    }

    fn verdict(
        schemas: &schemas::Schemas,
        identities: &[harness::kratos::Identity],
        complete: bool,
    ) -> Verdict {
        let mut tally = Tally {
            read: identities.len(),
            ..Tally::default()
        };
        tally.add(&schemas::validate(identities, schemas));
        tally.verdict(schemas, complete)
    }

    #[test]
    fn a_missing_trait_or_a_bad_address_fails_and_letters_beyond_ascii_do_not() {
        let served = schemas::Schemas::from([("person".into(), person())]);
        let beyond_ascii = verdict(
            &served,
            &[identity("a", "person", &json!({"email": "ö"}))],
            true,
        );
        let Verdict::Passed(seen) = &beyond_ascii else {
            panic!("a value only the format check refuses fails the check: {beyond_ascii:?}");
        };
        assert!(
            seen.contains("email at /traits/email") && seen.contains("(a)"),
            "{seen}"
        );
        // Kratos refuses this one too: it fails.
        let bad = verdict(
            &served,
            &[identity("c", "person", &json!({"email": "not an address"}))],
            true,
        );
        assert!(
            matches!(&bad, Verdict::Failed(e) if e[0].part.contains("/traits/email")),
            "{bad:?}"
        );
        let missing = verdict(
            &served,
            &[identity("b", "person", &json!({"name": "B"}))],
            true,
        );
        assert!(
            matches!(&missing, Verdict::Failed(e) if e.len() == 1 && e[0].part.contains("/traits/email")),
            "{missing:?}"
        );
    }

    #[test]
    fn a_schema_read_elsewhere_or_a_list_not_read_to_its_end_is_not_passed() {
        let remote =
            json!({"properties": {"traits": {"$ref": "base64://eyJ0eXBlIjoib2JqZWN0In0="}}});
        let served =
            schemas::Schemas::from([("remote".into(), remote), ("person".into(), person())]);
        let only_remote = verdict(&served, &[identity("a", "remote", &json!({}))], true);
        assert!(
            matches!(&only_remote, Verdict::Skipped(why) if why.contains("base64://")),
            "{only_remote:?}"
        );
        let ok = [identity("b", "person", &json!({"email": "b@orygate.test"}))];
        // One judged and one not: not passed either.
        let half = verdict(
            &served,
            &[ok[0].clone(), identity("a", "remote", &json!({}))],
            true,
        );
        assert!(
            matches!(&half, Verdict::Skipped(why) if why.contains("1 identities validate")),
            "{half:?}"
        );
        assert!(matches!(verdict(&served, &ok, true), Verdict::Passed(_)));
        let partial = verdict(&served, &ok, false);
        assert!(
            matches!(&partial, Verdict::Skipped(why) if why.contains("only the first")),
            "{partial:?}"
        );
    }
}
