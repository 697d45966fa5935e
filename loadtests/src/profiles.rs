//! Load profiles: Goose scenarios assembled from the flows, registered in
//! [`PROFILES`] and picked by name and weight (`--mix whoami=90,login=10`).
//! A profile's users set themselves up when they start (sign up, log in),
//! unmeasured and before the window opens (see [`crate::setup`]), then
//! repeat its measured transaction while the window is open.

use std::fmt;
use std::sync::Arc;

use goose::goose::{
    GooseUser, Scenario, Transaction, TransactionError, TransactionFunction, TransactionResult,
};
use harness::kratos::Session;
use harness::{Error, Kratos, Mailbox, Result, Service, Transport};
use scenarios::flows::{login, logout, settings};
use scenarios::{Person, journey};

use crate::context::Context;
use crate::goose_transport::GooseTransport;

/// A load profile.
#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    pub about: &'static str,
    /// It signs people up in its measured steps, so it reads their mail at
    /// the stack's sink.
    pub needs_mail: bool,
    /// The services it talks to besides Kratos; a fresh stack starts them.
    pub needs: &'static [Service],
    /// Its users need a verified Kratos account.
    pub needs_account: bool,
    /// The measured transaction, after the users' start.
    run: Measured,
}

/// Every profile, in one place: a new flow adds its profile with a line.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "whoami",
        about: "signed-in browsers check their session by cookie",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        run: Measured::WhoamiCookie,
    },
    Profile {
        name: "whoami-api",
        about: "signed-in native apps check their session by X-Session-Token",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        run: Measured::WhoamiToken,
    },
    Profile {
        name: "health",
        about: "browsers ask Kratos' /health/alive: no session to check, the generator's own cost",
        needs_mail: false,
        needs: &[],
        needs_account: false,
        run: Measured::Health,
    },
    Profile {
        name: "login",
        about: "verified users log in, check whoami and log out, in a browser",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        run: Measured::Login,
    },
    Profile {
        name: "recovery",
        about: "verified users forget their password: the code by mail, a new password in settings",
        needs_mail: true,
        needs: &[],
        needs_account: true,
        run: Measured::Recovery,
    },
    Profile {
        name: "settings",
        about: "signed-in browsers change their name in the settings flow",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        run: Measured::Settings,
    },
    Profile {
        name: "signup",
        about: "new people register, read the code from their mail, verify, log in, check whoami, log out",
        needs_mail: true,
        needs: &[],
        needs_account: false,
        run: Measured::Signup,
    },
    Profile {
        name: "keto-check",
        about: "permission checks: a direct viewer, a viewer through a team three folders up, a stranger",
        needs_mail: false,
        needs: &[Service::Keto],
        needs_account: false,
        run: Measured::KetoCheck,
    },
    Profile {
        name: "oauth2-code",
        about: "a fresh browser per round: authorization code + PKCE, login in Kratos, consent, token exchange",
        needs_mail: false,
        needs: &[Service::Hydra],
        needs_account: true,
        run: Measured::OAuth2Code,
    },
    Profile {
        name: "client-credentials",
        about: "a backend service asks Hydra for an access token (client credentials)",
        needs_mail: false,
        needs: &[Service::Hydra],
        needs_account: false,
        run: Measured::ClientCredentials,
    },
    Profile {
        name: "introspect",
        about: "a resource server introspects an access token",
        needs_mail: false,
        needs: &[Service::Hydra],
        needs_account: false,
        run: Measured::Introspect,
    },
];

/// What a profile measures; how its users start follows from it.
#[derive(Debug, Clone, Copy)]
enum Measured {
    WhoamiCookie,
    WhoamiToken,
    Health,
    Login,
    Recovery,
    Settings,
    Signup,
    KetoCheck,
    OAuth2Code,
    ClientCredentials,
    Introspect,
}

