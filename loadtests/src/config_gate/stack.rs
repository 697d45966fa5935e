//! The gate on a stack it starts: the Ory folder's services,
//! production-like, its OAuth2 clients registered, the migration gate
//! first when asked, then the flows the config enables, the checks and
//! the baseline's load.

use std::path::{Path, PathBuf};

use harness::{OryStack, Service, Tuning};
use scenarios::checks::{self, Configs, Deployment, Finding, Policy};
use scenarios::derived::{self, FlowResult};
use scenarios::migration::Verdict;

use super::{GateArgs, baseline, migration, upgrade};
use crate::error::{Error, Result};

/// What a gate run on a stack found: the flows, the checks, the end of
/// the logs of services whose checks failed, the migration's verdict.
pub(super) type Ran = (
    Vec<FlowResult>,
    Vec<Finding>,
    Vec<(&'static str, Service, String)>,
    Option<Verdict>,
);

/// Starts the stack, runs everything on it, and stops it whatever
/// happened between.
pub(super) async fn run(
    args: &GateArgs,
    policy: &Policy,
    selected: &[checks::Check],
    today: jiff::civil::Date,
) -> Result<Ran> {
    let services = args.services()?;
    let old = migration::old_folder(args)?;
    if old.is_some() && !services.iter().any(|(s, _)| *s == Service::Kratos) {
        return Err(Error::Usage(format!(
            "--migrate-from: {} configures no Kratos",
            args.ory_dir.display()
        )));
    }
    let old_config = match &old {
        Some(old) => {
            Some(Configs::read(&[old.dir.join("kratos/kratos.yml")]).map_err(Error::Usage)?)
        }
        None => None,
    };
    if let Some(from) = &args.upgrade_from {
        let configured: Vec<Service> = services.iter().map(|(s, _)| *s).collect();
        upgrade::check(from, &configured)?;
    }
    // A plan from an earlier run is not this run's: it goes, and comes
    // back only if this run gets as far as a verdict.
    if let Some(plan) = &args.fix_plan {
        match std::fs::remove_file(plan) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Report(format!("remove {}: {e}", plan.display())));
            }
            _ => {}
        }
    }
    let (mut stack, deployment, clients) =
        start(args, &services, old.as_ref().map(|o| o.dir.as_path())).await?;
    // Kratos on the new config, where the migration gate moves it.
    let new_kratos = harness::Replacement {
        config_dir: Some(args.ory_dir.join("kratos")),
        overlays: Some(args.overlay_of(Service::Kratos).into_iter().collect()),
        tag: None,
    };
    // The stack is stopped whatever happens between.
    let ran = async {
        let mut flows = Vec::new();
        let mut migrated = None;
        if old.is_some() && args.upgrade_from.is_none() {
            let with = new_kratos.clone();
            let new_config = deployment.config.kratos.as_ref();
            let (rows, verdict) =
                migration::run(args, &mut stack, old_config.as_ref(), new_config, with).await?;
            flows.extend(rows);
            let Some(verdict) = verdict else {
                return Ok::<_, Error>((flows, Vec::new(), Vec::new(), None));
            };
            if let Some(plan) = &args.fix_plan {
                migration::write_fix_plan(plan, &verdict)?;
            }
            migrated = Some(verdict);
            if args.migration_only {
                return Ok((flows, Vec::new(), Vec::new(), migrated));
            }
        }
        if let Some(from) = &args.upgrade_from {
            let table = permission_table(args, &deployment)?;
            let table = table.as_ref().map(|(t, r)| (t.as_slice(), r.as_slice()));
            let new_config = deployment.config.kratos.as_ref();
            let configs = upgrade::Configs {
                old: old_config.as_ref().or(new_config),
                new: new_config,
                kratos: old.is_some().then(|| new_kratos.clone()),
            };
            let (rows, verdict) =
                upgrade::run(args, &mut stack, from, &clients, table, configs).await?;
            flows.extend(rows);
            let Some(verdict) = verdict else {
                return Ok((flows, Vec::new(), Vec::new(), None));
            };
            if let Some(plan) = &args.fix_plan {
                migration::write_fix_plan(plan, &verdict)?;
            }
            migrated = Some(verdict);
            if args.migration_only {
                return Ok((flows, Vec::new(), Vec::new(), migrated));
            }
        }
        flows.extend(self::flows(args, &stack, &deployment, &clients).await?);
        let findings = checks::run(selected, &deployment, policy, today).await?;
        if args.baseline.is_some() {
            flows.push(baseline::load(args, &stack).await);
        }
        let mut logs = Vec::new();
        for finding in findings.iter().filter(|f| f.outcome.fails()) {
            for (service, _) in &services {
                if finding.scope.to_string() == service.to_string()
                    || finding.scope == checks::Scope::All
                {
                    logs.push((finding.id, *service, stack.log_tail(*service, 12).await));
                }
            }
        }
        Ok::<_, Error>((flows, findings, logs, migrated))
    }
    .await;
    let stopped = stack.stop().await;
    let ran = ran?;
    stopped?;
    Ok(ran)
}

