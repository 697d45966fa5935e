//! Form snapshots: the config-drift gate. Each flow's first form and its
//! main error states, as `scenarios::forms::shape` draws them, against the
//! snapshots in `snapshots/`. A change to kratos.yml or the identity schema
//! that changes a form fails here until the snapshot is reviewed
//! (`cargo insta review`); CI never writes snapshots.

use harness::{Browser, Error, OryStack, Service};
use scenarios::flows::{self, Kind, login, registration};
use scenarios::forms::shape;
use scenarios::journey;

use crate::support::{init_tracing, kratos_stack, ok, seed, user};

/// The flow a rejected submission left, with its error messages.
async fn rejected(
    stack: &OryStack,
    t: &Browser,
    kind: Kind,
    error: Error,
) -> harness::kratos::Flow {
    let Error::Flow { flow_id, .. } = &error else {
        panic!("expected a rejected flow: {error}");
    };
    ok(
        stack,
        flows::fetch_flow(t, &stack.kratos(), kind, flow_id).await,
    )
    .await
}

#[tokio::test]
async fn every_first_form_and_its_main_errors_keep_their_shape() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let browser = Browser::new().unwrap();
    for (name, kind) in [
        ("registration", Kind::Registration),
        ("login", Kind::Login),
        ("recovery", Kind::Recovery),
        ("verification", Kind::Verification),
    ] {
        let flow = ok(stack, flows::start_browser(&browser, &kratos, kind).await).await;
        insta::assert_snapshot!(name, shape(&flow));
    }

    let user = user(stack, seed("form_shapes"));
    let (email, password) = (&user.person.email, &user.person.password);
    ok(
        stack,
        journey::browser_register_verified(&browser, &user, &kratos).await,
    )
    .await;

    // Each rejected form is read back by the browser that posted it (the
    // flow is bound to its CSRF cookie).
    let other = Browser::new().unwrap();
    let taken = registration::browser(&other, &kratos, &user.person)
        .await
        .expect_err("the address is taken");
    insta::assert_snapshot!(
        "registration_taken_address",
        shape(&rejected(stack, &other, Kind::Registration, taken).await)
    );
    let wrong = login::browser(&other, &kratos, email, "not-the-password-1")
        .await
        .expect_err("a wrong password");
    insta::assert_snapshot!(
        "login_wrong_password",
        shape(&rejected(stack, &other, Kind::Login, wrong).await)
    );

    ok(
        stack,
        login::browser(&browser, &kratos, email, password).await,
    )
    .await;
    let settings = ok(
        stack,
        flows::start_browser(&browser, &kratos, Kind::Settings).await,
    )
    .await;
    insta::assert_snapshot!("settings", shape(&settings));
}

#[tokio::test]
async fn one_more_trait_in_the_schema_changes_the_registration_snapshot() {
    init_tracing();
    let stack = OryStack::builder()
        .with_kratos()
        .overlay(
            Service::Kratos,
            harness::repo_root().join("fixtures/kratos/extra-trait"),
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let flow = ok(
        &stack,
        flows::start_browser(
            &Browser::new().unwrap(),
            &stack.kratos(),
            Kind::Registration,
        )
        .await,
    )
    .await;
    let drifted = shape(&flow);

    // The committed snapshot, read as a file: this test writes nothing.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/flows/snapshots/flows__forms__registration.snap");
    let committed =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let committed = committed.splitn(3, "---").nth(2).unwrap_or_default().trim();

    assert_ne!(committed, drifted.trim(), "the new trait must show");
    let added: Vec<&str> = drifted
        .lines()
        .filter(|l| !committed.lines().any(|c| c == *l))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].contains("traits.phone"), "{added:?}");
}
