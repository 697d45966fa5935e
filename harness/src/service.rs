//! One Ory service: its image, config, ports, command and environment.

use std::collections::BTreeSet;
use std::fmt;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;

use url::Url;

use crate::error::{Error, Result};

/// The Ory services orygate can stand up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Kratos,
    Hydra,
    Keto,
}

/// The version of each image, as built by `ory/images/build.sh` (and as the
/// upstream tag is called). A unit test keeps these equal to the go.mod pins.
pub const KRATOS_VERSION: &str = "v1.3.1";
pub const HYDRA_VERSION: &str = "v2.3.0";
pub const KETO_VERSION: &str = "v0.13.0-alpha.0";

impl Service {
    pub const ALL: [Self; 3] = [Self::Kratos, Self::Hydra, Self::Keto];

    /// Lowercase name, as in image names, config folders and step names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kratos => "kratos",
            Self::Hydra => "hydra",
            Self::Keto => "keto",
        }
    }

    /// The image repository, the same as the official one.
    pub fn image(self) -> String {
        format!("oryd/{}", self.name())
    }

    /// The pinned tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Kratos => KRATOS_VERSION,
            Self::Hydra => HYDRA_VERSION,
            Self::Keto => KETO_VERSION,
        }
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
        match self {
            Self::Kratos => "kratos.yml",
            Self::Hydra => "hydra.yml",
            Self::Keto => "keto.yml",
        }
    }

    /// Where the config folder is copied inside the container.
    pub fn container_config_dir(self) -> String {
        format!("/etc/config/{}", self.name())
    }

    /// The readiness probes: `/health/ready` on every API port, since each
    /// listener comes up on its own.
    pub(crate) fn health_urls(self, ports: &Ports) -> Vec<String> {
        let probe = |port: u16| format!("http://127.0.0.1:{port}/health/ready");
        match self {
            Self::Kratos | Self::Hydra => vec![probe(ports.public), probe(ports.admin)],
            Self::Keto => vec![probe(ports.read), probe(ports.write)],
        }
    }

    /// The container's command, the official image's CMD plus the config
    /// file, dev mode and telemetry opt-out.
    pub(crate) fn command(self, profile: Profile) -> Vec<String> {
        let config = format!("{}/{}", self.container_config_dir(), self.config_file());
        let mut cmd: Vec<String> = match self {
            Self::Kratos => vec!["serve".into(), "--watch-courier".into()],
            Self::Hydra => vec!["serve".into(), "all".into()],
            Self::Keto => vec!["serve".into()],
        };
        cmd.extend(["-c".into(), config, "--sqa-opt-out".into()]);
        if profile == Profile::Dev && self != Self::Keto {
            cmd.push("--dev".into());
        }
        cmd
    }

    /// Ory's environment overrides for ports, URLs and storage.
    pub(crate) fn env(
        self,
        profile: Profile,
        ports: &Ports,
        smtp: Option<u16>,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("SQA_OPT_OUT".into(), "true".into()),
            ("DSN".into(), "memory".into()),
        ];
        let mut set = |k: &str, v: String| env.push((k.into(), v));
        match self {
            Self::Kratos => {
                set("SERVE_PUBLIC_HOST", "127.0.0.1".into());
                set("SERVE_PUBLIC_PORT", ports.public.to_string());
                set(
                    "SERVE_PUBLIC_BASE_URL",
                    format!("http://127.0.0.1:{}/", ports.public),
                );
                set("SERVE_ADMIN_HOST", "127.0.0.1".into());
                set("SERVE_ADMIN_PORT", ports.admin.to_string());
                set(
                    "SERVE_ADMIN_BASE_URL",
                    format!("http://127.0.0.1:{}/", ports.admin),
                );
                if let Some(smtp) = smtp {
                    set(
                        "COURIER_SMTP_CONNECTION_URI",
                        format!("smtp://127.0.0.1:{smtp}/?disable_starttls=true"),
                    );
                }
                if profile == Profile::Dev {
                    // bcrypt's minimum: flows measure Kratos, not the hash.
                    set("HASHERS_BCRYPT_COST", "4".into());
                }
            }
            Self::Hydra => {
                set("SERVE_PUBLIC_HOST", "127.0.0.1".into());
                set("SERVE_PUBLIC_PORT", ports.public.to_string());
                set("SERVE_ADMIN_HOST", "127.0.0.1".into());
                set("SERVE_ADMIN_PORT", ports.admin.to_string());
                set(
                    "URLS_SELF_ISSUER",
                    format!("http://127.0.0.1:{}/", ports.public),
                );
                set(
                    "URLS_SELF_PUBLIC",
                    format!("http://127.0.0.1:{}/", ports.public),
                );
                set(
                    "URLS_SELF_ADMIN",
                    format!("http://127.0.0.1:{}/", ports.admin),
                );
            }
            Self::Keto => {
                set("SERVE_READ_HOST", "127.0.0.1".into());
                set("SERVE_READ_PORT", ports.read.to_string());
                set("SERVE_WRITE_HOST", "127.0.0.1".into());
                set("SERVE_WRITE_PORT", ports.write.to_string());
                set("SERVE_METRICS_HOST", "127.0.0.1".into());
                set("SERVE_METRICS_PORT", ports.metrics.to_string());
                set("SERVE_OPL_HOST", "127.0.0.1".into());
                set("SERVE_OPL_PORT", ports.opl.to_string());
            }
        }
        env
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the stack is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// `--dev`, plain HTTP on 127.0.0.1, in-memory storage, low hashing cost.
    #[default]
    Dev,
}

