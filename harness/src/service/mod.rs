//! One Ory service: its image, config, ports, command and environment.

use std::fmt;
use std::path::PathBuf;

use url::Url;

mod table;

use table::{Api, HYDRA, KETO, KRATOS, OATHKEEPER, Table};

/// The Ory services orygate can stand up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Kratos,
    Hydra,
    Keto,
    /// The identity and access proxy in front of an app: started only
    /// when asked ([`OryStackBuilder::with_oathkeeper`](crate::OryStackBuilder::with_oathkeeper)),
    /// wired to the stack's other services and to an upstream the
    /// harness runs.
    Oathkeeper,
}

/// The version of each image, as built by `ory/images/build.sh` (and as the
/// upstream tag is called). A unit test keeps these equal to the go.mod pins.
pub const KRATOS_VERSION: &str = "v1.3.1";
pub const HYDRA_VERSION: &str = "v2.3.0";
pub const KETO_VERSION: &str = "v0.13.0-alpha.0";
pub const OATHKEEPER_VERSION: &str = "v0.40.9";

impl Service {
    /// The services that keep data: Kratos, Hydra and Keto.
    pub const ALL: [Self; 3] = [Self::Kratos, Self::Hydra, Self::Keto];

    /// Every service, Oathkeeper included.
    pub const EVERY: [Self; 4] = [Self::Kratos, Self::Hydra, Self::Keto, Self::Oathkeeper];

