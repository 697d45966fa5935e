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

/// A stack with Kratos alone, of this test's own (for a test that needs
/// it to itself: one that counts every identity).
pub async fn own_kratos_stack() -> OryStack {
    init_tracing();
    OryStack::builder()
        .with_kratos()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

/// The Kratos of `ory/kratos/` as it is, shared by every test of this
/// binary that needs nothing else (each with people of its own).
pub async fn kratos_stack() -> &'static OryStack {
    shared_kratos(None).await
}

/// Kratos from `ory/kratos/` with the overlay `fixtures/kratos/<overlay>`
/// (or none), one per overlay for the whole test binary: started by the
/// first test that asks, on a runtime of its own that outlives each
/// test's, and removed by the harness's watcher when the binary ends. Its
/// data is in PostgreSQL, since tests write to it at the same time and
/// Kratos' in-memory store fails concurrent writes; under nextest, whose
/// every test is a process of its own, it serves one test and stays in
/// memory.
pub async fn shared_kratos(overlay: Option<&'static str>) -> &'static OryStack {
    type Slot = std::sync::Arc<std::sync::OnceLock<&'static OryStack>>;
    static SHARED: std::sync::Mutex<std::collections::BTreeMap<Option<&'static str>, Slot>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    init_tracing();
    let slot = std::sync::Arc::clone(
        SHARED
            .lock()
            .expect("shared stacks lock")
            .entry(overlay)
            .or_default(),
    );
    if let Some(stack) = slot.get() {
        return stack;
    }
    // Started on a thread of its own; tests wait for it on the blocking
    // pool, not on their runtimes.
    let shared =
        tokio::task::spawn_blocking(move || *slot.get_or_init(|| start_shared(overlay))).await;
    match shared {
        Ok(stack) => stack,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn start_shared(overlay: Option<&'static str>) -> &'static OryStack {
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("shared-kratos-{}", overlay.unwrap_or("base")))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime for the shared stack");
            let mut builder = OryStack::builder().with_kratos().for_the_process();
            if let Some(overlay) = overlay {
                builder = builder.overlay(
                    harness::Service::Kratos,
                    harness::repo_root().join("fixtures/kratos").join(overlay),
                );
            }
            if std::env::var_os("NEXTEST_RUN_ID").is_none() {
                builder = builder.postgres();
            }
            let stack = runtime.block_on(builder.start());
            let _ = ready.send(stack.map(|s| &*Box::leak(Box::new(s))));
            // The stack's mail sink runs here until the process ends.
            runtime.block_on(std::future::pending::<()>());
        })
        .expect("a thread for the shared stack");
    started
        .recv()
        .expect("the shared stack's thread answers")
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
