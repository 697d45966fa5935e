//! What the harness knows of each service, in one table per service: its
//! tag, config file, commands, listeners and the environment of each
//! tuning.

use super::{HYDRA_VERSION, KETO_VERSION, KRATOS_VERSION, OATHKEEPER_VERSION};

/// Which of a deployment's two APIs a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    /// Kratos' and Hydra's public API; Keto's read API.
    Public,
    /// Kratos' and Hydra's admin API; Keto's write API.
    Admin,
}

/// One port a service listens on, set by `<key>_HOST` and `<key>_PORT`.
#[derive(Debug)]
pub(super) struct Listener {
    pub(super) key: &'static str,
    /// The API it serves; `None` for the others (Keto's metrics and OPL
    /// ports).
    pub(super) api: Option<Api>,
    /// Whether it answers `/health/ready` (Oathkeeper's proxy forwards
    /// every path by its rules instead).
    pub(super) probed: bool,
}

/// Everything the harness knows of one service, in one place.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) tag: &'static str,
    pub(super) config_file: &'static str,
    /// The official image's command, before the config flag.
    pub(super) serve: &'static [&'static str],
    /// The command that migrates its SQL database, before the config flag.
    pub(super) migrate: &'static [&'static str],
    /// Whether `--dev` applies (Keto has no such flag).
    pub(super) dev_flag: bool,
    pub(super) listeners: &'static [Listener],
    /// Environment variables that take the base URL of an API.
    pub(super) base_urls: &'static [(&'static str, Api)],
    /// Set in the dev and load tunings.
    pub(super) dev_env: &'static [(&'static str, &'static str)],
    /// Set in the load tuning, on top of `dev_env`.
    pub(super) load_env: &'static [(&'static str, &'static str)],
    /// How the public API is served over TLS in the production-like
    /// tuning; `None` where the service serves no TLS (Keto's read API
    /// stays plain HTTP, as behind a service mesh).
    pub(super) public_tls: Option<PublicTls>,
}

/// The variables that serve a public API over TLS.
#[derive(Debug, Clone, Copy)]
pub(super) struct PublicTls {
    /// Takes the certificate chain, base64 of the PEM.
    pub(super) cert: &'static str,
    /// Takes the private key, base64 of the PEM.
    pub(super) key: &'static str,
    /// Set to `true` where a certificate alone does not turn TLS on
    /// (Hydra's `serve.public.tls.enabled`).
    pub(super) enabled: Option<&'static str>,
}

/// Kratos' and Hydra's listeners: a public and an admin API.
const PUBLIC_AND_ADMIN: &[Listener] = &[
    Listener {
        key: "SERVE_PUBLIC",
        api: Some(Api::Public),
        probed: true,
    },
    Listener {
        key: "SERVE_ADMIN",
        api: Some(Api::Admin),
        probed: true,
    },
];

pub(super) const KRATOS: Table = Table {
    name: "kratos",
    tag: KRATOS_VERSION,
    config_file: "kratos.yml",
    serve: &["serve", "--watch-courier"],
    migrate: &["migrate", "sql", "-e", "--yes"],
    dev_flag: true,
    listeners: PUBLIC_AND_ADMIN,
    base_urls: &[
        ("SERVE_PUBLIC_BASE_URL", Api::Public),
        ("SERVE_ADMIN_BASE_URL", Api::Admin),
    ],
    // bcrypt's minimum: flows measure Kratos, not the hash.
    dev_env: &[("HASHERS_BCRYPT_COST", "4")],
    load_env: &[
        // A line per request at info level costs more than some requests.
        ("LOG_LEVEL", "warning"),
        // The courier takes 10 messages per pull and then sleeps a second:
        // sign-ups would wait on that, not on Kratos.
        ("COURIER_WORKER_PULL_COUNT", "200"),
        ("COURIER_WORKER_PULL_WAIT", "50ms"),
    ],
    public_tls: Some(PublicTls {
        cert: "SERVE_PUBLIC_TLS_CERT_BASE64",
        key: "SERVE_PUBLIC_TLS_KEY_BASE64",
        enabled: None,
    }),
};

pub(super) const HYDRA: Table = Table {
    name: "hydra",
    tag: HYDRA_VERSION,
    config_file: "hydra.yml",
    serve: &["serve", "all"],
    migrate: &["migrate", "sql", "-e", "--yes"],
    dev_flag: true,
    listeners: PUBLIC_AND_ADMIN,
    base_urls: &[
        ("URLS_SELF_ISSUER", Api::Public),
        ("URLS_SELF_PUBLIC", Api::Public),
        ("URLS_SELF_ADMIN", Api::Admin),
    ],
    dev_env: &[],
    // Hydra's and Keto's log schema takes `warn`; `warning` stops them.
    load_env: &[("LOG_LEVEL", "warn")],
    public_tls: Some(PublicTls {
        cert: "SERVE_PUBLIC_TLS_CERT_BASE64",
        key: "SERVE_PUBLIC_TLS_KEY_BASE64",
        enabled: Some("SERVE_PUBLIC_TLS_ENABLED"),
    }),
};

pub(super) const KETO: Table = Table {
    name: "keto",
    tag: KETO_VERSION,
    config_file: "keto.yml",
    serve: &["serve"],
    migrate: &["migrate", "up", "--yes"],
    dev_flag: false,
    listeners: &[
        Listener {
            key: "SERVE_READ",
            api: Some(Api::Public),
            probed: true,
        },
        Listener {
            key: "SERVE_WRITE",
            api: Some(Api::Admin),
            probed: true,
        },
        Listener {
            key: "SERVE_METRICS",
            api: None,
            probed: false,
        },
        Listener {
            key: "SERVE_OPL",
            api: None,
            probed: false,
        },
    ],
    base_urls: &[],
    dev_env: &[],
    // Hydra's and Keto's log schema takes `warn`; `warning` stops them.
    load_env: &[("LOG_LEVEL", "warn")],
    public_tls: None,
};

/// Oathkeeper: the proxy (the "public" side, what clients call) and its
/// API (rules, health, JWKS of the `id_token` mutator). No database.
pub(super) const OATHKEEPER: Table = Table {
    name: "oathkeeper",
    tag: OATHKEEPER_VERSION,
    config_file: "oathkeeper.yml",
    serve: &["serve"],
    migrate: &[],
    dev_flag: false,
    listeners: &[
        Listener {
            key: "SERVE_PROXY",
            api: Some(Api::Public),
            probed: false,
        },
        Listener {
            key: "SERVE_API",
            api: Some(Api::Admin),
            probed: true,
        },
        // Its metrics, on 9000 unless moved: two stacks would collide.
        Listener {
            key: "SERVE_PROMETHEUS",
            api: None,
            probed: false,
        },
    ],
    base_urls: &[],
    dev_env: &[],
    load_env: &[("LOG_LEVEL", "warn")],
    public_tls: None,
};
