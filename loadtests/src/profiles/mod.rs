//! Load profiles: Goose scenarios assembled from the flows, registered in
//! [`PROFILES`] and picked by name and weight (`--mix whoami=90,login=10`).
//! A profile's users set themselves up when they start (`start.rs`: sign
//! up, log in), unmeasured and before the window opens (see
//! [`crate::setup`]), then repeat its measured transaction (`kratos.rs`,
//! `hydra.rs`, `keto.rs`) while the window is open. Adding a profile takes
//! its entry in [`PROFILES`] (its name, needs, start and transaction) and
//! the transaction's function.

use std::fmt;
use std::sync::Arc;

use goose::goose::{Scenario, Transaction, TransactionFunction};
use harness::Service;

use crate::context::Context;

mod hydra;
mod keto;
mod kratos;
mod start;
mod ui;

use start::Start;

/// A transaction function that runs the async function `$f(user, ctx)`.
macro_rules! with_context {
    ($ctx:expr, $f:path) => {{
        let ctx = $ctx;
        let function: TransactionFunction =
            Arc::new(move |user| Box::pin($f(user, Arc::clone(&ctx))));
        function
    }};
}

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
    /// It drives the self-service UI's pages ([`harness::ui`]), which a
    /// fresh stack starts in front of Kratos.
    pub needs_ui: bool,
    /// How its users start, unmeasured, before the window opens.
    start: Start,
    /// Its measured transaction, repeated by each user while the window
    /// is open.
    transaction: fn(Arc<Context>) -> TransactionFunction,
}

/// Every profile, in one place: a new flow adds its profile with a line.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "whoami",
        about: "signed-in browsers check their session by cookie",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        needs_ui: false,
        start: Start::SignedInBrowser,
        transaction: |ctx| with_context!(ctx, kratos::whoami),
    },
    Profile {
        name: "whoami-api",
        about: "signed-in native apps check their session by X-Session-Token",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        needs_ui: false,
        start: Start::SignedInApp,
        transaction: |ctx| with_context!(ctx, kratos::whoami),
    },
    Profile {
        name: "health",
        about: "browsers ask Kratos' /health/alive: no session to check, the generator's own cost",
        needs_mail: false,
        needs: &[],
        needs_account: false,
        needs_ui: false,
        start: Start::FreshBrowser,
        transaction: |ctx| with_context!(ctx, kratos::alive),
    },
    Profile {
        name: "login",
        about: "verified users log in, check whoami and log out, in a browser",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        needs_ui: false,
        start: Start::VerifiedBrowser,
        transaction: |ctx| with_context!(ctx, kratos::login_whoami_logout),
    },
    Profile {
        name: "recovery",
        about: "verified users forget their password: the code by mail, a new password in settings",
        needs_mail: true,
        needs: &[],
        needs_account: true,
        needs_ui: false,
        start: Start::VerifiedBrowser,
        transaction: |ctx| with_context!(ctx, kratos::recover),
    },
    Profile {
        name: "settings",
        about: "signed-in browsers change their name in the settings flow",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        needs_ui: false,
        start: Start::SignedInBrowser,
        transaction: |ctx| with_context!(ctx, kratos::rename),
    },
    Profile {
        name: "signup",
        about: "new people register, read the code from their mail, verify, log in, check whoami, log out",
        needs_mail: true,
        needs: &[],
        needs_account: false,
        needs_ui: false,
        start: Start::FreshBrowser,
        transaction: |ctx| with_context!(ctx, kratos::signup),
    },
    Profile {
        name: "ui-login",
        about: "verified users sign in and out through the self-service UI's pages, as a browser: each page and redirect",
        needs_mail: false,
        needs: &[],
        needs_account: true,
        needs_ui: true,
        start: Start::VerifiedBrowser,
        transaction: |ctx| with_context!(ctx, ui::login_logout),
    },
    Profile {
        name: "ui-signup",
        about: "new people sign up through the self-service UI's pages, verify by the mailed code, sign out",
        needs_mail: true,
        needs: &[],
        needs_account: false,
        needs_ui: true,
        start: Start::FreshBrowser,
        transaction: |ctx| with_context!(ctx, ui::signup),
    },
    Profile {
        name: "gateway",
        about: "signed-in browsers reach the app through Oathkeeper by cookie, and check whoami directly beside it",
        needs_mail: false,
        needs: &[Service::Oathkeeper],
        needs_account: true,
        needs_ui: false,
        start: Start::SignedInBrowser,
        transaction: |ctx| with_context!(ctx, kratos::gateway),
    },
    Profile {
        name: "gateway-api",
        about: "signed-in native apps reach the app through Oathkeeper by token, and check whoami directly beside it",
        needs_mail: false,
        needs: &[Service::Oathkeeper],
        needs_account: true,
        needs_ui: false,
        start: Start::SignedInApp,
        transaction: |ctx| with_context!(ctx, kratos::gateway),
    },
    Profile {
        name: "gateway-keto",
        about: "signed-in browsers open a document of their own through Oathkeeper, which asks Kratos and Keto first; Keto's own check beside it",
        needs_mail: false,
        needs: &[Service::Oathkeeper, Service::Keto],
        needs_account: true,
        needs_ui: false,
        start: Start::SignedInBrowserWithDocument,
        transaction: |ctx| with_context!(ctx, kratos::gateway_document),
    },
    Profile {
        name: "gateway-oauth2",
        about: "services call an API through Oathkeeper with an OAuth2 access token it introspects at Hydra; Hydra's own introspection beside it",
        needs_mail: false,
        needs: &[Service::Oathkeeper, Service::Hydra],
        needs_account: false,
        needs_ui: false,
        start: Start::OAuth2Service,
        transaction: |ctx| with_context!(ctx, hydra::gateway_reports),
    },
    Profile {
        name: "keto-check",
        about: "permission checks: a direct viewer, a viewer through a team three folders up, a stranger",
        needs_mail: false,
        needs: &[Service::Keto],
        needs_account: false,
        needs_ui: false,
        start: Start::KetoRelationships,
        transaction: |ctx| with_context!(ctx, keto::checks),
    },
    Profile {
        name: "oauth2-code",
        about: "a fresh browser per round: authorization code + PKCE, login in Kratos, consent, token exchange",
        needs_mail: false,
        needs: &[Service::Hydra],
        needs_account: true,
        needs_ui: false,
        start: Start::OAuth2User,
        transaction: |ctx| with_context!(ctx, hydra::code_flow),
    },
    Profile {
        name: "client-credentials",
        about: "a backend service asks Hydra for an access token (client credentials)",
        needs_mail: false,
        needs: &[Service::Hydra],
        needs_account: false,
        needs_ui: false,
        start: Start::OAuth2Service,
        transaction: |ctx| with_context!(ctx, hydra::client_credentials),
    },
    Profile {
        name: "introspect",
        about: "a resource server introspects an access token",
        needs_mail: false,
        needs: &[Service::Hydra],
        needs_account: false,
        needs_ui: false,
        start: Start::OAuth2Service,
        transaction: |ctx| with_context!(ctx, hydra::introspect),
    },
];

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