    fn table(self) -> &'static Table {
        match self {
            Self::Kratos => &KRATOS,
            Self::Hydra => &HYDRA,
            Self::Keto => &KETO,
            Self::Oathkeeper => &OATHKEEPER,
        }
    }

    /// Whether the service keeps data in a database (and so migrates one).
    pub fn has_database(self) -> bool {
        !self.table().migrate.is_empty()
    }

    /// Lowercase name, as in image names, config folders and step names.
    pub fn name(self) -> &'static str {
        self.table().name
    }

    /// The image repository, the same as the official one.
    pub fn image(self) -> String {
        format!("oryd/{}", self.name())
    }

    /// The pinned tag.
    pub fn tag(self) -> &'static str {
        self.table().tag
    }

    /// `oryd/<name>:<tag>`.
    pub fn image_ref(self) -> String {
        format!("{}:{}", self.image(), self.tag())
    }

    /// The folder in this repository that holds the service's config.
    pub fn default_config_dir(self) -> PathBuf {
        crate::repo_root().join("ory").join(self.name())
    }

    /// The main config file inside the config folder.
    pub fn config_file(self) -> &'static str {
        self.table().config_file
    }

    /// Where the config folder is copied inside the container.
    pub fn container_config_dir(self) -> String {
        format!("/etc/config/{}", self.name())
    }

    /// The command that migrates the service's database.
    pub(crate) fn migrate_command(self, overlays: &[String]) -> Vec<String> {
        let mut cmd: Vec<String> = self
            .table()
            .migrate
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        cmd.extend(self.config_flags(overlays));
        cmd
    }

    /// `-c <main file>`, then `-c <overlay>` for each overlay (paths in the
    /// container): Ory merges them in order, the last one winning.
    fn config_flags(self, overlays: &[String]) -> Vec<String> {
        let main = format!("{}/{}", self.container_config_dir(), self.config_file());
        std::iter::once(main)
            .chain(overlays.iter().cloned())
            .flat_map(|file| ["-c".to_owned(), file])
            .collect()
    }

    /// Where the overlay folder `name` is copied in the container.
    pub(crate) fn overlay_dir(self, name: &str) -> String {
        format!("{}/overlays/{name}", self.container_config_dir())
    }

    /// How many ports the service listens on.
    pub(crate) fn port_count(self) -> usize {
        self.table().listeners.len()
    }

    /// The readiness probes: `/health/ready` on every API port, since each
    /// listener comes up on its own.
    pub(crate) fn health_urls(self, ports: &[u16], tuning: Tuning) -> Vec<String> {
        self.table()
            .listeners
            .iter()
            .zip(ports.iter())
            .filter(|(l, _)| l.probed)
            .filter_map(|(l, port)| l.api.map(|api| (api, *port)))
            .map(|(api, port)| {
                let scheme = self.scheme(api, tuning);
                format!("{scheme}://127.0.0.1:{port}/health/ready")
            })
            .collect()
    }

    /// `path` on the service's public API, as the harness reaches it.
    pub(crate) fn public_url(self, ports: &[u16], tuning: Tuning, path: &str) -> String {
        let port = self.port_of(ports, Api::Public);
        let scheme = self.scheme(Api::Public, tuning);
        format!(
            "{scheme}://127.0.0.1:{port}/{}",
            path.trim_start_matches('/')
        )
    }

    /// `path` on the service's admin API (always plain HTTP on 127.0.0.1).
    pub(crate) fn admin_url(self, ports: &[u16], path: &str) -> String {
        let port = self.port_of(ports, Api::Admin);
        format!("http://127.0.0.1:{port}/{}", path.trim_start_matches('/'))
    }

    /// Whether `api` is served over TLS: the public APIs of the services
    /// that can, in the production-like tuning.
    fn scheme(self, api: Api, tuning: Tuning) -> &'static str {
        if tuning == Tuning::Production && api == Api::Public && self.table().public_tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The API listeners and their ports.
    fn apis(self, ports: &[u16]) -> impl Iterator<Item = (Api, u16)> {
        self.table()
            .listeners
            .iter()
            .zip(ports.iter())
            .filter_map(|(l, port)| l.api.map(|api| (api, *port)))
    }

    fn port_of(self, ports: &[u16], api: Api) -> u16 {
        self.apis(ports)
            .find_map(|(a, port)| (a == api).then_some(port))
            .expect("every service serves a public and an admin API")
    }

    /// The container's command, the official image's CMD plus the config
    /// file and its overlays, dev mode and telemetry opt-out. The dev and
    /// load tunings serve plain HTTP on 127.0.0.1 and so run `--dev`; the
    /// production-like one does not.
    pub(crate) fn command(self, overlays: &[String], tuning: Tuning) -> Vec<String> {
        let table = self.table();
        let mut cmd: Vec<String> = table.serve.iter().map(|s| (*s).to_owned()).collect();
        cmd.extend(self.config_flags(overlays));
        cmd.push("--sqa-opt-out".into());
        if table.dev_flag && tuning != Tuning::Production {
            cmd.push("--dev".into());
        }
        cmd
    }

    /// Ory's environment overrides for ports, URLs, storage and the
    /// tuning's settings; `server_tls` is the public API's certificate and
    /// key (PEM) in the production-like tuning.
    pub(crate) fn env(
        self,
        tuning: Tuning,
        ports: &[u16],
        smtp: Option<u16>,
        server_tls: Option<(&str, &str)>,
    ) -> Vec<(String, String)> {
        let table = self.table();
        let mut env: Vec<(String, String)> = vec![("SQA_OPT_OUT".into(), "true".into())];
        if self.has_database() {
            env.push(("DSN".into(), "memory".into()));
        }
        for (listener, port) in table.listeners.iter().zip(ports.iter()) {
            env.push((format!("{}_HOST", listener.key), "127.0.0.1".into()));
            env.push((format!("{}_PORT", listener.key), port.to_string()));
        }
        for (key, api) in table.base_urls {
            let port = self.port_of(ports, *api);
            let scheme = self.scheme(*api, tuning);
            env.push(((*key).into(), format!("{scheme}://127.0.0.1:{port}/")));
        }
        if let (Some(tls), Some((cert_pem, key_pem)), Tuning::Production) =
            (table.public_tls, server_tls, tuning)
        {
            use base64::Engine as _;
            let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
            env.push((tls.cert.into(), encode(cert_pem)));
            env.push((tls.key.into(), encode(key_pem)));
            if let Some(enabled) = tls.enabled {
                env.push((enabled.into(), "true".into()));
            }
        }
        if let (Service::Kratos, Some(smtp)) = (self, smtp) {
            env.push((
                "COURIER_SMTP_CONNECTION_URI".into(),
                format!("smtp://127.0.0.1:{smtp}/?disable_starttls=true"),
            ));
        }
        let tuned: Vec<&(&str, &str)> = match tuning {
            Tuning::Dev => table.dev_env.iter().collect(),
            Tuning::Load => table.dev_env.iter().chain(table.load_env).collect(),
            Tuning::Production => Vec::new(),
        };
        for (key, value) in tuned {
            env.retain(|(k, _)| k != key);
            env.push(((*key).into(), (*value).into()));
        }
        env
    }
}