/// Starts the Ory folder's services, production-like, and registers its
/// OAuth2 clients (`hydra/clients/*.json`).
async fn start(
    args: &GateArgs,
    services: &[(Service, Vec<PathBuf>)],
    old: Option<&Path>,
) -> Result<(OryStack, Deployment, Vec<Registered>)> {
    // A team's services and apps are not on this machine: nothing the
    // stack calls may leave it.
    let mut builder = OryStack::builder().tuning(Tuning::Production).confined();
    let mut config = Configs::default();
    for (service, files) in services {
        builder = builder
            .with(*service)
            .config_dir(*service, args.ory_dir.join(service.to_string()));
        let old_release = args
            .upgrade_from
            .iter()
            .flat_map(|from| from.0.iter())
            .find(|(s, _)| s == service);
        if let Some((_, tag)) = old_release {
            builder = builder.image_tag(*service, tag.clone());
        }
        match (service, old) {
            // Kratos starts on the old config, the migration gate's
            // starting point; `config` holds the new one, which the
            // checks see once it runs.
            (Service::Kratos, Some(old)) => {
                builder = builder.config_dir(*service, old.join("kratos"));
            }
            _ => {
                if let Some(overlay) = args.overlay_of(*service) {
                    builder = builder.overlay(*service, overlay);
                }
            }
        }
        let merged = Configs::read(files).map_err(Error::Usage)?;
        match service {
            Service::Kratos => config.kratos = Some(merged),
            Service::Hydra => config.hydra = Some(merged),
            Service::Keto => {
                let overlays: Vec<PathBuf> = args.overlay_of(*service).into_iter().collect();
                let dir = args.ory_dir.join("keto");
                if let Some(file) = checks::keto::model_file(&merged, &dir, &overlays) {
                    let model = std::fs::read_to_string(&file).map_err(|e| {
                        Error::Usage(format!(
                            "the Ory folder: keto's namespaces.location names {}: {e}",
                            file.display()
                        ))
                    })?;
                    config.keto_model = Some(model);
                }
                config.keto = Some(merged);
            }
            Service::Oathkeeper => {
                config.oathkeeper = Some(merged);
                let overlays: Vec<PathBuf> = args.overlay_of(*service).into_iter().collect();
                let dir = args.ory_dir.join("oathkeeper");
                let file = harness::oathkeeper::rules_file(&dir, &overlays);
                let rules = harness::oathkeeper::read_rules(&file)
                    .map_err(|e| Error::Usage(format!("the Ory folder: {e}")))?;
                config.oathkeeper_rules = Some(rules);
            }
        }
    }
    let stack = builder.start().await.map_err(|e| match e {
        harness::Error::Config { .. } => Error::Usage(format!("the Ory folder: {e}")),
        e => Error::Harness(e),
    })?;
    for (service, changed) in stack.confined() {
        for line in changed {
            eprintln!("orygate gate: {service}: kept on this machine: {line}");
        }
    }
    let has = |s: Service| services.iter().any(|(x, _)| *x == s);
    let mut clients = Vec::new();
    if has(Service::Hydra) {
        clients = register_clients(&stack, &args.ory_dir.join("hydra/clients")).await?;
        if let Some(overlay) = &args.overlay {
            clients.extend(register_clients(&stack, &overlay.join("hydra/clients")).await?);
        }
    }
    let deployment = Deployment {
        kratos: has(Service::Kratos).then(|| stack.kratos()),
        hydra: has(Service::Hydra).then(|| stack.hydra()),
        keto: has(Service::Keto).then(|| stack.keto()),
        oathkeeper: has(Service::Oathkeeper).then(|| stack.oathkeeper()),
        app: stack.upstream_shared(),
        admin: true,
        config,
    };
    Ok((stack, deployment, clients))
}

