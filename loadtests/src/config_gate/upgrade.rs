//! The Ory upgrade gate: the Ory folder's services start at older
//! releases on PostgreSQL, data is made there (people and their sessions,
//! an OAuth2 grant with a refresh token and a remembered consent, the
//! permission table's relationships), each service is replaced by the
//! pinned release on the same database after its SQL migrations, and the
//! data is used again.

use std::time::Duration;

use harness::{OryStack, Replacement, Service};
use scenarios::derived::{FlowOutcome, FlowResult};
use scenarios::migration::{self, Verdict, upgrade};

use super::GateArgs;
use super::stack::Registered;
use crate::error::{Error, Result};

/// The services to start at an older release, and that release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From(pub Vec<(Service, String)>);

/// Parses `kratos=v1.0.0,hydra=v2.1.2`.
pub fn parse(text: &str) -> std::result::Result<From, String> {
    let mut olds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, version) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected SERVICE=VERSION (kratos=v1.0.0)"))?;
        let service = Service::ALL
            .into_iter()
            .find(|s| s.name() == name.trim())
            .ok_or_else(|| format!("{name:?}: not kratos, hydra or keto"))?;
        let version = version.trim();
        if !version.starts_with('v') {
            return Err(format!("{part:?}: a release tag, as v1.0.0"));
        }
        if version == service.tag() {
            return Err(format!("{part:?}: that is the release the gate runs"));
        }
        if let (Some(old), Some(pinned)) = (release(version), release(service.tag()))
            && old > pinned
        {
            return Err(format!(
                "{part:?}: newer than {} {}, the release the gate runs: that would be a downgrade",
                service,
                service.tag()
            ));
        }
        if olds.iter().any(|(s, _)| *s == service) {
            return Err(format!("{name:?} named twice"));
        }
        olds.push((service, version.to_owned()));
    }
    if olds.is_empty() {
        return Err("no SERVICE=VERSION given".into());
    }
    Ok(From(olds))
}

/// A release tag's parts in semantic versioning's order.
type ReleaseKey = (Vec<u64>, bool, Vec<(bool, u64, String)>);

/// `v1.2.3` or `v0.13.0-alpha.10` in semantic versioning's order: the numbers, then a
/// pre-release before its release, then the pre-release's parts, numbers
/// as numbers (`alpha.9` before `alpha.10`) and before words.
fn release(tag: &str) -> Option<ReleaseKey> {
    let tag = tag.strip_prefix('v')?;
    let (numbers, pre) = tag.split_once('-').unwrap_or((tag, ""));
    let numbers = numbers
        .split('.')
        .map(|n| n.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    let parts = pre
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (false, n, String::new()),
            Err(_) => (true, 0, p.to_owned()),
        })
        .collect();
    Some((numbers, pre.is_empty(), parts))
}

/// The Kratos configs of an upgrade: the one the old release ran, the one
/// the new release runs, and where the new one is when they differ.
#[derive(Debug)]
pub(super) struct Configs<'a> {
    pub old: Option<&'a serde_json::Value>,
    pub new: Option<&'a serde_json::Value>,
    /// Kratos' new config folder and overlays, when Kratos started on
    /// another (`--migrate-from`).
    pub kratos: Option<Replacement>,
}

/// The upgrade gate on a stack started at the old releases; its rows
/// come first in the gate's flows. `None` for the verdict when a service
/// did not come up at its new release.
pub(super) async fn run(
    args: &GateArgs,
    stack: &mut OryStack,
    from: &From,
    clients: &[Registered],
    permissions: Option<(
        &[harness::keto::Relationship],
        &[scenarios::permissions::Row],
    )>,
    configs: Configs<'_>,
) -> Result<(Vec<FlowResult>, Option<Verdict>)> {
    let has = |s: Service| stack.endpoints(s).is_some();
    let kratos = has(Service::Kratos).then(|| stack.kratos());
    let hydra = has(Service::Hydra).then(|| stack.hydra());
    // Relationships are made and checked when Keto is the one upgraded.
    let keto = (has(Service::Keto) && from.0.iter().any(|(s, _)| *s == Service::Keto))
        .then(|| stack.keto());
    let mail = stack.mailboxes();
    let mut rows = Vec::new();
    let made = async {
        let population = match &kratos {
            Some(kratos) => Some(
                migration::populate(kratos, configs.old, mail.as_ref(), args.population).await?,
            ),
            None => None,
        };
        let grant = match &hydra {
            Some(hydra) => {
                upgrade::grant(hydra, clients, population.as_ref(), kratos.as_ref()).await?
            }
            None => None,
        };
        if let (Some(keto), Some((tuples, table))) = (&keto, permissions) {
            upgrade::relationships(keto, tuples, table).await?;
        }
        Ok::<_, harness::Error>((population, grant))
    };
    let (population, grant) = match made.await {
        Ok(made) => made,
        Err(e) => {
            rows.push(failed(
                "upgrade: data made on the old releases",
                stack.explain(&e).await,
            ));
            return Ok((rows, None));
        }
    };
    rows.push(FlowResult {
        name: format!(
            "upgrade: data made on the old releases ({} people{}{})",
            population.as_ref().map_or(0, migration::Population::len),
            if grant.is_some() {
                ", an OAuth2 grant"
            } else {
                ""
            },
            if permissions.is_some() && keto.is_some() {
                ", the permission table's relationships"
            } else {
                ""
            },
        ),
        outcome: FlowOutcome::Passed,
        millis: population.as_ref().map_or(0, |p| millis(p.import)),
    });
    if !moved(stack, from, configs.kratos.as_ref(), &mut rows).await {
        return Ok((rows, None));
    }
    let mut verdict = None;
    if let (Some(kratos), Some(population)) = (&kratos, &population) {
        let found =
            migration::after_as("upgrade", kratos, configs.new, mail.as_ref(), population).await;
        rows.extend(found.rows.iter().cloned());
        verdict = Some(found);
    }
    if let Some(hydra) = &hydra {
        rows.extend(upgrade::grant_after(hydra, grant.as_ref()).await);
    }
    match (&keto, permissions) {
        (Some(keto), Some((_, table))) => {
            rows.push(upgrade::relationships_after(keto, table).await);
        }
        (Some(_), None) => {
            rows.push(scenarios::derived::skipped(
                "upgrade: relationships still decide",
                "no permission table (keto/permissions.txt) to write and check relationships with",
            ));
        }
        _ => {}
    }
    Ok((rows, Some(verdict.unwrap_or_else(Verdict::empty))))
}

