//! What a run talks to: a fresh stack it starts and removes, or an existing
//! deployment by URL.

use std::fmt::Write as _;

use harness::{
    Error as HarnessError, Mailboxes, NativeApp, OryStack, Service, Tuning, hydra::Hydra,
    keto::Keto, kratos::Kratos, ui::UiApp,
};

use crate::error::{Error, Result};
use crate::options::Options;

/// A service's name as a sentence writes it.
pub(crate) fn title(service: Service) -> &'static str {
    match service {
        Service::Kratos => "Kratos",
        Service::Hydra => "Hydra",
        Service::Keto => "Keto",
        Service::Oathkeeper => "Oathkeeper",
    }
}

/// A fresh stack (owned: dropping the target removes it) or an existing
/// deployment.
#[derive(Debug)]
// One per run: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    /// A fresh stack, and the self-service UI in front of it when the
    /// run's profiles drive one.
    Stack(OryStack, Option<UiApp>),
    Existing {
        kratos: Kratos,
        /// Mail for the deployment's users, when its courier delivers to a
        /// sink this process reads (tests that start a stack themselves).
        mailboxes: Option<Mailboxes>,
        /// The deployment's Keto, for Keto's profiles.
        keto: Option<Keto>,
        /// The deployment's Hydra, for the OAuth2 profiles.
        hydra: Option<Hydra>,
        /// The deployment's Oathkeeper proxy, for the gateway profiles.
        oathkeeper: Option<url::Url>,
    },
}

impl Target {
    /// Starts a fresh Kratos tuned for load, and the other services
    /// the run's profiles talk to beside it.
    /// `kratos_env`: settings for Kratos, as it reads its config from the
    /// environment, over the load tuning's.
    /// `ui`: Kratos behind the harness's self-service UI.
    pub async fn start(
        extra: &[Service],
        ui: bool,
        in_memory: bool,
        kratos_env: &[(String, String)],
        oathkeeper_env: &[(String, String)],
    ) -> Result<Self> {
        let mut builder = OryStack::builder().with_kratos().tuning(Tuning::Load);
        for (key, value) in kratos_env {
            builder = builder.env(Service::Kratos, key, value);
        }
        if extra.contains(&Service::Oathkeeper) {
            for (key, value) in oathkeeper_env {
                builder = builder.env(Service::Oathkeeper, key, value);
            }
        }
        if in_memory {
            builder = builder.in_memory();
        }
        for service in extra {
            builder = builder.with(*service);
        }
        let ui = if ui {
            let app = UiApp::start().await.map_err(Error::Harness)?;
            builder = builder.self_service_ui(&app);
            Some(app)
        } else {
            None
        };
        let stack = builder.start().await.map_err(Error::Harness)?;
        Ok(Self::Stack(stack, ui))
    }

    /// The deployment the options name, or `None` for a fresh stack.
    pub fn from_options(opts: &Options) -> Option<Self> {
        let public = opts.kratos_url.clone()?;
        let kratos = match opts.kratos_admin_url.clone() {
            Some(admin) => Kratos::new(public, admin),
            None => Kratos::public_only(public),
        };
        let keto = opts
            .keto_read_url
            .clone()
            .zip(opts.keto_write_url.clone())
            .map(|(read, write)| Keto::new(read, write));
        let hydra = opts
            .hydra_url
            .clone()
            .zip(opts.hydra_admin_url.clone())
            .map(|(public, admin)| Hydra::new(public, admin));
        Some(Self::Existing {
            kratos,
            mailboxes: None,
            keto,
            hydra,
            oathkeeper: opts.oathkeeper_url.clone(),
        })
    }

    pub fn kratos(&self) -> Kratos {
        match self {
            // Behind the UI, browsers reach Kratos by its name, which its
            // cookies are set for.
            Self::Stack(stack, Some(ui)) => ui.kratos(stack),
            Self::Stack(stack, None) => stack.kratos(),
            Self::Existing { kratos, .. } => kratos.clone(),
        }
    }

    /// Keto, when the stack runs it or the options name one.
    pub fn keto(&self) -> Option<Keto> {
        match self {
            Self::Stack(stack, _) => stack.endpoints(Service::Keto).map(|_| stack.keto()),
            Self::Existing { keto, .. } => keto.clone(),
        }
    }

    /// Oathkeeper's proxy, when the stack runs it or the options name one.
    pub fn oathkeeper(&self) -> Option<url::Url> {
        match self {
            Self::Stack(stack, _) => stack
                .endpoints(Service::Oathkeeper)
                .map(|e| e.public.clone()),
            Self::Existing { oathkeeper, .. } => oathkeeper.clone(),
        }
    }

    /// Hydra, when the stack runs it or the options name one.
    pub fn hydra(&self) -> Option<Hydra> {
        match self {
            Self::Stack(stack, _) => stack.endpoints(Service::Hydra).map(|_| stack.hydra()),
            Self::Existing { hydra, .. } => hydra.clone(),
        }
    }

    /// The self-service UI's origin, when the run started one.
    pub fn ui(&self) -> Option<url::Url> {
        match self {
            Self::Stack(_, ui) => ui.as_ref().map(|u| u.origin().clone()),
            Self::Existing { .. } => None,
        }
    }

    pub fn mailboxes(&self) -> Option<Mailboxes> {
        match self {
            Self::Stack(stack, _) => stack.mailboxes(),
            Self::Existing { mailboxes, .. } => mailboxes.clone(),
        }
    }

