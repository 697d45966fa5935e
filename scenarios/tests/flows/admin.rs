//! Kratos' admin API: identities and sessions, each change seen by the
//! self-service side.

use harness::{Browser, NativeApp};
use scenarios::flows::login;
use scenarios::journey;
use serde_json::json;

use crate::support::{kratos_stack, ok, own_kratos_stack, seed, user};

#[tokio::test]
async fn identities_are_created_listed_by_page_patched_and_deleted() {
    // It counts every identity: a Kratos of its own.
    let stack = own_kratos_stack().await;
    let kratos = stack.kratos();
    let admin = NativeApp::new().unwrap();
    let mut created = Vec::new();
    for n in 0..5 {
        let person = user(&stack, seed("admin_identities") + n).person;
        let identity = ok(
            &stack,
            kratos
                .create_identity(&admin, &person.traits(), &person.password, &[&person.email])
                .await,
        )
        .await;
        created.push(identity.id);
    }

    // Pages of two, followed to the end, hold every identity once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = ok(&stack, kratos.identities(&admin, 2, token.as_deref()).await).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|i| i.id));
        pages += 1;
        match page.next {
            Some(next) if pages < 10 => token = Some(next),
            _ => break,
        }
    }
    assert_eq!(pages, 3, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        seen.len(),
        "an identity listed twice: {seen:?}"
    );
    assert!(created.iter().all(|id| seen.contains(id)));

    let id = &created[0];
    let patched = ok(
        &stack,
        kratos
            .patch_identity(
                &admin,
                id,
                &json!([{ "op": "replace", "path": "/traits/name/first", "value": "Patched" }]),
            )
            .await,
    )
    .await;
    assert_eq!(patched.traits["name"]["first"], "Patched");
    let read = ok(&stack, kratos.identity(&admin, id).await).await;
    assert_eq!(read.traits["name"]["first"], "Patched");

    ok(&stack, kratos.delete_identity(&admin, id).await).await;
    let gone = kratos.identity(&admin, id).await.expect_err("deleted");
    assert_eq!(gone.status(), Some(404), "{gone}");
}

#[tokio::test]
async fn an_identity_imported_with_a_bcrypt_or_argon2_hash_logs_in() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let admin = NativeApp::new().unwrap();
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(harness::repo_root().join("fixtures/users/imported.json"))
            .unwrap(),
    )
    .unwrap();
    let password = fixture["password"].as_str().unwrap();
    for (n, algorithm) in ["bcrypt", "argon2id"].iter().enumerate() {
        let person = user(stack, seed("imported") + n as u64).person;
        let hash = fixture["hashes"][algorithm].as_str().unwrap();
        ok(
            stack,
            kratos
                .import_identity(&admin, &person.traits(), hash, &[&person.email])
                .await,
        )
        .await;
        let browser = Browser::new().unwrap();
        ok(
            stack,
            login::browser(&browser, &kratos, &person.email, password).await,
        )
        .await;
        let session = ok(stack, kratos.whoami(&browser, None).await).await;
        assert_eq!(
            session.identity.unwrap().traits["email"],
            person.email,
            "{algorithm}"
        );
        let wrong = login::browser(
            &Browser::new().unwrap(),
            &kratos,
            &person.email,
            "x-wrong-0123",
        )
        .await
        .expect_err("a wrong password for an imported hash");
        assert_eq!(wrong.ory_id().as_deref(), Some("4000006"), "{algorithm}");
    }
}

#[tokio::test]
async fn sessions_are_listed_revoked_one_by_one_extended_and_end_with_their_identity() {
    let stack = kratos_stack().await;
    let kratos = stack.kratos();
    let admin = NativeApp::new().unwrap();
    let user = user(stack, seed("admin_sessions"));
    let (laptop, phone, app) = (
        Browser::new().unwrap(),
        Browser::new().unwrap(),
        NativeApp::new().unwrap(),
    );
    ok(
        stack,
        journey::browser_register_verified(&laptop, &user, &kratos).await,
    )
    .await;
    let (email, password) = (&user.person.email, &user.person.password);
    ok(
        stack,
        login::browser(&laptop, &kratos, email, password).await,
    )
    .await;
    ok(
        stack,
        login::browser(&phone, &kratos, email, password).await,
    )
    .await;
    let native = ok(stack, login::api(&app, &kratos, email, password).await).await;
    let token = Some(native.session_token.as_str());
    let identity = ok(stack, kratos.whoami(&laptop, None).await)
        .await
        .identity
        .unwrap()
        .id;

    // The admin API lists every session the identity has, these three
    // among them.
    let laptop_session = ok(stack, kratos.whoami(&laptop, None).await).await;
    let phone_session = ok(stack, kratos.whoami(&phone, None).await).await.id;
    let listed: Vec<String> = ok(stack, kratos.identity_sessions(&admin, &identity).await)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    for own in [&laptop_session.id, &phone_session, &native.session.id] {
        assert!(listed.contains(own), "{own} not in {listed:?}");
    }

    // Revoking the phone's session ends it there only.
    ok(stack, kratos.revoke_session(&admin, &phone_session).await).await;
    ok(stack, kratos.whoami_refused(&phone, None).await).await;
    ok(stack, kratos.whoami(&laptop, None).await).await;
    ok(stack, kratos.whoami(&app, token).await).await;

    let active: Vec<String> = ok(stack, kratos.identity_sessions(&admin, &identity).await)
        .await
        .into_iter()
        .filter(|s| s.active == Some(true))
        .map(|s| s.id)
        .collect();
    assert!(!active.contains(&phone_session), "{active:?}");
    assert!(active.contains(&laptop_session.id), "{active:?}");

    // Extending answers with the session; with earliest_possible_extend at
    // 1h of a 24h lifespan, a fresh session keeps its expiry.
    let extended = ok(
        stack,
        kratos.extend_session(&admin, &laptop_session.id).await,
    )
    .await;
    assert_eq!(extended.id, laptop_session.id);
    assert_eq!(extended.expires_at, laptop_session.expires_at);

    // Deleting the identity ends every session it had.
    ok(stack, kratos.delete_identity(&admin, &identity).await).await;
    ok(stack, kratos.whoami_refused(&laptop, None).await).await;
    ok(stack, kratos.whoami_refused(&app, token).await).await;
}

#[tokio::test]
async fn an_admin_extends_a_session_that_may_be_extended() {
    let stack = harness::OryStack::builder()
        .with_kratos()
        .overlay(
            harness::Service::Kratos,
            harness::repo_root().join("fixtures/kratos/extendable-sessions"),
        )
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let kratos = stack.kratos();
    let admin = NativeApp::new().unwrap();
    let person = user(&stack, seed("extend_session")).person;
    ok(
        &stack,
        kratos
            .create_identity(&admin, &person.traits(), &person.password, &[&person.email])
            .await,
    )
    .await;
    let browser = Browser::new().unwrap();
    ok(
        &stack,
        login::browser(&browser, &kratos, &person.email, &person.password).await,
    )
    .await;
    let before = ok(&stack, kratos.whoami(&browser, None).await).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let extended = ok(&stack, kratos.extend_session(&admin, &before.id).await).await;

    // Timestamps in one format: later is greater.
    assert!(
        extended.expires_at > before.expires_at,
        "{:?} is not after {:?}",
        extended.expires_at,
        before.expires_at
    );
    let after = ok(&stack, kratos.whoami(&browser, None).await).await;
    assert_eq!(after.expires_at, extended.expires_at);
}
