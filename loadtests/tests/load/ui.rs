//! The self-service UI's profiles: browsers that read the app's pages and
//! post its forms, under load.

use super::{alone, init_tracing, options, ran, refused_before_the_load, table};

/// A fresh stack behind the UI, as the binary starts it for a UI profile:
/// sign-ups and logins through the app's pages, each page and redirect a
/// step of its own (the app's pages, Kratos' endpoints, the mail), none
/// failing.
#[tokio::test]
async fn the_ui_profiles_sign_up_and_in_through_the_apps_pages_without_a_failure() {
    if !alone().await {
        return;
    }
    init_tracing();
    let report = loadtests::run(options(&[
        "--mix",
        "ui-login=1,ui-signup=1",
        "--users",
        "2",
        "--duration",
        "3s",
    ]))
    .await
    .unwrap_or_else(|e| panic!("failed to {e}"));
    let table = table(&report);
    for name in [
        // The app's pages.
        "browser GET /login?flow=%",
        "browser GET /registration?flow=%",
        "browser GET /verification?flow=%",
        "browser GET /",
        // Kratos behind them, as the forms post and the links lead.
        "browser POST /self-service/login?flow=%",
        "browser POST /self-service/registration?flow=%",
        "browser POST /self-service/verification?flow=%",
        "browser GET /self-service/logout?token=%",
        "mail WAIT code",
    ] {
        let s = ran(&report, name);
        assert!(s.requests > 0 && s.failures == 0, "{name}:\n{table}");
    }
    assert!(report.passed(), "{table}");
}

/// A deployment given by URL has no UI the run starts: a UI profile is
/// refused before anything is sent, saying so.
#[tokio::test]
async fn a_ui_profile_against_a_deployment_is_refused_before_the_load() {
    refused_before_the_load("ui-login", "self-service UI").await;
}
