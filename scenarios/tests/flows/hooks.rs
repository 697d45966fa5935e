//! Kratos' web hooks, received by the harness: what an after-registration
//! hook sends, a blocking hook that refuses a registration, a slow
//! receiver within Kratos' timeout, one beyond it (retried), and one
//! Kratos does not wait for.

use std::time::{Duration, Instant};

use harness::{Browser, FilledOverlay, OryStack, Reply, Service, WebhookSink};
use scenarios::flows::registration;

use crate::support::{init_tracing, ok, seed, user};

const KEY: &str = "orygate-webhook-key";

/// Kratos whose after-registration hooks call `sink` (and then show the
/// verification UI, as the base config does), from a copy of the overlay
/// `fixtures/kratos/webhooks/` with the receiver's URL and `parse` filled
/// in. The copy is removed when the returned guard drops.
async fn stack_calling(sink: &WebhookSink, parse: bool) -> (OryStack, FilledOverlay) {
    stack_with_hook(sink, parse, false).await
}

/// [`stack_calling`], with `ignore` (Kratos calls the hook in the
/// background) set too.
async fn stack_with_hook(
    sink: &WebhookSink,
    parse: bool,
    ignore: bool,
) -> (OryStack, FilledOverlay) {
    init_tracing();
    let overlay = webhook_overlay(sink, parse, ignore);
    let stack = OryStack::builder()
        .with_kratos()
        .overlay(Service::Kratos, overlay.path())
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    (stack, overlay)
}

/// `fixtures/kratos/webhooks/` calling `sink`.
fn webhook_overlay(sink: &WebhookSink, parse: bool, ignore: bool) -> FilledOverlay {
    let flag = |on: bool| if on { "true" } else { "false" };
    FilledOverlay::new(
        &harness::repo_root().join("fixtures/kratos/webhooks"),
        "kratos.yml",
        &[
            ("RECEIVER/", sink.url("").as_str()),
            ("PARSE", flag(parse)),
            ("IGNORE", flag(ignore)),
        ],
    )
    .unwrap_or_else(|e| panic!("failed to {e}"))
}

#[tokio::test]
async fn an_after_registration_hook_sends_the_jsonnet_body_with_its_key() {
    let sink = WebhookSink::start().await.unwrap();
    let (stack, _overlay) = stack_calling(&sink, false).await;
    let person = user(&stack, seed("webhook_payload")).person;

    ok(
        &stack,
        registration::browser(&Browser::new().unwrap(), &stack.kratos(), &person).await,
    )
    .await;

    let delivery = sink.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.path, "/registered");
    assert_eq!(delivery.header("X-Orygate-Key"), Some(KEY));
    let body = delivery.json().unwrap();
    assert_eq!(body["email"], person.email);
    assert_eq!(body["flow_type"], "browser");
    assert!(
        body["identity_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{body}"
    );
}

#[tokio::test]
async fn a_blocking_hook_that_answers_with_an_error_refuses_the_registration() {
    let sink = WebhookSink::start().await.unwrap();
    sink.reply_with(Reply {
        status: 400,
        body: serde_json::json!({ "messages": [{
            "instance_ptr": "#/traits/email",
            "messages": [{ "id": 4242, "text": "This address is not welcome here.", "type": "error", "context": {} }],
        }]})
        .to_string(),
        delay: Duration::ZERO,
    });
    let (stack, _overlay) = stack_calling(&sink, true).await;
    let kratos = stack.kratos();
    let person = user(&stack, seed("webhook_refuses")).person;

    let refused = registration::browser(&Browser::new().unwrap(), &kratos, &person)
        .await
        .expect_err("the hook refuses");
    assert_eq!(refused.ory_id().as_deref(), Some("4242"), "{refused}");
    assert!(refused.to_string().contains("not welcome"), "{refused}");
    // It was asked, and no identity was made.
    sink.next(Duration::from_secs(5)).await.unwrap();
    let admin = harness::NativeApp::new().unwrap();
    let page = ok(&stack, kratos.identities(&admin, 100, None).await).await;
    assert!(page.items.is_empty(), "{:?}", page.items);
}

#[tokio::test]
async fn a_slow_hook_within_kratos_timeout_delays_the_registration_and_lets_it_pass() {
    let sink = WebhookSink::start().await.unwrap();
    sink.reply_with(Reply {
        delay: Duration::from_secs(2),
        ..Reply::default()
    });
    let (stack, _overlay) = stack_calling(&sink, false).await;
    let person = user(&stack, seed("webhook_slow")).person;

    let started = Instant::now();
    ok(
        &stack,
        registration::browser(&Browser::new().unwrap(), &stack.kratos(), &person).await,
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Kratos waited for the hook: {:?}",
        started.elapsed()
    );
    sink.next(Duration::from_secs(1)).await.unwrap();
}

