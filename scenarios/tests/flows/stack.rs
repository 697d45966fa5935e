//! The stack itself: Hydra and Keto up and answering, and the failures a
//! user must be told about clearly.

use std::time::{Duration, Instant};

use harness::hydra::OAuth2Client;
use harness::keto::Relationship;

use harness::{Error, NativeApp, OryStack, Service, Step, Telemetry, transport::Transport};

use crate::support::{init_tracing, ok};

#[tokio::test]
async fn all_three_start_and_hydra_and_keto_take_admin_calls() {
    init_tracing();
    let stack = OryStack::builder()
        .with_all()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let admin = NativeApp::new().unwrap();
    for (service, telemetry) in stack.telemetry().await {
        assert_eq!(telemetry, Telemetry::Off, "{service}'s usage telemetry");
    }

    // Each service answers its readiness probe, and everything it listens
    // on (all four of Keto's ports) is bound to 127.0.0.1, as the kernel's
    // socket table shows.
    for service in Service::ALL {
        let endpoints = stack.endpoints(service).unwrap();
        let ports = stack.ports(service).unwrap();
        assert_eq!(ports.len(), if service == Service::Keto { 4 } else { 2 });
        for &port in ports {
            let bound = harness::sockets::listeners(port);
            assert!(!bound.is_empty(), "{service}: nothing listens on {port}");
            assert!(
                bound.iter().all(|l| l.addr.is_loopback()),
                "{service} on {port}: {bound:?}"
            );
        }
        let url = endpoints.public.join("health/ready").unwrap();
        let step = Step::get(service.name(), &url);
        let response = admin.send(&step, admin.client().get(url.clone())).await;
        assert_eq!(response.unwrap().status(), 200, "{service} {url}");
    }

    // Hydra: register a confidential client and read it back.
    let hydra = stack.hydra();
    let wanted = OAuth2Client {
        client_name: "orygate-web".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        redirect_uris: vec!["http://127.0.0.1:4455/callback".into()],
        scope: "openid offline_access email".into(),
        token_endpoint_auth_method: "client_secret_basic".into(),
        ..OAuth2Client::default()
    };
    let created = ok(&stack, hydra.create_client(&admin, &wanted).await).await;
    let id = created
        .client_id
        .clone()
        .expect("Hydra assigns a client id");
    assert!(
        created
            .client_secret
            .as_deref()
            .is_some_and(|s| s.len() >= 16)
    );
    let read = ok(&stack, hydra.client(&admin, &id).await).await;
    assert_eq!(read.client_name, "orygate-web");
    assert_eq!(read.redirect_uris, wanted.redirect_uris);
    assert!(
        read.client_secret.is_none(),
        "the secret is shown once only"
    );

    // Keto: a viewer may view the document, a stranger may not, and the
    // owner may view through the `edit` permission rule.
    let keto = stack.keto();
    let viewer = Relationship::new("Document", "roadmap", "viewers", "alice");
    ok(&stack, keto.create(&admin, &viewer).await).await;
    let owner = Relationship::new("Document", "roadmap", "owners", "bob");
    ok(&stack, keto.create(&admin, &owner).await).await;
    let can =
        |subject: &str, permit: &str| Relationship::new("Document", "roadmap", permit, subject);
    assert!(ok(&stack, keto.check(&admin, &can("alice", "view")).await).await);
    assert!(!ok(&stack, keto.check(&admin, &can("alice", "edit")).await).await);
    assert!(ok(&stack, keto.check(&admin, &can("bob", "view")).await).await);
    assert!(!ok(&stack, keto.check(&admin, &can("mallory", "view")).await).await);
    ok(&stack, keto.delete(&admin, &viewer).await).await;
    assert!(!ok(&stack, keto.check(&admin, &can("alice", "view")).await).await);
}