    /// A line saying what this is.
    pub fn describe(&self) -> String {
        let kratos = self.kratos();
        let admin = kratos
            .admin_base()
            .map_or_else(|| "no admin URL".to_owned(), |u| format!("admin {u}"));
        // A fresh stack's services are at the pinned versions.
        let fresh = matches!(self, Self::Stack(..));
        let named = |service: Service| {
            if fresh {
                format!("{} {}", title(service), service.tag())
            } else {
                title(service).to_owned()
            }
        };
        let mut others = String::new();
        if let Some(k) = self.keto() {
            let _ = write!(
                others,
                ", {} at {} (write {})",
                named(Service::Keto),
                k.read(""),
                k.write("")
            );
        }
        if let Some(h) = self.hydra() {
            let _ = write!(
                others,
                ", {} at {} (admin {})",
                named(Service::Hydra),
                h.public_base(),
                h.admin("")
            );
        }
        if let Some(proxy) = self.oathkeeper() {
            let _ = write!(others, ", {} at {proxy}", named(Service::Oathkeeper));
        }
        let kratos_at = format!(
            "{} at {} ({admin}){others}",
            named(Service::Kratos),
            kratos.public_base()
        );
        match self {
            Self::Stack(stack, _) => format!("a fresh stack {}: {kratos_at}", stack.id()),
            Self::Existing { .. } => kratos_at,
        }
    }

    /// Checks that the target answers and is Kratos: `GET /sessions/whoami`
    /// without credentials must be Kratos' 401, not a 404 from something
    /// else or no answer.
    pub async fn check(&self) -> Result<()> {
        let kratos = self.kratos();
        let client = NativeApp::with_timeout(std::time::Duration::from_secs(10))?;
        match kratos.whoami_refused(&client, None).await {
            Ok(_) => Ok(()),
            Err(e @ (HarnessError::Http { .. } | HarnessError::Unanswered { .. })) => Err(
                Error::Target(format!("{} does not answer: {e}", kratos.public_base())),
            ),
            Err(e) => Err(Error::Target(format!(
                "{} does not look like Kratos: {e} (Kratos answers 401 without a session)",
                kratos.public_base()
            ))),
        }
    }

    /// The error with the end of the log of the service it names, when the
    /// run started the stack.
    pub async fn explain(&self, error: &HarnessError) -> String {
        match self {
            Self::Stack(stack, _) => stack.explain(error).await,
            Self::Existing { .. } => error.to_string(),
        }
    }

    /// Kratos' last warnings and errors, when the run started the stack.
    pub async fn kratos_warnings(&self, lines: usize) -> Option<String> {
        match self {
            Self::Stack(stack, _) => Some(stack.warnings(Service::Kratos, lines).await),
            Self::Existing { .. } => None,
        }
    }

    /// Removes the stack, if the run started one.
    pub async fn stop(self) -> Result<()> {
        match self {
            Self::Stack(stack, _) => stack.stop().await.map_err(Error::Harness),
            Self::Existing { .. } => Ok(()),
        }
    }
}

/// The Oathkeeper a run goes through and whether its authenticators cache:
/// for a fresh stack, `ory/oathkeeper/oathkeeper.yml` with `env` (the
/// `--oathkeeper-env` settings) over it; a deployment by URL keeps its
/// own, which orygate cannot see.
pub fn oathkeeper_cache(target: &Target, env: &[(String, String)]) -> String {
    if matches!(target, Target::Existing { .. }) {
        return "Oathkeeper given by URL: its cache settings are its own".into();
    }
    let file = Service::Oathkeeper
        .default_config_dir()
        .join(Service::Oathkeeper.config_file());
    let config = scenarios::checks::Configs::read(&[file]).unwrap_or_default();
    cache_of(&config, env)
}

/// Oathkeeper's cache settings as `config` with `env` over it has them.
fn cache_of(config: &serde_json::Value, env: &[(String, String)]) -> String {
    let setting = |key: &str, pointer: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                config.pointer(pointer).map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            })
    };
    let prefix = "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_CACHE";
    let at = "/authenticators/oauth2_introspection/config/cache";
    let enabled = setting(&format!("{prefix}_ENABLED"), &format!("{at}/enabled"))
        .is_some_and(|v| v == "true");
    let cache = if enabled {
        let ttl = setting(&format!("{prefix}_TTL"), &format!("{at}/ttl"))
            .unwrap_or_else(|| "the token's expiry".into());
        format!("on, ttl {ttl}")
    } else {
        "off".into()
    };
    format!(
        "Oathkeeper {}: oauth2_introspection cache {cache}; cookie_session and bearer_token have no cache in this version",
        harness::OATHKEEPER_VERSION
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_read_from_the_env_over_the_config() {
        let on = serde_json::json!({"authenticators": {"oauth2_introspection": {"config": {"cache": {"enabled": true, "ttl": "30s"}}}}});
        let none = serde_json::json!({});
        let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(cache_of(&on, &[]).contains("oauth2_introspection cache on, ttl 30s;"));
        assert!(cache_of(&none, &[]).contains("oauth2_introspection cache off;"));
        let enabled = env(
            "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_CACHE_ENABLED",
            "true",
        );
        assert!(
            cache_of(&none, &enabled).contains("cache on, ttl the token's expiry;"),
            "{}",
            cache_of(&none, &enabled)
        );
        let off = env(
            "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_CACHE_ENABLED",
            "false",
        );
        assert!(cache_of(&on, &off).contains("cache off;"));
    }
}
