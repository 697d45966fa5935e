//! What the tests share: logging, stack start-up and error explanation.

use harness::{OryStack, Result};
use scenarios::User;

/// Logs from the harness (`RUST_LOG=debug` shows every step) once per binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,harness=info".into()),
        )
        .with_test_writer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// A stack with Kratos alone.
pub async fn kratos_stack() -> OryStack {
    init_tracing();
    OryStack::builder()
        .with_kratos()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

/// The fake person for `seed`, whose mail arrives at the stack's sink.
pub fn user(stack: &OryStack, seed: u64) -> User {
    User::fake(seed, &stack.mailboxes().expect("the stack runs Kratos"))
}

/// The person for `seed`, signed up, verified and signed in in a browser
/// of their own.
pub async fn signed_in(stack: &OryStack, seed: u64) -> (User, harness::Browser) {
    let kratos = stack.kratos();
    let user = user(stack, seed);
    let browser = harness::Browser::new().expect("a client builds");
    ok(
        stack,
        scenarios::journey::browser_register_verified(&browser, &user, &kratos).await,
    )
    .await;
    ok(
        stack,
        scenarios::flows::login::browser(
            &browser,
            &kratos,
            &user.person.email,
            &user.person.password,
        )
        .await,
    )
    .await;
    (user, browser)
}

/// Unwraps a step's result, or panics with the step, status, Ory's id and
/// the end of the log of the service the step talked to.
pub async fn ok<T>(stack: &OryStack, result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("failed: {}", stack.explain(&e).await),
    }
}

/// A seed per test so addresses differ across tests and runs of one stack.
pub fn seed(test: &str) -> u64 {
    test.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