/// How a profile's users start, unmeasured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A browser, nothing else: every iteration is a new person.
    FreshBrowser,
    /// A browser with a verified account, signed out.
    VerifiedBrowser,
    /// A browser with a verified account, signed in (session cookie).
    SignedInBrowser,
    /// A native app with a verified account, signed in (session token).
    SignedInApp,
    /// Relationships of its own in Keto; no Kratos account.
    KetoRelationships,
    /// A verified Kratos account, signed out, and an OAuth2 client.
    OAuth2User,
    /// A confidential OAuth2 client (and an access token to introspect).
    OAuth2Service,
}

impl Measured {
    fn start(self) -> Start {
        match self {
            Self::WhoamiCookie | Self::Settings => Start::SignedInBrowser,
            Self::WhoamiToken => Start::SignedInApp,
            Self::Login | Self::Recovery => Start::VerifiedBrowser,
            Self::Signup | Self::Health => Start::FreshBrowser,
            Self::KetoCheck => Start::KetoRelationships,
            Self::OAuth2Code => Start::OAuth2User,
            Self::ClientCredentials | Self::Introspect => Start::OAuth2Service,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<11} {}", self.name, self.about)
    }
}

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The names of all profiles, for messages.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Profiles and their weights.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(&'static Profile, usize)>);

impl Mix {
    /// `whoami=90,login=10`, or a single name (`whoami`, weight 1).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut parts = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (name, weight) = match part.split_once('=') {
                Some((name, weight)) => {
                    let weight: usize = weight.trim().parse().map_err(|_| {
                        format!("{part:?}: the weight after '=' must be a whole number")
                    })?;
                    (name.trim(), weight)
                }
                None => (part, 1),
            };
            if name.is_empty() {
                return Err(format!(
                    "{text:?} is not a mix: write name=weight pairs separated by commas, \
                     e.g. whoami=90,login=10"
                ));
            }
            let profile = find(name).ok_or_else(|| {
                format!("unknown profile {name:?}; the profiles are: {}", names())
            })?;
            if weight == 0 {
                return Err(format!("{part:?}: a weight must be at least 1"));
            }
            if parts
                .iter()
                .any(|(p, _): &(&Profile, usize)| p.name == name)
            {
                return Err(format!("{name:?} appears twice in the mix"));
            }
            parts.push((profile, weight));
        }
        Ok(Self(parts))
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(p, w)| format!("{}={w}", p.name))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// What a user of a profile keeps between transactions.
#[derive(Debug, Clone)]
struct Account {
    person: Person,
    /// Their inbox, when the stack's mail can be read.
    mailbox: Option<Mailbox>,
    /// Set once signed in.
    identity_id: Option<String>,
    /// A native app's session token.
    token: Option<String>,
}

/// The Goose scenario of `profile` with `weight`.
pub fn scenario(
    profile: &'static Profile,
    weight: usize,
    ctx: &Arc<Context>,
) -> std::result::Result<Scenario, goose::GooseError> {
    let start = on_start(profile.run.start(), Arc::clone(ctx));
    let mut round = measured(profile.run, Arc::clone(ctx));
    if let Some(schedule) = &ctx.schedule {
        round = on_schedule(Arc::clone(ctx), Arc::clone(schedule), round, profile.name);
    }
    let round = in_window(Arc::clone(ctx), round);
    Ok(Scenario::new(profile.name)
        .set_weight(weight)?
        .set_host(ctx.kratos.public_base().as_str())
        .register_transaction(start.set_name("start").set_on_start())
        .register_transaction(Transaction::new(round).set_name(profile.name)))
}

/// The method the open model's rounds are recorded under.
pub const ROUND_METHOD: &str = "ROUND";

