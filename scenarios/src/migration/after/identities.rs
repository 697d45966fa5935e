//! Every identity read back after the change: which are gone, which no
//! longer validate and their fixes, which schemas were edited in place.

use harness::kratos::{Identity, Kratos};
use harness::{Error, NativeApp, Result};

use super::super::Population;
use super::super::schemas::{self, Fix, Invalid, Schemas};

/// Identities read per page of `GET /admin/identities`.
const PAGE: usize = 500;
/// Invalid identities named in a row's message; all are in the verdict.
const NAMED: usize = 10;

/// A fix per invalid identity a patch of traits can fix, each schema
/// compiled once for the whole population.
pub(super) fn fixes_for(invalid: &[Invalid], identities: &[Identity], new: &Schemas) -> Vec<Fix> {
    let by_id: std::collections::HashMap<&str, &Identity> =
        identities.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut compiled = std::collections::HashMap::new();
    invalid
        .iter()
        .filter_map(|bad| {
            let identity = by_id.get(bad.identity.as_str())?;
            let schema = new.get(&bad.schema_id);
            let validator = compiled
                .entry(bad.schema_id.clone())
                .or_insert_with(|| {
                    schema.and_then(|s| {
                        jsonschema::options()
                            .should_validate_formats(true)
                            .build(s)
                            .ok()
                    })
                })
                .as_ref();
            schemas::fix(bad, identity, schema, validator)
        })
        .collect()
}

/// Every identity, page by page.
pub(super) async fn every_identity(app: &NativeApp, kratos: &Kratos) -> Result<Vec<Identity>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let page = kratos.identities(app, PAGE, token.as_deref()).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => token = Some(next),
            None => return Ok(all),
        }
    }
    Err(Error::unexpected(
        "kratos GET /admin/identities",
        "more than 10,000 pages",
    ))
}

/// The identities made on the old config that the new one no longer
/// lists.
pub(super) fn gone(
    population: &Population,
    identities: &[Identity],
) -> std::result::Result<(), String> {
    let there: std::collections::HashSet<&str> = identities.iter().map(|i| i.id.as_str()).collect();
    let missing: Vec<&str> = population
        .known
        .iter()
        .map(|k| k.id.as_str())
        .chain(population.imported.iter().map(String::as_str))
        .filter(|id| !there.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let named: Vec<&str> = missing.iter().take(NAMED).copied().collect();
    Err(format!(
        "{} of the {} identities made on the old config are gone: {}{}",
        missing.len(),
        population.len(),
        named.join(", "),
        if missing.len() > NAMED { ", ..." } else { "" }
    ))
}

pub(super) fn invalid_rows(invalid: &[Invalid], total: usize) -> std::result::Result<(), String> {
    if invalid.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = invalid
        .iter()
        .take(NAMED)
        .map(|i| {
            let problems: Vec<String> = i.problems.iter().map(ToString::to_string).collect();
            format!("{} ({}): {}", i.identity, i.schema_id, problems.join("; "))
        })
        .collect();
    let more = invalid.len().saturating_sub(NAMED);
    Err(format!(
        "{} of {total} identities no longer validate: {}{}. To do: a migration that applies each identity's JSON Patch (`migration.fixes` in the gate's JSON; --fix-plan FILE writes them) with PATCH /admin/identities/{{id}}, or a new schema id for the change",
        invalid.len(),
        named.join(" | "),
        if more > 0 {
            format!(" | and {more} more (all in the gate's JSON)")
        } else {
            String::new()
        }
    ))
}

/// A schema under an id the old config had must still be there while
/// identities name it, and an edit of it in place must keep every
/// trait's role; the identities affected are named.
pub(super) fn edits(
    old: &Schemas,
    new: &Schemas,
    identities: &[Identity],
) -> std::result::Result<(), String> {
    let naming = |id: &str| {
        let ids: Vec<&str> = identities
            .iter()
            .filter(|i| i.schema_id == id)
            .map(|i| i.id.as_str())
            .collect();
        let shown: Vec<&str> = ids.iter().take(NAMED).copied().collect();
        let more = ids.len().saturating_sub(NAMED);
        (
            ids.len(),
            format!(
                "{}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        )
    };
    let mut wrong = Vec::new();
    for (id, before) in old {
        match new.get(id) {
            None => {
                let (count, ids) = naming(id);
                if count > 0 {
                    wrong.push(format!(
                        "schema {id:?} is gone; {count} identities name it: {ids}"
                    ));
                }
            }
            Some(after) if after != before => {
                let lost = schemas::lost_roles(before, after);
                let (count, ids) = naming(id);
                if !lost.is_empty() && count > 0 {
                    wrong.push(format!(
                        "schema {id:?} was edited in place: {}; {count} identities name it and lose that at their next update: {ids}",
                        lost.join(", "),
                    ));
                }
            }
            Some(_) => {}
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join(" | "))
    }
}