/// The loopback ports one service listens on. Kratos and Hydra use
/// `public` and `admin`; Keto uses `read`, `write`, `metrics` and `opl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    pub public: u16,
    pub admin: u16,
    pub read: u16,
    pub write: u16,
    pub metrics: u16,
    pub opl: u16,
}

/// Ports handed to services of this process and not yet released: the OS
/// may offer a port again as soon as its probe listener is closed, before
/// the container has bound it, so the harness remembers what it gave out.
static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

impl Ports {
    /// Free ports on 127.0.0.1 for one service, none of them handed out
    /// before by this process. Release them with [`Ports::release`].
    pub(crate) fn pick(service: Service) -> Result<Self> {
        let count = if service == Service::Keto { 4 } else { 2 };
        let mut taken = TAKEN.lock().expect("port registry lock");
        let mut held = Vec::new();
        let mut ports = Vec::new();
        // Each bound listener is held until all are picked, so the OS hands
        // out distinct ports; ones given to another stack are skipped.
        while ports.len() < count {
            if held.len() > 64 {
                return Err(Error::io(
                    "pick a free port on 127.0.0.1",
                    std::io::Error::other("no unused port after 64 tries"),
                ));
            }
            let listener = TcpListener::bind("127.0.0.1:0")
                .map_err(|e| Error::io("pick a free port on 127.0.0.1", e))?;
            let port = listener
                .local_addr()
                .map_err(|e| Error::io("read a picked port", e))?
                .port();
            if taken.insert(port) {
                ports.push(port);
            }
            held.push(listener);
        }
        drop(held);
        Ok(if service == Service::Keto {
            Self {
                read: ports[0],
                write: ports[1],
                metrics: ports[2],
                opl: ports[3],
                ..Self::default()
            }
        } else {
            Self {
                public: ports[0],
                admin: ports[1],
                ..Self::default()
            }
        })
    }

    /// Gives the ports back once the service's container is gone.
    pub(crate) fn release(&self) {
        let mut taken = TAKEN.lock().expect("port registry lock");
        for port in [
            self.public,
            self.admin,
            self.read,
            self.write,
            self.metrics,
            self.opl,
        ] {
            if port != 0 {
                taken.remove(&port);
            }
        }
    }
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
    pub(crate) fn local(service: Service, ports: &Ports) -> Self {
        let url = |port: u16| {
            Url::parse(&format!("http://127.0.0.1:{port}/")).expect("a loopback URL parses")
        };
        match service {
            Service::Keto => Self {
                public: url(ports.read),
                admin: url(ports.write),
            },
            Service::Kratos | Service::Hydra => Self {
                public: url(ports.public),
                admin: url(ports.admin),
            },
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
        ] {
            let go_mod = crate::repo_root()
                .join("ory/images")
                .join(service.name())
                .join("go.mod");
            let text = std::fs::read_to_string(&go_mod).expect("the recipe's go.mod is readable");
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
        let ports = Ports::pick(Service::Keto).unwrap();
        let all = [ports.read, ports.write, ports.metrics, ports.opl];
        for (i, a) in all.iter().enumerate() {
            assert!(*a > 0);
            assert!(!all[i + 1..].contains(a), "{all:?}");
        }
        let again = Ports::pick(Service::Keto).unwrap();
        assert!(!all.contains(&again.read), "a port was handed out twice");
        ports.release();
        again.release();
    }

    #[test]
    fn every_service_opts_out_of_telemetry() {
        for service in Service::ALL {
            assert!(
                service
                    .command(Profile::Dev)
                    .contains(&"--sqa-opt-out".to_owned())
            );
            let env = service.env(Profile::Dev, &Ports::default(), None);
            assert!(
                env.contains(&("SQA_OPT_OUT".into(), "true".into())),
                "{service}"
            );
        }
    }
}