/// A round of the open model: it waits for its intended start, runs, and
/// is recorded as `<profile> ROUND [from intended start]` with its latency
/// from that start.
fn on_schedule(
    ctx: Arc<Context>,
    schedule: Arc<crate::schedule::Schedule>,
    round: TransactionFunction,
    name: &'static str,
) -> TransactionFunction {
    let label = format!("{name} {ROUND_METHOD} [from intended start]");
    Arc::new(move |user| {
        let ctx = Arc::clone(&ctx);
        let schedule = Arc::clone(&schedule);
        let round = Arc::clone(&round);
        let label = label.clone();
        Box::pin(async move {
            let asked = std::time::Instant::now();
            let Some((slot, released)) = schedule.next().await else {
                // The run's rounds are all out; Goose is about to stop.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                return Ok(());
            };
            let start = slot.start(asked, released);
            let result = round(user).await;
            let done = std::time::Instant::now();
            schedule.done(done);
            ctx.counters.recorder.record(
                &label,
                done,
                crate::record::Outcome {
                    latency: Some(done.saturating_duration_since(start)),
                    status: None,
                    error: result.as_ref().err().map(|_| "the round failed"),
                },
            );
            result
        })
    })
}

/// A transaction function that runs the async function `$f(user, ctx)`.
macro_rules! with_context {
    ($ctx:expr, $f:path) => {{
        let ctx = $ctx;
        let function: TransactionFunction =
            Arc::new(move |user| Box::pin($f(user, Arc::clone(&ctx))));
        function
    }};
}

/// How long a user with nothing to send (left out of the window, or the
/// window over) waits before Goose runs its transaction again: a
/// transaction that returns without awaiting anything would spin its
/// worker thread and starve the run's timers and its stop.
const IDLE: std::time::Duration = std::time::Duration::from_millis(100);

/// A measured round that runs only inside the window: users that were left
/// out, or whose window is over, send nothing. Every profile's rounds are
/// wrapped in it; a scenario of a test's own wraps its rounds too.
pub fn in_window(ctx: Arc<Context>, round: TransactionFunction) -> TransactionFunction {
    Arc::new(move |user| {
        let ctx = Arc::clone(&ctx);
        let round = Arc::clone(&round);
        Box::pin(async move {
            if !ctx.window.sending() || ctx.setup.is_left_out(user.weighted_users_index) {
                tokio::time::sleep(IDLE).await;
                return Ok(());
            }
            round(user).await
        })
    })
}

/// The user's start, unmeasured: a client of the right kind with its own
/// jar (or none) and what the profile needs, tried again after a transient
/// failure; then the wait for the window (see [`crate::setup`]).
fn on_start(start: Start, ctx: Arc<Context>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = Arc::clone(&ctx);
        Box::pin(async move {
            let index = user.weighted_users_index;
            if ctx.window.phase() != crate::window::Phase::Setup {
                // Launched after the setup ran out: left out, and nothing
                // sent while the window is open.
                ctx.start_over(index, &Ok(())).await;
                return Ok(());
            }
            let outcome = {
                let _turn = ctx.setup.turn().await;
                let mut attempt = 1;
                loop {
                    let result = start_once(start, user, &ctx).await;
                    let in_setup = ctx.window.phase() == crate::window::Phase::Setup;
                    match result {
                        Ok(()) => break Ok(()),
                        Err(e) => match ctx.setup.again(index, attempt, &e, in_setup) {
                            Some(pause) => {
                                tokio::time::sleep(pause).await;
                                attempt += 1;
                            }
                            None => break Err(e),
                        },
                    }
                }
            };
            ctx.start_over(index, &outcome).await;
            Ok(())
        })
    });
    Transaction::new(function)
}

