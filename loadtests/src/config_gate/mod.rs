//! `orygate gate`: a team's Ory folder started as production runs it
//! (no `--dev`, TLS, PostgreSQL), its OAuth2 clients registered, and the
//! security checks run against it under the team's policy. Or the checks
//! against a deployment by URL, those needing what a URL does not give
//! listed as skipped.

use std::path::PathBuf;

use harness::Service;
use scenarios::checks::{self, Configs, Deployment, Finding, Policy};
use scenarios::derived::{FlowOutcome, FlowResult};
use url::Url;

use crate::error::{Error, Result};

mod baseline;
mod migration;
mod output;
mod stack;
mod upgrade;

use output::terminal;
pub use output::{html, junit, markdown};

/// `orygate gate`'s options.
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("migrate_from_any").multiple(true).args(["migrate_from", "migrate_from_dir", "upgrade_from"]))]
pub struct GateArgs {
    /// The Ory folder: `kratos/kratos.yml`, `hydra/hydra.yml` and
    /// `keto/keto.yml` (each service started only if its file is there)
    /// and `.orygate/` for the gate's own files (`policy.toml`).
    #[arg(long, env = "ORYGATE_ORY_DIR", default_value = "ory")]
    pub ory_dir: PathBuf,

    /// A policy file over orygate's default (instead of
    /// `<ory-dir>/.orygate/policy.toml`).
    #[arg(long, env = "ORYGATE_POLICY")]
    pub policy: Option<PathBuf>,

    /// A folder whose `kratos/`, `hydra/`, `keto/` config files are merged
    /// over the Ory folder's (an environment's differences, a change to
    /// try); its `hydra/clients/*.json` are registered too.
    #[arg(long)]
    pub overlay: Option<PathBuf>,

    /// Write the form snapshots (`<ory-dir>/.orygate/snapshots/`) as the
    /// forms are now, after a reviewed change. Refused in CI, which only
    /// compares.
    #[arg(long)]
    pub accept: bool,

    /// Run a short load against the started stack and compare it with a
    /// saved run: FILE, or `<ory-dir>/.orygate/baseline.json` when no
    /// file is named. The load takes the baseline's mix, users, rate and
    /// duration; with `--accept` and no baseline yet, the run becomes it.
    #[arg(long, num_args = 0..=1, value_name = "FILE")]
    #[allow(clippy::option_option)]
    pub baseline: Option<Option<PathBuf>>,

    /// How long the load of `--baseline` runs when there is no baseline
    /// yet to take it from.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub load_duration: std::time::Duration,

    /// A percentile of the load regresses above this ratio to the
    /// baseline's (and by more than 5 ms): `--gate-ratio` of the load.
    #[arg(long, default_value_t = 1.5)]
    pub load_ratio: f64,

    /// The identity-schema migration gate: Kratos starts on the config
    /// the Ory folder had at this git ref, people are made there, then the
    /// folder's config runs on the same database, migrated, and the gate
    /// checks what they can still do and which identities no longer
    /// validate.
    #[arg(long, value_name = "REF", conflicts_with = "migrate_from_dir")]
    pub migrate_from: Option<String>,

    /// The same, with the old config from a folder (the Ory folder's
    /// layout).
    #[arg(long, value_name = "DIR")]
    pub migrate_from_dir: Option<PathBuf>,

    /// The Ory upgrade gate: these services start at the older releases
    /// named (`kratos=v1.0.0,hydra=v2.1.2`; images built with
    /// `ory/images/build.sh kratos@v1.0.0`), data is made, each is
    /// replaced by the pinned release on the same database after its
    /// migrations, and the data is used again. With `--migrate-from`,
    /// Kratos starts on the old config too (an old release may not read
    /// a newer config) and moves to the new one with the release.
    #[arg(long, value_name = "SERVICE=VERSION,...", value_parser = upgrade::parse)]
    pub upgrade_from: Option<upgrade::From>,

    /// Run the migration or upgrade gate alone: no flows, checks or load
    /// on the new config or release afterwards (a quick job).
    #[arg(long, requires = "migrate_from_any")]
    pub migration_only: bool,

    /// How many people the migration gate imports on the old config
    /// (besides the few it makes through the flows), at most a million.
    #[arg(long, default_value_t = 2000, value_parser = population)]
    pub population: usize,