impl Service {
    /// The environment that tells this service where the others of its
    /// stack are: with Kratos and Hydra together, Kratos is Hydra's login
    /// provider (Hydra sends logins to Kratos' browser login flow, and
    /// Kratos accepts them through Hydra's admin API).
    pub(crate) fn peer_env(
        self,
        peers: &std::collections::BTreeMap<Service, Endpoints>,
    ) -> Vec<(String, String)> {
        if self == Self::Oathkeeper {
            return oathkeeper_peers(peers);
        }
        let (Some(kratos), Some(hydra)) = (peers.get(&Self::Kratos), peers.get(&Self::Hydra))
        else {
            return Vec::new();
        };
        match self {
            Self::Kratos => vec![("OAUTH2_PROVIDER_URL".into(), hydra.admin.to_string())],
            Self::Hydra => vec![(
                "URLS_LOGIN".into(),
                crate::urls::join(&kratos.public, "self-service/login/browser").to_string(),
            )],
            Self::Keto | Self::Oathkeeper => Vec::new(),
        }
    }
}

/// Where Oathkeeper's handlers reach the stack: Kratos' whoami for the
/// session authenticators and its browser login for the redirect error
/// handler, Hydra's introspection, Keto's check for `remote_json`, and its
/// own proxy as the `id_token` issuer. A peer the stack lacks keeps the
/// config file's value.
fn oathkeeper_peers(
    peers: &std::collections::BTreeMap<Service, Endpoints>,
) -> Vec<(String, String)> {
    let targets = oathkeeper_targets(peers);
    let mut env = Vec::new();
    if let Some(whoami) = targets.whoami {
        env.push((
            "AUTHENTICATORS_COOKIE_SESSION_CONFIG_CHECK_SESSION_URL".into(),
            whoami.to_string(),
        ));
        env.push((
            "AUTHENTICATORS_BEARER_TOKEN_CONFIG_CHECK_SESSION_URL".into(),
            whoami.to_string(),
        ));
    }
    if let Some(kratos) = peers.get(&Service::Kratos) {
        env.push((
            "ERRORS_HANDLERS_REDIRECT_CONFIG_TO".into(),
            crate::urls::join(&kratos.public, "self-service/login/browser").to_string(),
        ));
    }
    if let Some(introspect) = targets.introspect {
        env.push((
            "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_INTROSPECTION_URL".into(),
            introspect.to_string(),
        ));
    }
    if let Some(check) = targets.check {
        env.push((
            "AUTHORIZERS_REMOTE_JSON_CONFIG_REMOTE".into(),
            check.to_string(),
        ));
    }
    if let Some(own) = peers.get(&Service::Oathkeeper) {
        env.push((
            "MUTATORS_ID_TOKEN_CONFIG_ISSUER_URL".into(),
            own.public.to_string(),
        ));
    }
    env
}

/// Where a confined Oathkeeper's handlers may call: the stack's Kratos
/// whoami, Hydra introspection and Keto check, where the stack has them.
#[derive(Debug, Clone, Default)]
pub struct OathkeeperPeers {
    pub whoami: Option<Url>,
    pub introspect: Option<Url>,
    pub check: Option<Url>,
}