/// One try of a user's start; the user keeps what it made as its session
/// data.
async fn start_once(start: Start, user: &mut GooseUser, ctx: &Context) -> Result<()> {
    match start {
        Start::KetoRelationships => return crate::permissions::start(user, ctx).await,
        Start::OAuth2Service => return crate::oauth2::start_service(user, ctx).await,
        _ => {}
    }
    let account = if start == Start::SignedInApp {
        let app = ctx.app()?;
        ctx.seat(user, app.agent());
        provision(ctx, &app, start).await?
    } else {
        let browser = ctx.browser()?;
        ctx.seat(user, browser.agent());
        provision(ctx, &browser, start).await?
    };
    match (start, account) {
        (Start::OAuth2User, Some(account)) => {
            let client = crate::oauth2::register_client(ctx).await?;
            user.set_session_data(crate::oauth2::CodeUser {
                email: account.person.email,
                password: account.person.password,
                client,
            });
        }
        (_, Some(account)) => user.set_session_data(account),
        (_, None) => {}
    }
    Ok(())
}

/// Gives a starting user the account `start` asks for: signed up through
/// the flows when the stack's mail can be read, else created through the
/// admin API; then signed in if asked.
async fn provision<T: Transport>(ctx: &Context, t: &T, start: Start) -> Result<Option<Account>> {
    if start == Start::FreshBrowser {
        return Ok(None);
    }
    let kratos = &ctx.kratos;
    let (person, mailbox) = if let Some(user) = ctx.next_user() {
        if start == Start::SignedInApp {
            journey::api_register_verified(t, &user, kratos).await?;
        } else {
            journey::browser_register_verified(t, &user, kratos).await?;
        }
        (user.person, Some(user.mailbox))
    } else {
        (ctx.admin_account().await?.0, None)
    };
    let mut account = Account {
        person,
        mailbox,
        identity_id: None,
        token: None,
    };
    match start {
        Start::SignedInBrowser => {
            login::browser(t, kratos, &account.person.email, &account.person.password).await?;
            account.identity_id = Some(identity_id(kratos, &kratos.whoami(t, None).await?)?);
        }
        Start::SignedInApp => {
            let login =
                login::api(t, kratos, &account.person.email, &account.person.password).await?;
            account.identity_id = Some(identity_id(kratos, &login.session)?);
            account.token = Some(login.session_token);
        }
        Start::VerifiedBrowser
        | Start::FreshBrowser
        | Start::KetoRelationships
        | Start::OAuth2User
        | Start::OAuth2Service => {}
    }
    Ok(Some(account))
}

/// The measured transaction of a profile.
fn measured(run: Measured, ctx: Arc<Context>) -> TransactionFunction {
    match run {
        Measured::WhoamiCookie | Measured::WhoamiToken => with_context!(ctx, whoami),
        Measured::Health => with_context!(ctx, alive),
        Measured::Login => with_context!(ctx, login_whoami_logout),
        Measured::Recovery => with_context!(ctx, recover),
        Measured::Settings => with_context!(ctx, rename),
        Measured::Signup => with_context!(ctx, signup),
        Measured::KetoCheck => with_context!(ctx, crate::permissions::checks),
        Measured::OAuth2Code => with_context!(ctx, crate::oauth2::code_flow),
        Measured::ClientCredentials => with_context!(ctx, crate::oauth2::client_credentials),
        Measured::Introspect => with_context!(ctx, crate::oauth2::introspect),
    }
}

/// whoami with the user's cookie or token; the session must be the user's
/// own, not merely a 200.
async fn whoami(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let session = ctx.kratos.whoami(&t, account.token.as_deref()).await?;
        expect_own(&ctx.kratos, &session, &account)
    }
    .await;
    t.finish(result)
}

/// `GET /health/alive` with the user's browser: a 200 and its body read.
async fn alive(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let t = GooseTransport::new(user, &ctx)?;
    let result = async {
        let (url, step) = &ctx.alive;
        let response = t.send(step, t.client().get(url.clone())).await?;
        harness::response::text(step, response).await.map(drop)
    }
    .await;
    t.finish(result)
}

