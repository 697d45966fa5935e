//! What every virtual user of a run shares: the target, where mail arrives,
//! the next fake person, and live counters for the progress line.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use goose::goose::GooseUser;
use harness::kratos::Identity;
use harness::{
    Agent, Browser, Mailboxes, NativeApp, Result, hydra::Hydra, keto::Keto, kratos::Kratos,
};
use scenarios::{Person, User};

/// Counts kept while a run goes, read by the progress line and the summary.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests sent by measured steps.
    pub requests: AtomicU64,
    /// Steps that failed (requests and waits).
    pub failures: AtomicU64,
    /// What the run measures, per step.
    pub recorder: crate::record::Recorder,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a failed step, for the progress line. The summary's counts
    /// are the recorder's, kept over the measured window.
    pub fn failed(&self, step: &str) {
        tracing::trace!(step, "step failed");
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// The run's shared state; profiles hold it in an `Arc`.
#[derive(Debug)]
pub struct Context {
    pub kratos: Kratos,
    /// Keto, for the profiles that check permissions.
    pub keto: Option<Keto>,
    /// Hydra, for the OAuth2 profiles.
    pub hydra: Option<Hydra>,
    /// The self-service UI's origin, for the UI profiles.
    pub ui: Option<url::Url>,
    /// Oathkeeper's proxy and the gateway step's URL (`/me` behind it),
    /// for the gateway profiles.
    pub gateway: Option<(url::Url, harness::Step)>,
    /// The open model's schedule, with `--rate`.
    pub schedule: Option<std::sync::Arc<crate::schedule::Schedule>>,
    /// The users' start, before the window.
    pub setup: crate::setup::Setup,
    /// The measured window.
    pub window: crate::window::Window,
    /// The stack's mail sink, when the run started the stack; an existing
    /// deployment's mail goes elsewhere.
    pub mailboxes: Option<Mailboxes>,
    /// How long one request may take under load, and how much of its
    /// answer is read.
    pub limits: harness::Limits,
    pub counters: Counters,
    next_seed: AtomicU64,
    /// Kratos' `/health/alive` and its step, built once for the `health`
    /// profile.
    pub alive: (url::Url, harness::Step),
    /// Each Goose user's agent (its client, jar and connections), by the
    /// user's index.
    agents: Mutex<std::collections::HashMap<usize, Agent>>,
}

impl Context {
    pub fn new(
        kratos: Kratos,
        mailboxes: Option<Mailboxes>,
        seed: u64,
        request_timeout: Duration,
    ) -> Self {
        let alive = kratos.public("health/alive");
        let alive_step = harness::Step::get("kratos", &alive);
        Self {
            alive: (alive, alive_step),
            kratos,
            keto: None,
            hydra: None,
            ui: None,
            gateway: None,
            schedule: None,
            setup: crate::setup::Setup::new(crate::setup::Policy::default()),
            window: crate::window::Window::default(),
            mailboxes,
            limits: harness::Limits::timeout(request_timeout),
            counters: Counters::default(),
            next_seed: AtomicU64::new(seed),
            agents: Mutex::default(),
        }
    }

    /// The same context with Oathkeeper's proxy at `proxy`: its `/me`
    /// route, which takes a Kratos session.
    #[must_use]
    pub fn with_oathkeeper(mut self, proxy: Option<url::Url>) -> Self {
        self.gateway = proxy.map(|p| {
            let me = harness::urls::join(&p, "me");
            let step = harness::Step::get("oathkeeper", &me);
            (me, step)
        });
        self
    }

    /// The same context with the self-service UI at `origin`.
    #[must_use]
    pub fn with_ui(mut self, origin: Option<url::Url>) -> Self {
        self.ui = origin;
        self
    }

    /// The same context with Keto.
    #[must_use]
    pub fn with_keto(mut self, keto: Option<Keto>) -> Self {
        self.keto = keto;
        self
    }

    /// The same context with rounds started at `rate` per second, for
    /// `length` (the run's duration).
    #[must_use]
    pub fn with_rate(mut self, rate: Option<f64>, length: std::time::Duration) -> Self {
        self.schedule =
            rate.map(|r| std::sync::Arc::new(crate::schedule::Schedule::new(r).lasting(length)));
        self
    }

    /// The same context reading at most `bytes` of an answer's body.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.limits.body = bytes;
        self
    }

    /// The same context with its users started by `policy`.
    #[must_use]
    pub fn with_setup(mut self, policy: crate::setup::Policy) -> Self {
        self.setup = crate::setup::Setup::new(policy);
        self
    }

    /// Counts Goose user `user`'s start as over with `outcome` (ready, or
    /// left out of the window), then waits for the setup to end: every
    /// scenario's on-start transaction ends with this.
    pub async fn start_over(&self, user: usize, outcome: &Result<()>) {
        self.setup.finish(user, outcome);
        self.window.setup_over().await;
    }

    /// The same context with Hydra.
    #[must_use]
    pub fn with_hydra(mut self, hydra: Option<Hydra>) -> Self {
        self.hydra = hydra;
        self
    }

    /// A number no other user of this run has (it names a Keto user's
    /// objects).
    pub fn next_number(&self) -> u64 {
        self.next_seed.fetch_add(1, Ordering::Relaxed)
    }

    /// A person nobody in this run was before.
    pub fn next_person(&self) -> Person {
        Person::fake(self.next_seed.fetch_add(1, Ordering::Relaxed))
    }

    /// A new person and their mailbox, when mail can be read.
    pub fn next_user(&self) -> Option<User> {
        let person = self.next_person();
        self.mailboxes.as_ref().map(|boxes| User {
            mailbox: boxes.open(&person.email),
            person,
        })
    }

    /// Whether users can be given verified accounts: by signing up and
    /// reading the mail, or through the admin API.
    pub fn can_provision(&self) -> bool {
        self.mailboxes.is_some() || self.kratos.admin_base().is_some()
    }

    /// A new browser with an empty jar, with the run's request timeout.
    pub fn browser(&self) -> Result<Browser> {
        Browser::with_limits(self.limits)
    }

    /// A new native app, with the run's request timeout.
    pub fn app(&self) -> Result<NativeApp> {
        NativeApp::with_limits(self.limits)
    }

    /// Gives Goose user `user` the agent its steps go out with, in place of
    /// the one it had (a new browser after a failed journey).
    pub fn seat(&self, user: &GooseUser, agent: &Agent) {
        let mut agents = self.agents.lock().expect("agents lock");
        agents.insert(user.weighted_users_index, agent.clone());
    }

    /// The agent `user` was given at its start.
    pub fn agent(&self, user: &GooseUser) -> Result<Agent> {
        let agents = self.agents.lock().expect("agents lock");
        agents
            .get(&user.weighted_users_index)
            .cloned()
            .ok_or_else(|| {
                harness::Error::unexpected(
                    "user",
                    "no browser or app: the user's start failed before it got one",
                )
            })
    }

    /// A new person with a verified account made through the admin API,
    /// as an operator imports users; and the identity Kratos stored.
    pub async fn admin_account(&self) -> Result<(Person, Identity)> {
        let admin = self.app()?;
        let person = self.next_person();
        let identity = self
            .kratos
            .create_identity(&admin, &person.traits(), &person.password, &[&person.email])
            .await?;
        Ok((person, identity))
    }

    /// Creates `count` identities besides the users' own through the admin
    /// API (batches of 1,000, a verified address and a bcrypt-hashed
    /// password each, as an import writes them), so a run meets tables of
    /// a realistic size. Returns how long it took.
    pub async fn populate(&self, count: usize) -> Result<Duration> {
        let admin = self.app()?;
        let began = std::time::Instant::now();
        let mut left = count;
        while left > 0 {
            let batch: Vec<serde_json::Value> = (0..left.min(POPULATE_BATCH))
                .map(|_| {
                    let person = self.next_person();
                    serde_json::json!({
                        "schema_id": "person",
                        "traits": person.traits(),
                        "credentials": { "password": { "config": { "hashed_password": NOBODYS_HASH } } },
                        "verifiable_addresses": [{
                            "value": person.email, "via": "email", "verified": true, "status": "completed"
                        }],
                    })
                })
                .collect();
            let created = self.kratos.create_identities(&admin, &batch).await?;
            left -= created.len();
        }
        Ok(began.elapsed())
    }
}

/// Identities per admin batch: Kratos' limit with hashed passwords.
const POPULATE_BATCH: usize = 1_000;

/// A bcrypt hash (cost 10) for the populated identities' passwords: the one
/// in `fixtures/users/imported.json`. Nobody logs in as them; their rows
/// are what counts.
const NOBODYS_HASH: &str = "$2a$10$ZYOL1joR40N/KqjjdEuiNeR3tEHjO.pKrKyuw0CcUmgaXHp44yspK";