/// Where Oathkeeper's session check, introspection and `remote_json`
/// authorizer reach the stack, for the services it has.
pub(crate) fn oathkeeper_targets(
    peers: &std::collections::BTreeMap<Service, Endpoints>,
) -> OathkeeperPeers {
    OathkeeperPeers {
        whoami: peers
            .get(&Service::Kratos)
            .map(|k| crate::urls::join(&k.public, "sessions/whoami")),
        introspect: peers
            .get(&Service::Hydra)
            .map(|h| crate::urls::join(&h.admin, "admin/oauth2/introspect")),
        check: peers
            .get(&Service::Keto)
            .map(|k| crate::urls::join(&k.public, "relation-tuples/check")),
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the stack is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tuning {
    /// `--dev`, plain HTTP on 127.0.0.1, a fresh store per container (lost
    /// with it and on a restart: Kratos' and Hydra's a copy of a migrated
    /// SQLite file, Keto's in memory), low hashing cost.
    #[default]
    Dev,
    /// Dev, tuned so that what limits a load run is Ory and not the setup:
    /// warnings-only logs, Kratos' courier pulling up to 200 messages every
    /// 50 ms instead of 10 a second, and every service's data in a
    /// PostgreSQL the stack starts: in-memory SQLite fails concurrent
    /// writes at once ("database table is locked": Kratos answers 500,
    /// Hydra 500 on a code exchange and `active: false` for a live token),
    /// an SQLite file deadlocks Kratos' nested connections until they time
    /// out, and Keto's concurrent checks through folders sometimes never
    /// answer on it.
    Load,
    /// As a deployment runs: no `--dev` (so `Secure` cookies, an https
    /// issuer), the config's own hashing cost and log level, and Kratos'
    /// and Hydra's public APIs served over TLS with a certificate from a
    /// CA the stack makes and the process trusts
    /// ([`OryStack::certificates`](crate::OryStack::certificates)). The
    /// admin APIs and Keto stay plain HTTP on 127.0.0.1, as inside a
    /// cluster. Data in PostgreSQL unless asked to keep it out
    /// (`in_memory`: then in the dev tuning's fresh stores).
    Production,
}

/// The base URLs of a running service.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Kratos and Hydra: the public API. Keto: the read API.
    pub public: Url,
    /// Kratos and Hydra: the admin API. Keto: the write API.
    pub admin: Url,
}

impl Endpoints {
    pub(crate) fn local(service: Service, ports: &[u16], tuning: Tuning) -> Self {
        let url = |api: Api| {
            let port = service.port_of(ports, api);
            let scheme = service.scheme(api, tuning);
            Url::parse(&format!("{scheme}://127.0.0.1:{port}/")).expect("a loopback URL parses")
        };
        Self {
            public: url(Api::Public),
            admin: url(Api::Admin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness runs the versions the image recipes build.
    #[test]
    fn versions_match_the_image_recipes() {
        for (service, module) in [
            (Service::Kratos, "github.com/ory/kratos "),
            (Service::Hydra, "github.com/ory/hydra/v2 "),
            (Service::Keto, "github.com/ory/keto "),
            (Service::Oathkeeper, "github.com/ory/oathkeeper "),
        ] {
            let go_mod = crate::repo_root()
                .join("ory/images")
                .join(service.name())
                .join("go.mod");
            let text = std::fs::read_to_string(&go_mod)
                .unwrap_or_else(|e| panic!("read the recipe {}: {e}", go_mod.display()));
            let pinned = text
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("require ")
                        .unwrap_or(l.trim())
                        .strip_prefix(module)
                })
                .map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                });
            assert_eq!(
                pinned.as_deref(),
                Some(service.tag()),
                "{}",
                go_mod.display()
            );
        }
    }

    #[test]
    fn ports_are_distinct_and_loopback_urls() {
        let ports = crate::Ports::take(Service::Keto.port_count()).unwrap();
        let all = ports.all();
        assert_eq!(all.len(), 4);
        let distinct: std::collections::BTreeSet<u16> = all.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "four different ports: {all:?}");
        let endpoints = Endpoints::local(Service::Keto, ports.all(), Tuning::Dev);
        for url in [&endpoints.public, &endpoints.admin] {
            assert_eq!(url.scheme(), "http", "{url}");
            assert_eq!(url.host_str(), Some("127.0.0.1"), "{url}");
            assert_eq!(url.path(), "/", "{url}");
        }
        assert_eq!(endpoints.public.port(), Some(all[0]), "read API");
        assert_eq!(endpoints.admin.port(), Some(all[1]), "write API");
    }

    #[test]
    fn every_service_opts_out_of_telemetry() {
        for service in Service::ALL {
            let ports = crate::Ports::take(service.port_count()).unwrap();
            for tuning in [Tuning::Dev, Tuning::Load, Tuning::Production] {
                let command = service.command(&[], tuning);
                assert!(command.contains(&"--sqa-opt-out".to_owned()), "{service}");
                let env = service.env(tuning, ports.all(), None, None);
                assert!(
                    env.contains(&("SQA_OPT_OUT".into(), "true".into())),
                    "{service}"
                );
            }
        }
    }
}