/// Kratos v1.3.1 gives a web hook 30 s (not configurable) and retries a
/// timed-out call twice, after 1 s and 2 s. A receiver that answers only
/// after 31 s the first time is called again, and its quick second answer
/// completes the registration, about 31 s late, with the identity made
/// once.
#[tokio::test]
async fn a_hook_beyond_kratos_timeout_is_called_again_and_the_retry_completes_the_registration() {
    let sink = WebhookSink::start().await.unwrap();
    sink.reply_next([Reply {
        delay: Duration::from_secs(31),
        ..Reply::default()
    }]);
    let (stack, _overlay) = stack_calling(&sink, false).await;
    let person = user(&stack, seed("webhook_beyond_timeout")).person;
    // A browser that waits longer than the harness's default request time.
    let patient = Browser::with_timeout(Duration::from_secs(55)).unwrap();

    let started = Instant::now();
    ok(
        &stack,
        registration::browser(&patient, &stack.kratos(), &person).await,
    )
    .await;
    let took = started.elapsed();
    println!("a hook 31 s slow the first time: the registration took {took:?}");
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(45),
        "Kratos gave up on the first call at 30 s and retried: {took:?}"
    );
    let first = sink.next(Duration::from_secs(1)).await.unwrap();
    let again = sink.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.body, again.body, "the retry sends the same delivery");
    let admin = harness::NativeApp::new().unwrap();
    let page = ok(&stack, stack.kratos().identities(&admin, 100, None).await).await;
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
}

/// A hook with `response.ignore` runs in the background: a receiver that
/// takes 40 s does not hold the registration, and its delivery still
/// arrives.
#[tokio::test]
async fn a_background_hook_beyond_kratos_timeout_does_not_hold_the_registration() {
    let sink = WebhookSink::start().await.unwrap();
    sink.reply_with(Reply {
        delay: Duration::from_secs(40),
        ..Reply::default()
    });
    let (stack, _overlay) = stack_with_hook(&sink, false, true).await;
    let person = user(&stack, seed("webhook_background")).person;

    let started = Instant::now();
    ok(
        &stack,
        registration::browser(&Browser::new().unwrap(), &stack.kratos(), &person).await,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the registration waited for a background hook: {:?}",
        started.elapsed()
    );
    let delivery = sink.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(delivery.header("x-orygate-key"), Some(KEY));
}

/// A team's config calls hosts off this machine: a blocking web hook, an
/// HTTP courier, the leaked-password lookup (on by default). Confined, as
/// the gate starts it, the hook reaches the stack's recorder and lets the
/// registration through, the verification mail reaches the stack's sink,
/// and the lookup is off.
#[tokio::test]
async fn a_teams_kratos_calls_reach_the_stack_not_their_hosts() {
    init_tracing();
    let hook = FilledOverlay::new(
        &harness::repo_root().join("fixtures/kratos/webhooks"),
        "kratos.yml",
        &[
            ("RECEIVER/", "https://crm.team.example/hooks/"),
            ("PARSE", "true"),
            ("IGNORE", "false"),
        ],
    )
    .unwrap_or_else(|e| panic!("failed to {e}"));
    let courier = std::env::temp_dir().join(format!("orygate-courier-http-{}", std::process::id()));
    std::fs::create_dir_all(&courier).unwrap();
    std::fs::write(
        courier.join("kratos.yml"),
        "courier:\n  delivery_strategy: http\n  http:\n    request_config:\n      url: https://mail.team.example/send\n      method: POST\n      body: base64://ZnVuY3Rpb24oY3R4KSBjdHg=\nselfservice:\n  methods:\n    password:\n      config:\n        haveibeenpwned_enabled: true\n",
    )
    .unwrap();
    let stack = OryStack::builder()
        .with_kratos()
        .overlay(Service::Kratos, hook.path())
        .overlay(Service::Kratos, &courier)
        .confined()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let _ = std::fs::remove_dir_all(&courier);
    let someone = user(&stack, seed("confined_hooks"));

    ok(
        &stack,
        registration::browser(&Browser::new().unwrap(), &stack.kratos(), &someone.person).await,
    )
    .await;

    let hooks = stack.hooks().expect("a confined stack records hooks");
    let delivery = hooks.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (delivery.method.as_str(), delivery.path.as_str()),
        ("POST", "/hooks/registered")
    );
    assert_eq!(delivery.json().unwrap()["email"], someone.person.email);
    let mail = someone.mailbox.next(Duration::from_secs(20)).await;
    assert!(
        mail.is_ok(),
        "no verification mail in the stack's sink: {mail:?}"
    );
    let changed = &stack.confined()[&Service::Kratos];
    for expected in [
        "crm.team.example",
        "mail.team.example",
        "delivery_strategy: http -> smtp",
        "haveibeenpwned_enabled: true -> false",
    ] {
        assert!(
            changed.iter().any(|line| line.contains(expected)),
            "{expected} not in {changed:#?}"
        );
    }
}