/// A fresh browser login, whoami, logout.
async fn login_whoami_logout(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let mut account = account(user).await?;
    let t = GooseTransport::new(user, &ctx)?;
    let kratos = &ctx.kratos;
    let result = async {
        login::browser(&t, kratos, &account.person.email, &account.person.password).await?;
        let session = kratos.whoami(&t, None).await?;
        if account.identity_id.is_none() {
            account.identity_id = Some(identity_id(kratos, &session)?);
        }
        expect_own(kratos, &session, &account)?;
        logout::browser(&t, kratos).await?;
        Ok(account)
    }
    .await;
    let finished = t.finish(result);
    keep_account(user, &ctx, finished)
}

/// Forgot the password: recovery by the mailed code, a new password in
/// settings; the account keeps the new one. The browser then holds the
/// recovery's session: it signs out for the next round.
async fn recover(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let mut account = account(user).await?;
    let Some(mailbox) = account.mailbox.clone() else {
        return Err(custom(Error::unexpected(
            "recovery",
            "no mailbox: recovery reads codes from the stack's mail",
        )));
    };
    // A code that came too late for an earlier round must not be taken for
    // this round's.
    mailbox.clear();
    let t = GooseTransport::new(user, &ctx)?;
    let kratos = &ctx.kratos;
    let result = async {
        let password = rotate(&account.person.password);
        let person = scenarios::User {
            person: account.person.clone(),
            mailbox,
        };
        journey::browser_recovery(&t, &person, kratos, &password).await?;
        logout::browser(&t, kratos).await?;
        account.person.password = password;
        Ok(account)
    }
    .await;
    let finished = t.finish(result);
    keep_account(user, &ctx, finished)
}

/// A new password for the next round, as long as the policy asks, and
/// unlike the last.
fn rotate(password: &str) -> String {
    let round: u32 = password
        .rsplit_once('~')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    let base = password.rsplit_once('~').map_or(password, |(b, _)| b);
    format!("{base}~{}", round + 1)
}

/// A signed-in browser renames its person in the settings flow.
async fn rename(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let account = account(user).await?;
    // A different name each round, so every save is a change.
    let first = format!("{} {}", account.person.first_name, user.get_iterations());
    let t = GooseTransport::new(user, &ctx)?;
    let p = &account.person;
    let result = settings::browser_profile(
        &t,
        &ctx.kratos,
        &[
            ("traits.email", &p.email),
            ("traits.name.first", &first),
            ("traits.name.last", &p.last_name),
        ],
    )
    .await;
    t.finish(result).map(drop)
}

/// Ends a transaction that changed the account: kept for the next round on
/// success; on failure the user starts over with a new browser.
fn keep_account(
    user: &mut GooseUser,
    ctx: &Context,
    finished: std::result::Result<Account, Box<TransactionError>>,
) -> TransactionResult {
    let account = fresh_browser_on_failure(user, ctx, finished)?;
    user.set_session_data(account);
    Ok(())
}

/// After a failed journey the browser may hold a session or a flow half
/// done (a login whose answer was lost), and every later iteration would
/// fail on it: as a person would, the user starts over with a new browser.
fn fresh_browser_on_failure<T>(
    user: &mut GooseUser,
    ctx: &Context,
    result: std::result::Result<T, Box<TransactionError>>,
) -> std::result::Result<T, Box<TransactionError>> {
    if result.is_err() {
        let browser = ctx.browser().map_err(custom)?;
        ctx.seat(user, browser.agent());
    }
    result
}

/// The whole sign-up journey for a new person.
async fn signup(user: &mut GooseUser, ctx: Arc<Context>) -> TransactionResult {
    let person = ctx.next_user().ok_or_else(|| {
        custom(Error::unexpected(
            "signup",
            "no mail sink: sign-up reads codes from the stack's mail",
        ))
    })?;
    let t = GooseTransport::new(user, &ctx)?;
    let result = journey::browser_signup(&t, &person, &ctx.kratos).await;
    let finished = t.finish(result);
    fresh_browser_on_failure(user, &ctx, finished).map(drop)
}