/// The Goose scenario of `profile` with `weight`.
pub fn scenario(
    profile: &'static Profile,
    weight: usize,
    ctx: &Arc<Context>,
) -> std::result::Result<Scenario, goose::GooseError> {
    let start = start::on_start(profile.start, Arc::clone(ctx));
    let round = round(ctx, profile.name, (profile.transaction)(Arc::clone(ctx)));
    Ok(Scenario::new(profile.name)
        .set_weight(weight)?
        .set_host(ctx.kratos.public_base().as_str())
        .register_transaction(start.set_name("start").set_on_start())
        .register_transaction(Transaction::new(round).set_name(profile.name)))
}

/// A profile's measured transaction as its users run it: only inside the
/// window, and in the open model as rounds that wait for their intended
/// start and are recorded from it (`<name> ROUND [from intended
/// start]`). A scenario of a test's own wraps its transaction the same
/// way.
pub fn round(
    ctx: &Arc<Context>,
    name: &'static str,
    transaction: TransactionFunction,
) -> TransactionFunction {
    let round = match &ctx.schedule {
        Some(schedule) => on_schedule(Arc::clone(ctx), Arc::clone(schedule), transaction, name),
        None => transaction,
    };
    in_window(Arc::clone(ctx), round)
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
            let counted = ctx.counters.recorder.record(
                &label,
                done,
                crate::record::Outcome {
                    latency: Some(done.saturating_duration_since(start)),
                    status: None,
                    error: result.as_ref().err().map(|_| "the round failed"),
                },
            );
            schedule.done(done, counted);
            result
        })
    })
}

/// How long a user with nothing to send (left out of the window, or the
/// window over) waits before Goose runs its transaction again: a
/// transaction that returns without awaiting anything would spin its
/// worker thread and starve the run's timers and its stop.
const IDLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// A measured round that runs only inside the window: users that were left
/// out, or whose window is over, send nothing.
fn in_window(ctx: Arc<Context>, round: TransactionFunction) -> TransactionFunction {
    Arc::new(move |user| {
        let ctx = Arc::clone(&ctx);
        let round = Arc::clone(&round);
        Box::pin(async move {
            if !ctx.window.sending() || ctx.setup.is_left_out(user.weighted_users_index) {
                tokio::time::sleep(IDLE_PAUSE).await;
                return Ok(());
            }
            let _running = ctx.window.running();
            round(user).await
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_reads_names_and_weights() {
        let mix = Mix::parse("whoami=90, login=10").unwrap();
        assert_eq!(mix.to_string(), "whoami=90,login=10");
        assert_eq!(Mix::parse("signup").unwrap().to_string(), "signup=1");
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