    /// Where the migration gate writes a JSON Patch per identity that no
    /// longer validates, for a person to review and apply.
    #[arg(long, value_name = "FILE", requires = "migrate_from_any")]
    pub fix_plan: Option<PathBuf>,

    /// Run only these checks (repeat; all by default).
    #[arg(long = "check")]
    pub checks: Vec<String>,

    /// Check a running deployment instead: Kratos' public URL.
    #[arg(long)]
    pub kratos_url: Option<Url>,
    /// ...and its admin URL (checks needing it are skipped without).
    #[arg(long, requires = "kratos_url")]
    pub kratos_admin_url: Option<Url>,
    /// Hydra's public URL.
    #[arg(long)]
    pub hydra_url: Option<Url>,
    /// ...and its admin URL.
    #[arg(long, requires = "hydra_url")]
    pub hydra_admin_url: Option<Url>,
    /// Keto's read URL.
    #[arg(long)]
    pub keto_url: Option<Url>,
    /// Oathkeeper's proxy URL.
    #[arg(long)]
    pub oathkeeper_url: Option<Url>,
    /// ...and its API URL (the version check is skipped without).
    #[arg(long, requires = "oathkeeper_url")]
    pub oathkeeper_api_url: Option<Url>,

    /// Where the gate writes `gate.md`, `gate.junit.xml`, `gate.html` and
    /// `gate.json`
    /// (default: `<ory-dir>/.orygate/out`).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// What a gate run found.
#[derive(Debug)]
pub struct GateReport {
    /// The flows the config enables, in order.
    pub flows: Vec<FlowResult>,
    pub findings: Vec<Finding>,
    /// The files written.
    pub paths: Vec<PathBuf>,
}

impl GateReport {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        !self.findings.iter().any(|f| f.outcome.fails())
            && !self
                .flows
                .iter()
                .any(|f| matches!(f.outcome, FlowOutcome::Failed { .. }))
    }
}

impl GateArgs {
    fn by_url(&self) -> bool {
        self.kratos_url.is_some()
            || self.hydra_url.is_some()
            || self.keto_url.is_some()
            || self.oathkeeper_url.is_some()
    }

    /// The policy: `--policy`, else the Ory folder's, else the default.
    fn policy(&self) -> Result<Policy> {
        let team = self
            .policy
            .clone()
            .or_else(|| Some(self.ory_dir.join(".orygate/policy.toml")).filter(|p| p.is_file()));
        match team {
            Some(path) => Policy::load(&path).map_err(Error::Usage),
            None => Ok(Policy::default_policy()),
        }
    }

    /// The checks to run.
    fn checks(&self) -> Result<Vec<checks::Check>> {
        if self.checks.is_empty() {
            return Ok(checks::REGISTRY.to_vec());
        }
        self.checks
            .iter()
            .map(|id| {
                checks::find(id).copied().ok_or_else(|| {
                    let known: Vec<&str> = checks::REGISTRY.iter().map(|c| c.id).collect();
                    Error::Usage(format!("no check {id:?}; the checks: {}", known.join(", ")))
                })
            })
            .collect()
    }

    /// The services the Ory folder configures, with the config files Ory
    /// will read (the main file, then the overlay's).
    fn services(&self) -> Result<Vec<(Service, Vec<PathBuf>)>> {
        if !self.ory_dir.is_dir() {
            return Err(Error::Usage(format!(
                "--ory-dir {}: no such folder",
                self.ory_dir.display()
            )));
        }
        let mut services = Vec::new();
        for service in Service::EVERY {
            let main = self
                .ory_dir
                .join(service.to_string())
                .join(service.config_file());
            if !main.is_file() {
                continue;
            }
            let mut files = vec![main];
            // Oathkeeper's rules come only with its config file.
            if let Some(dir) = self.overlay.as_ref().map(|o| o.join(service.to_string()))
                && service == Service::Oathkeeper
                && dir.is_dir()
                && !dir.join(service.config_file()).is_file()
            {
                return Err(Error::Usage(format!(
                    "--overlay: {} has no {}: an overlay's {service}/ is merged through its config file (it may be a comment and `log: {{}}`)",
                    dir.display(),
                    service.config_file()
                )));
            }
            if let Some(overlay) = self.overlay_of(service) {
                files.push(overlay.join(service.config_file()));
            }
            services.push((service, files));
        }
        if services.is_empty() {
            return Err(Error::Usage(format!(
                "{} configures no service: expected kratos/kratos.yml, hydra/hydra.yml, keto/keto.yml or oathkeeper/oathkeeper.yml",
                self.ory_dir.display()
            )));
        }
        Ok(services)
    }