/// The permission table (`keto/permissions.txt`) and the relationships
/// it assumes (`keto/tuples.txt`), when Keto runs and there is one.
fn permission_table(args: &GateArgs, deployment: &Deployment) -> Result<Option<Table>> {
    let keto_dir = args.ory_dir.join("keto");
    let table = keto_dir.join("permissions.txt");
    if deployment.keto.is_none() || !table.is_file() {
        return Ok(None);
    }
    let rows = scenarios::permissions::table_from(&table).map_err(Error::Usage)?;
    let tuples_file = keto_dir.join("tuples.txt");
    let tuples = if tuples_file.is_file() {
        scenarios::permissions::tuples_from(&tuples_file).map_err(Error::Usage)?
    } else {
        Vec::new()
    };
    Ok(Some((tuples, rows)))
}

type Table = (
    Vec<harness::keto::Relationship>,
    Vec<scenarios::permissions::Row>,
);

/// A client of the config folder as Hydra stored it and as flows use it.
pub(super) type Registered = (
    harness::hydra::OAuth2Client,
    scenarios::flows::oauth2::Client,
);

/// Registers every `*.json` client of `dir` (if there is one).
async fn register_clients(stack: &OryStack, dir: &Path) -> Result<Vec<Registered>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let app = harness::NativeApp::new()?;
    let hydra = stack.hydra();
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut registered = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::Report(format!("read {}: {e}", file.display())))?;
        let not_a_client = |e: serde_json::Error| {
            Error::Usage(format!("{}: not an OAuth2 client: {e}", file.display()))
        };
        let mut value: serde_json::Value = serde_json::from_str(&text).map_err(not_a_client)?;
        // What Hydra would fetch or call for the client goes nowhere.
        let moved = harness::confine::client(&mut value);
        if !moved.is_empty() {
            tracing::info!(file = %file.display(), ?moved, "client: calls off this machine confined");
        }
        let client: harness::hydra::OAuth2Client =
            serde_json::from_value(value).map_err(not_a_client)?;
        let client = scenarios::clients::register(&app, &hydra, &client)
            .await
            .map_err(|e| {
                Error::Usage(format!("{}: Hydra refused the client: {e}", file.display()))
            })?;
        registered.push(client);
    }
    Ok(registered)
}

/// Runs the flows the config enables against the started stack, the
/// permission table (`keto/permissions.txt`, with `keto/tuples.txt`)
/// included when there is one.
async fn flows(
    args: &GateArgs,
    stack: &OryStack,
    deployment: &Deployment,
    clients: &[Registered],
) -> Result<Vec<FlowResult>> {
    let permissions = permission_table(args, deployment)?;
    let mailboxes = stack.mailboxes();
    let target = derived::Target {
        kratos: deployment.kratos.as_ref(),
        hydra: deployment.hydra.as_ref(),
        keto: deployment.keto.as_ref(),
        kratos_config: deployment.config.kratos.as_ref(),
        mailboxes: mailboxes.as_ref(),
        clients,
        permissions: permissions
            .as_ref()
            .map(|(t, r)| (t.as_slice(), r.as_slice())),
    };
    let mut results = derived::run(&target).await;
    if let Some(kratos) = &deployment.kratos {
        let restart = || stack.restart(harness::Service::Kratos);
        results.push(derived::across_a_restart(kratos, restart).await);
        let dir = args.ory_dir.join(".orygate/snapshots");
        let config = deployment.config.kratos.as_ref();
        results.extend(scenarios::snapshots::compare(kratos, config, &dir, args.accept).await);
    }
    Ok(results)
}
