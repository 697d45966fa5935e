//! A schema change rolled out on existing data ([`OryStack::replace`]),
//! the migration gate's verdict on it, and its fix plan applied through
//! Kratos' admin API: Kratos accepts every patch (it validates each
//! against the schema) and no identity is invalid after.

use harness::{NativeApp, OryStack, Replacement, Service};
use scenarios::checks::Configs;
use scenarios::migration::{self, schemas};
use serde_json::json;

use crate::support::init_tracing;

#[tokio::test]
async fn the_fix_plan_for_a_renamed_trait_is_accepted_by_kratos_and_leaves_nothing_invalid() {
    init_tracing();
    let root = harness::repo_root();
    let overlay = root.join("fixtures/migration/renamed-identifier/kratos");
    let old = Configs::read(&[root.join("ory/kratos/kratos.yml")]).expect("ory/'s config");
    let new = Configs::read(&[
        root.join("ory/kratos/kratos.yml"),
        overlay.join("kratos.yml"),
    ])
    .expect("the changed config");
    let mut stack = OryStack::builder()
        .with_kratos()
        .postgres()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let kratos = stack.kratos();
    let mail = stack.mailboxes();
    let population = migration::populate(&kratos, Some(&old), mail.as_ref(), 6)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(population.len(), 9);
    let app = NativeApp::new().unwrap();
    let emails: std::collections::HashMap<String, serde_json::Value> = kratos
        .identities(&app, 500, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| (i.id, i.traits["email"].clone()))
        .collect();
    assert_eq!(emails.len(), 9);
    let replaced = stack
        .replace(
            Service::Kratos,
            Replacement {
                overlays: Some(vec![overlay]),
                ..Replacement::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    assert!(!replaced.migration.is_zero(), "{replaced:?}");
    let verdict = migration::after(&kratos, Some(&new), mail.as_ref(), &population).await;
    assert_eq!(verdict.invalid.len(), 9, "{verdict:#?}");
    assert_eq!(verdict.fixes.len(), 9, "{verdict:#?}");
    for fix in &verdict.fixes {
        assert!(fix.todo.is_empty(), "{fix:?}");
        kratos
            .patch_identity(&app, &fix.identity, &json!(fix.patch))
            .await
            .unwrap_or_else(|e| {
                panic!("Kratos refused the plan's patch for {}: {e}", fix.identity)
            });
    }
    let page = kratos.identities(&app, 500, None).await.unwrap();
    // The nine, and the new registration, which had `mail` already.
    assert_eq!(page.items.len(), 10);
    let served = schemas::served(&app, &kratos).await.unwrap();
    assert_eq!(schemas::validate(&page.items, &served), []);
    let mut moved = 0;
    for identity in &page.items {
        assert!(
            identity.traits.get("email").is_none(),
            "{:?}",
            identity.traits
        );
        // Each old person's address, moved under the new name.
        if let Some(old) = emails.get(&identity.id) {
            assert!(old.is_string(), "{old}");
            assert_eq!(&identity.traits["mail"], old, "{}", identity.id);
            moved += 1;
        }
    }
    assert_eq!(moved, 9);
}

/// The upgrade gate's OAuth2 rows on a real Hydra: they pass on a grant
/// Hydra still holds, and fail once the subject's consents (and the
/// tokens they granted) are revoked, as an upgrade that lost them would.
#[tokio::test]
async fn the_upgrade_rows_of_a_grant_pass_while_hydra_holds_it_and_fail_once_revoked() {
    use scenarios::derived::FlowOutcome;
    use scenarios::migration::upgrade;
    let mut stack = crate::oauth2::hydra_stack(&[]).await;
    // A stack in memory has nothing a replacement would keep: refused.
    let e = stack
        .replace(Service::Hydra, Replacement::default())
        .await
        .expect_err("an in-memory stack was replaced");
    assert!(e.to_string().contains("in memory"), "{e}");
    let hydra = stack.hydra();
    let admin = NativeApp::new().unwrap();
    let web = scenarios::clients::register_fixture(&admin, &hydra, "web-basic")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let clients = [web];
    let outcomes = |rows: Vec<scenarios::derived::FlowResult>| -> Vec<bool> {
        rows.iter()
            .map(|r| matches!(r.outcome, FlowOutcome::Passed))
            .collect()
    };
    let kept = upgrade::grant(&hydra, &clients, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("web-basic does the code flow");
    assert_eq!(
        outcomes(upgrade::grant_after(&hydra, Some(&kept)).await),
        [true, true]
    );
    let lost = upgrade::grant(&hydra, &clients, None, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("web-basic does the code flow");
    hydra
        .revoke_consent(&admin, upgrade::HARNESS_SUBJECT, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = upgrade::grant_after(&hydra, Some(&lost)).await;
    assert_eq!(outcomes(rows.clone()), [false, false], "{rows:#?}");
}