    fn overlay_of(&self, service: Service) -> Option<PathBuf> {
        let dir = self.overlay.as_ref()?.join(service.to_string());
        dir.join(service.config_file()).is_file().then_some(dir)
    }

    fn out(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| self.ory_dir.join(".orygate/out"))
    }
}

/// Runs the gate: bad input is [`Error::Usage`] (exit 2) before anything
/// starts.
pub async fn run(args: &GateArgs) -> Result<GateReport> {
    if args.accept && std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
        return Err(Error::Usage(
            "--accept writes the form snapshots after a person reviewed them; CI only compares"
                .into(),
        ));
    }
    let policy = args.policy()?;
    let selected = args.checks()?;
    let today = jiff::Zoned::now().date();
    let (flows, findings, logs, migrated) = if args.by_url() {
        if args.migrate_from.is_some()
            || args.migrate_from_dir.is_some()
            || args.upgrade_from.is_some()
        {
            return Err(Error::Usage(
                "--migrate-from and --upgrade-from need a stack the gate starts, not a deployment by URL".into(),
            ));
        }
        let deployment = by_url(args);
        let findings = checks::run(&selected, &deployment, &policy, today).await?;
        (Vec::new(), findings, Vec::new(), None)
    } else {
        stack::run(args, &policy, &selected, today).await?
    };
    let out = args.out();
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::Report(format!("create {}: {e}", out.display())))?;
    let markdown = markdown(&flows, &findings, &args.ory_dir);
    let mut paths = Vec::new();
    for (name, text) in [
        ("gate.md", markdown.clone()),
        ("gate.junit.xml", junit(&flows, &findings)),
        ("gate.html", html(&flows, &findings, &args.ory_dir)),
        (
            "gate.json",
            serde_json::to_string_pretty(
                &serde_json::json!({"flows": flows, "checks": findings, "migration": migrated}),
            )
            .unwrap_or_default(),
        ),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Error::Report(format!("write {}: {e}", path.display())))?;
        paths.push(path);
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&summary);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{markdown}");
        }
    }
    print!("{}", terminal(&flows, &findings, &logs));
    Ok(GateReport {
        flows,
        findings,
        paths,
    })
}

/// The deployment given by URLs: no config, admin only where given.
fn by_url(args: &GateArgs) -> Deployment {
    use harness::hydra::Hydra;
    use harness::keto::Keto;
    use harness::kratos::Kratos;
    use harness::oathkeeper::Oathkeeper;
    let kratos = args
        .kratos_url
        .clone()
        .map(|public| match &args.kratos_admin_url {
            Some(admin) => Kratos::new(public, admin.clone()),
            None => Kratos::public_only(public),
        });
    // Hydra's handle wants an admin URL; without one the public URL
    // stands in and the checks needing admin are skipped.
    let hydra = args.hydra_url.clone().map(|public| {
        let admin = args
            .hydra_admin_url
            .clone()
            .unwrap_or_else(|| public.clone());
        Hydra::new(public, admin)
    });
    let keto = args
        .keto_url
        .clone()
        .map(|read| Keto::new(read.clone(), read));
    let oathkeeper = args
        .oathkeeper_url
        .clone()
        .map(|proxy| match &args.oathkeeper_api_url {
            Some(api) => Oathkeeper::new(proxy, api.clone()),
            None => Oathkeeper::proxy_only(proxy),
        });
    let admin = (args.kratos_url.is_none() || args.kratos_admin_url.is_some())
        && (args.hydra_url.is_none() || args.hydra_admin_url.is_some());
    Deployment {
        kratos,
        hydra,
        keto,
        oathkeeper,
        app: None,
        admin,
        config: Configs::default(),
    }
}

/// `--population`: a count of people, at most a million.
fn population(text: &str) -> std::result::Result<usize, String> {
    const MAX: usize = 1_000_000;
    match text.parse::<usize>() {
        Ok(n) if n <= MAX => Ok(n),
        Ok(_) => Err(format!("at most {MAX}")),
        Err(e) => Err(e.to_string()),
    }
}