/// Moves each service named to its new release, and Kratos to the new
/// config when it started on an old one (even when its release stays);
/// a row for each. False when one did not come up.
async fn moved(
    stack: &mut OryStack,
    from: &From,
    new_kratos: Option<&Replacement>,
    rows: &mut Vec<FlowResult>,
) -> bool {
    let mut moves: Vec<(Service, Option<&str>)> =
        from.0.iter().map(|(s, v)| (*s, Some(v.as_str()))).collect();
    if new_kratos.is_some() && !moves.iter().any(|(s, _)| *s == Service::Kratos) {
        moves.insert(0, (Service::Kratos, None));
    }
    for (service, old) in moves {
        let name = match old {
            Some(old) => format!(
                "upgrade: {service} {old} -> {}: migrated and started",
                service.tag()
            ),
            None => format!("upgrade: {service} on the new config: migrated and started"),
        };
        let mut with = match (service, new_kratos) {
            (Service::Kratos, Some(new)) => new.clone(),
            _ => Replacement::default(),
        };
        with.tag = Some(service.tag().to_owned());
        match stack.replace(service, with).await {
            Ok(replaced) => rows.push(FlowResult {
                name: format!(
                    "{name} (migration {} ms, start {} ms)",
                    replaced.migration.as_millis(),
                    replaced.start.as_millis()
                ),
                outcome: FlowOutcome::Passed,
                millis: millis(replaced.migration + replaced.start),
            }),
            Err(e) => {
                rows.push(failed(&name, e.to_string()));
                return false;
            }
        }
    }
    true
}

fn failed(name: &str, error: String) -> FlowResult {
    FlowResult {
        name: name.to_owned(),
        outcome: FlowOutcome::Failed { error },
        millis: 0,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Refuses an upgrade the Ory folder cannot make: a service it does not
/// configure.
pub(super) fn check(from: &From, configured: &[Service]) -> Result<()> {
    for (service, _) in &from.0 {
        if !configured.contains(service) {
            return Err(Error::Usage(format!(
                "--upgrade-from {service}: the Ory folder configures no {service}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_order_as_semantic_versioning_says() {
        let order = [
            "v0.13.0-alpha.0",
            "v0.13.0-alpha.9",
            "v0.13.0-alpha.10",
            "v0.13.0-beta.1",
            "v0.13.0",
            "v1.0.0",
        ];
        for pair in order.windows(2) {
            assert!(release(pair[0]) < release(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn releases_are_read_and_mistakes_said() {
        assert_eq!(
            parse("kratos=v1.0.0, hydra=v2.1.2").unwrap(),
            From(vec![
                (Service::Kratos, "v1.0.0".into()),
                (Service::Hydra, "v2.1.2".into())
            ])
        );
        for (bad, says) in [
            ("kratos", "SERVICE=VERSION"),
            ("oathkeeper=v0.40.9", "not kratos, hydra or keto"),
            ("kratos=1.0.0", "a release tag"),
            ("kratos=v1.0.0,kratos=v0.13.0", "named twice"),
            (
                &format!("kratos={}", Service::Kratos.tag()),
                "the release the gate runs",
            ),
            ("", "no SERVICE=VERSION"),
            ("kratos=v9.0.0", "a downgrade"),
            ("keto=v0.14.0-alpha.0", "a downgrade"),
            ("keto=v0.13.0", "a downgrade"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