#[tokio::test]
async fn a_broken_kratos_config_fails_fast_with_kratos_own_message() {
    init_tracing();
    let started = Instant::now();
    let err = OryStack::builder()
        .config_dir(
            Service::Kratos,
            harness::repo_root().join("fixtures/broken/kratos-bad-hasher"),
        )
        .start()
        .await
        .expect_err("Kratos must refuse this config");
    let elapsed = started.elapsed();

    let Error::Exited { service, log, .. } = &err else {
        panic!("expected Kratos to exit, got: {err}");
    };
    assert_eq!(*service, Service::Kratos);
    assert!(
        log.contains("hashers.algorithm") || log.contains("md5"),
        "{log}"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(err.to_string().contains("exited"), "{err}");
}

#[tokio::test]
async fn a_missing_image_names_the_command_that_builds_or_pulls_it() {
    let err = OryStack::builder()
        .image_tag(Service::Keto, "v0.0.0-not-built")
        .start()
        .await
        .expect_err("there is no such image");
    let Error::ImageMissing { image, hint } = &err else {
        panic!("expected a missing image, got: {err}");
    };
    assert_eq!(image, "oryd/keto:v0.0.0-not-built");
    assert!(
        hint.contains("docker pull oryd/keto:v0.0.0-not-built"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_missing_config_file_is_reported_before_anything_starts() {
    let err = OryStack::builder()
        .config_dir(
            Service::Hydra,
            harness::repo_root().join("fixtures/does-not-exist"),
        )
        .start()
        .await
        .expect_err("there is no config there");
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert!(err.to_string().contains("hydra.yml"), "{err}");
}

#[tokio::test]
async fn a_panicking_test_still_removes_its_containers() {
    init_tracing();
    let (id_tx, id_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let stack = OryStack::builder()
            .with_keto()
            .start()
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        id_tx.send(stack.id().to_owned()).unwrap();
        // The label lookup sees the running container, so an empty answer
        // after the panic means it was removed.
        let running = harness::stack_containers(stack.id()).await.unwrap();
        assert_eq!(running.len(), 1, "{running:?}");
        panic!("a test fails while its stack runs");
    });
    let panicked = task.await.expect_err("the task panics").into_panic();
    let message = panicked
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panicked.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    // A stack that could not start says why, once, instead of a second
    // panic about a channel.
    let Ok(id) = id_rx.await else {
        panic!("{message}");
    };
    assert_eq!(message, "a test fails while its stack runs");
    let left = harness::stack_containers(&id).await.unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

#[tokio::test]
async fn an_env_override_reaches_the_service() {
    init_tracing();
    let stack = OryStack::builder()
        .env(
            Service::Kratos,
            "SELFSERVICE_FLOWS_REGISTRATION_ENABLED",
            "false",
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let browser = harness::Browser::new().unwrap();

    let refused = scenarios::flows::start_browser(
        &browser,
        &stack.kratos(),
        scenarios::flows::Kind::Registration,
    )
    .await
    .expect_err("registration is switched off");

    assert_eq!(
        refused.ory_id().as_deref(),
        Some("self_service_flow_disabled"),
        "{refused}"
    );
    assert_eq!(refused.status(), Some(400), "{refused}");
}

#[tokio::test]
async fn a_broken_identity_schema_or_yaml_names_its_file_before_anything_starts() {
    for (fixture, file, says) in [
        (
            "kratos-bad-schema",
            "identity.schema.json",
            "not valid JSON",
        ),
        ("kratos-bad-yaml", "kratos.yml", "not valid YAML"),
    ] {
        let dir = harness::repo_root().join("fixtures/broken").join(fixture);
        let started = Instant::now();
        let err = OryStack::builder()
            .config_dir(Service::Kratos, &dir)
            .start()
            .await
            .expect_err("the config is broken");
        let Error::Config { path, .. } = &err else {
            panic!("expected a config error, got: {err}");
        };
        assert!(path.ends_with(file), "{err}");
        assert!(err.to_string().contains(says), "{err}");
        assert!(err.to_string().contains("line "), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