async fn account(user: &GooseUser) -> std::result::Result<Account, Box<TransactionError>> {
    started(user, "an account").await
}

/// How long a user whose start failed waits before each failed round.
const FAILED_START_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// What the user's start left it (`what`, for the message). When the start
/// failed, the round fails, after a pause: a round that fails without
/// awaiting anything would spin its worker thread and starve the run
/// (its timers, its kill switch), so that the load never ends.
pub(crate) async fn started<T: Clone + Send + Sync + 'static>(
    user: &GooseUser,
    what: &str,
) -> std::result::Result<T, Box<TransactionError>> {
    if let Some(data) = user.get_session_data::<T>() {
        return Ok(data.clone());
    }
    tokio::time::sleep(FAILED_START_PAUSE).await;
    Err(Box::new(TransactionError::Custom(format!(
        "this user has no {what}: its start failed"
    ))))
}

fn identity_id(kratos: &Kratos, session: &Session) -> Result<String> {
    session
        .identity
        .as_ref()
        .map(|i| i.id.clone())
        .ok_or_else(|| {
            Error::unexpected(kratos.whoami_step().name(), "the session has no identity")
        })
}

/// The session is the account's own.
fn expect_own(kratos: &Kratos, session: &Session, account: &Account) -> Result<()> {
    let got = identity_id(kratos, session)?;
    match &account.identity_id {
        Some(own) if *own == got => Ok(()),
        Some(own) => Err(Error::unexpected(
            kratos.whoami_step().name(),
            format!("the session is identity {got}'s, not this user's ({own})"),
        )),
        None => Ok(()),
    }
}

#[allow(clippy::needless_pass_by_value, clippy::unnecessary_box_returns)]
pub(crate) fn custom(e: Error) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_password_differs_each_round_and_keeps_its_length_up() {
        let first = rotate("ABCDEFGHJKLMNPQRSTUV");
        assert_eq!(first, "ABCDEFGHJKLMNPQRSTUV~1");
        assert_eq!(rotate(&first), "ABCDEFGHJKLMNPQRSTUV~2");
    }

    #[test]
    fn a_mix_reads_names_and_weights() {
        let mix = Mix::parse("whoami=90, login=10").unwrap();
        assert_eq!(mix.to_string(), "whoami=90,login=10");
        assert_eq!(Mix::parse("signup").unwrap().to_string(), "signup=1");
    }

    #[test]
    fn a_session_of_another_identity_fails_the_whoami_step() {
        let kratos = Kratos::public_only(url::Url::parse("http://127.0.0.1:4433/").unwrap());
        let session: Session = serde_json::from_value(serde_json::json!({
            "id": "s", "identity": {"id": "someone-else", "schema_id": "person", "traits": {}}
        }))
        .unwrap();
        let mut account = Account {
            person: Person::fake(1),
            mailbox: None,
            identity_id: Some("me".into()),
            token: None,
        };
        let err = expect_own(&kratos, &session, &account).unwrap_err();
        assert_eq!(err.step(), Some("kratos GET /sessions/whoami"));
        assert!(err.to_string().contains("someone-else"), "{err}");
        account.identity_id = Some("someone-else".into());
        expect_own(&kratos, &session, &account).unwrap();
    }

    #[test]
    fn a_bad_mix_says_what_is_wrong() {
        let unknown = Mix::parse("whoami=1,nope=2").unwrap_err();
        assert!(unknown.contains("unknown profile \"nope\""), "{unknown}");
        assert!(
            unknown.contains("whoami, whoami-api, health, login, recovery, settings, signup"),
            "{unknown}"
        );
        assert!(Mix::parse("whoami=x").unwrap_err().contains("whole number"));
        assert!(Mix::parse("whoami=0").unwrap_err().contains("at least 1"));
        assert!(Mix::parse("whoami=1,,").unwrap_err().contains("not a mix"));
        assert!(Mix::parse("login,login").unwrap_err().contains("twice"));
    }
}
