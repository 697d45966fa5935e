//! Keto: the permission model in `ory/keto/` against the table in
//! `ory/keto/`, the relationship API, and a document shared through
//! Keto with a person who signed in through Kratos.

use std::time::{Duration, Instant};

use harness::keto::{Action, Filter, Patch, Relationship, Subject, SubjectSet};
use harness::{
    Error, Expect, NativeApp, OryStack, Service, Step, keto::Keto, transport::Transport,
};
use reqwest::Method;
use scenarios::permissions::{self, Row};

use crate::support::{init_tracing, ok, seed, signed_in};

/// A stack with Keto alone, from the committed model or an overlay.
async fn keto_stack(overlay: Option<&std::path::Path>) -> OryStack {
    init_tracing();
    let mut builder = OryStack::builder().with_keto();
    if let Some(dir) = overlay {
        builder = builder.overlay(Service::Keto, dir);
    }
    builder
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

/// Writes the committed relationships.
async fn seeded(stack: &OryStack, admin: &NativeApp) -> Vec<Relationship> {
    let tuples = permissions::fixture_tuples().unwrap();
    ok(stack, stack.keto().insert_all(admin, &tuples).await).await;
    tuples
}

/// The rows of the committed table Keto answers otherwise, as the table
/// check prints them, with the committed relationships written first.
async fn table_disagreements(stack: &OryStack) -> (Vec<String>, usize) {
    let admin = NativeApp::new().unwrap();
    seeded(stack, &admin).await;
    let table = permissions::fixture_table().unwrap();
    let wrong = ok(
        stack,
        permissions::disagreements(&admin, &stack.keto(), &table).await,
    )
    .await;
    (wrong.iter().map(ToString::to_string).collect(), table.len())
}

fn rel(text: &str) -> Relationship {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_model_grants_and_denies_what_the_permission_table_says() {
    let stack = keto_stack(None).await;
    let (listed, rows) = table_disagreements(&stack).await;
    assert!(
        listed.is_empty(),
        "{} of {rows} rows of ory/keto/permissions.txt disagree with the model:\n{}",
        listed.len(),
        listed.join("\n")
    );
}

/// The gate can fail: the model with the `muted` clause taken out of
/// `comment` (a plausible edit) flips exactly the row of the muted reader,
/// and the table check names it.
#[tokio::test]
async fn a_model_change_that_flips_a_row_is_named_by_the_table() {
    let model =
        std::fs::read_to_string(harness::repo_root().join("ory/keto/namespaces.keto.ts")).unwrap();
    let clause = " && !this.related.muted.includes(ctx.subject)";
    assert!(model.contains(clause), "the model no longer has {clause:?}");
    let overlay = std::env::temp_dir().join(format!("orygate-keto-unmuted-{}", std::process::id()));
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(
        overlay.join("namespaces.keto.ts"),
        model.replace(clause, ""),
    )
    .unwrap();
    let name = overlay.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(
        overlay.join("keto.yml"),
        format!(
            "namespaces:\n  location: file:///etc/config/keto/overlays/{name}/namespaces.keto.ts\n"
        ),
    )
    .unwrap();

    let stack = keto_stack(Some(&overlay)).await;
    std::fs::remove_dir_all(&overlay).ok();
    let (listed, _) = table_disagreements(&stack).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert!(
        listed[0].ends_with("bob comment Document:roadmap: expected deny, Keto says allow"),
        "{}",
        listed[0]
    );
}

#[tokio::test]
async fn relationships_are_written_deleted_and_patched() {
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    let viewer = rel("Document:plan#viewers@alice");
    let view = viewer.with_relation("view");
    assert!(!ok(&stack, keto.check(&admin, &view).await).await);
    ok(&stack, keto.create(&admin, &viewer).await).await;
    assert!(ok(&stack, keto.check(&admin, &view).await).await);
    ok(&stack, keto.delete(&admin, &viewer).await).await;
    assert!(
        !ok(&stack, keto.check(&admin, &view).await).await,
        "a check after the delete must be denied"
    );

    // One patch inserts two and deletes one, all at once.
    ok(&stack, keto.create(&admin, &viewer).await).await;
    let changes = [
        Patch {
            action: Action::Insert,
            relation_tuple: rel("Document:plan#editors@bob"),
        },
        Patch {
            action: Action::Insert,
            relation_tuple: rel("Document:plan#owners@carol"),
        },
        Patch {
            action: Action::Delete,
            relation_tuple: viewer.clone(),
        },
    ];
    ok(&stack, keto.patch(&admin, &changes).await).await;
    for (who, permit, allowed) in [
        ("alice", "view", false),
        ("bob", "edit", true),
        ("carol", "delete", true),
        ("bob", "delete", false),
    ] {
        let check = Relationship::new("Document", "plan", permit, who);
        assert_eq!(
            ok(&stack, keto.check(&admin, &check).await).await,
            allowed,
            "{check}"
        );
    }

    // A patch with one bad change writes nothing.
    let bad = [
        Patch {
            action: Action::Insert,
            relation_tuple: rel("Document:plan#viewers@dave"),
        },
        Patch {
            action: Action::Insert,
            relation_tuple: rel("Nowhere:x#y@dave"),
        },
    ];
    let e = keto.patch(&admin, &bad).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let dave = Relationship::new("Document", "plan", "view", "dave");
    assert!(!ok(&stack, keto.check(&admin, &dave).await).await);

    // Deleting by filter removes every match and nothing else.
    let other = rel("Document:other#viewers@erin");
    ok(&stack, keto.create(&admin, &other).await).await;
    ok(
        &stack,
        keto.delete_all(&admin, &Filter::namespace("Document").object("plan"))
            .await,
    )
    .await;
    let (left, _) = ok(
        &stack,
        keto.list_all(&admin, &Filter::namespace("Document"), 100)
            .await,
    )
    .await;
    assert_eq!(left, [other], "only Document:plan's relationships go");
}

/// The plain check answers in its status (200 allowed, 403 denied), the
/// other always 200 with `allowed`; both agree on every row of the table.
#[tokio::test]
async fn both_checks_agree_on_every_row() {
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    seeded(&stack, &admin).await;
    for row in permissions::fixture_table().unwrap() {
        let by_status = ok(&stack, keto.check_status(&admin, &row.check()).await).await;
        let by_body = ok(&stack, keto.check(&admin, &row.check()).await).await;
        assert_eq!((by_status, by_body), (row.allowed, row.allowed), "{row}");
    }
}

#[tokio::test]
async fn relationships_list_by_filter_page_by_page() {
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    let tuples = seeded(&stack, &admin).await;
    let groups: Vec<&Relationship> = tuples.iter().filter(|t| t.namespace == "Group").collect();

    let (listed, pages) = ok(
        &stack,
        keto.list_all(&admin, &Filter::namespace("Group"), 2).await,
    )
    .await;
    assert_eq!(pages, groups.len().div_ceil(2), "pages of 2");
    let mut listed_text: Vec<String> = listed.iter().map(ToString::to_string).collect();
    let mut wanted: Vec<String> = groups.iter().map(ToString::to_string).collect();
    listed_text.sort();
    wanted.sort();
    assert_eq!(listed_text, wanted);

    // By subject set, and by relation and subject id.
    let everyone = Filter::namespace("Group")
        .object("everyone")
        .subject(Subject::Set(SubjectSet {
            namespace: "Group".into(),
            object: "sales".into(),
            relation: "members".into(),
        }));
    let (found, _) = ok(&stack, keto.list_all(&admin, &everyone, 10).await).await;
    assert_eq!(found, [rel("Group:everyone#members@Group:sales#members")]);
    let muted = Filter::namespace("Document")
        .relation("muted")
        .subject(Subject::Id("bob".into()));
    let (found, _) = ok(&stack, keto.list_all(&admin, &muted, 10).await).await;
    assert_eq!(found, [rel("Document:roadmap#muted@bob")]);
    let (none, _) = ok(
        &stack,
        keto.list_all(&admin, &Filter::namespace("Folder").object("nowhere"), 10)
            .await,
    )
    .await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_group_expands_to_its_people_as_deep_as_asked() {
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    seeded(&stack, &admin).await;
    let everyone = SubjectSet {
        namespace: "Group".into(),
        object: "everyone".into(),
        relation: "members".into(),
    };
    let tree = ok(&stack, keto.expand(&admin, &everyone, 10).await)
        .await
        .expect("everyone has members");
    let mut people = tree.subject_ids();
    people.sort_unstable();
    assert_eq!(people, ["alice", "bob", "carol"], "{tree:#?}");
    // everyone > engineering > platform > alice: four levels.
    assert_eq!(tree.depth(), 4, "{tree:#?}");

    // Two levels stop at the teams: nobody by name yet.
    let shallow = ok(&stack, keto.expand(&admin, &everyone, 2).await)
        .await
        .unwrap();
    assert!(shallow.subject_ids().is_empty(), "{shallow:#?}");
    assert!(shallow.depth() <= 2, "{shallow:#?}");

    let nobody = SubjectSet {
        object: "nobody".into(),
        ..everyone
    };
    assert!(
        ok(&stack, keto.expand(&admin, &nobody, 10).await)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_syntax_check_passes_the_model_and_points_at_a_broken_line() {
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    let model =
        std::fs::read_to_string(harness::repo_root().join("ory/keto/namespaces.keto.ts")).unwrap();
    let errors = ok(&stack, keto.syntax_check(&admin, &model).await).await;
    assert!(errors.is_empty(), "{errors:?}");

    // A typo in a relation's name, reported on its line. (This version's
    // parser lets a dangling `||` through: only names and structure are
    // checked.)
    let broken = model.replacen(
        "this.related.owners.includes(ctx.subject) ||",
        "this.related.owner.includes(ctx.subject) ||",
        1,
    );
    let line = broken
        .lines()
        .position(|l| l.contains("related.owner."))
        .map(|n| u32::try_from(n + 1).unwrap())
        .unwrap();
    let errors = ok(&stack, keto.syntax_check(&admin, &broken).await).await;
    assert!(!errors.is_empty(), "the broken model passed");
    assert!(
        errors
            .iter()
            .any(|e| e.start.line == line && e.message.contains("\"owner\"")),
        "no error on line {line}: {}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// Sends `body` as JSON with `method` to `url` and returns the error the
/// harness reports, which must be Keto's status and reason.
async fn refused(
    admin: &NativeApp,
    method: Method,
    url: url::Url,
    body: Option<serde_json::Value>,
) -> Error {
    let step = Step::new("keto", method.clone(), &url, Expect::Success);
    let mut request = admin.client().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    admin.send(&step, request).await.unwrap_err()
}

#[tokio::test]
async fn malformed_requests_get_keto_s_reason() {
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();

    let unknown = refused(
        &admin,
        Method::PUT,
        keto.write("admin/relation-tuples"),
        Some(
            serde_json::json!({"namespace":"Nowhere","object":"x","relation":"r","subject_id":"a"}),
        ),
    )
    .await;
    assert_eq!(unknown.status(), Some(404), "{unknown}");
    assert!(
        unknown
            .to_string()
            .contains("Unknown namespace with name \"Nowhere\""),
        "{unknown}"
    );

    let no_subject = refused(
        &admin,
        Method::PUT,
        keto.write("admin/relation-tuples"),
        Some(serde_json::json!({"namespace":"Document","object":"x","relation":"viewers"})),
    )
    .await;
    assert_eq!(no_subject.status(), Some(400), "{no_subject}");
    assert!(
        no_subject
            .to_string()
            .contains("subject is not allowed to be nil"),
        "{no_subject}"
    );

    let bad_relation = keto
        .check(
            &admin,
            &Relationship::new("Document", "x", "bogus", "alice"),
        )
        .await
        .unwrap_err();
    assert_eq!(bad_relation.status(), Some(400), "{bad_relation}");
    assert!(
        bad_relation
            .to_string()
            .contains("relation \"bogus\" does not exist"),
        "{bad_relation}"
    );

    let mut incomplete = keto.read("relation-tuples/check");
    incomplete
        .query_pairs_mut()
        .append_pair("object", "x")
        .append_pair("relation", "view")
        .append_pair("subject_id", "alice");
    let incomplete = refused(&admin, Method::GET, incomplete, None).await;
    assert_eq!(incomplete.status(), Some(400), "{incomplete}");
    assert!(
        incomplete.to_string().contains("incomplete tuple"),
        "{incomplete}"
    );

    // Not an error in this version: a check in a namespace the model does
    // not have is simply denied (a typo in a namespace denies silently).
    assert!(
        !ok(
            &stack,
            keto.check(&admin, &Relationship::new("Nowhere", "x", "view", "alice"))
                .await
        )
        .await
    );
}

/// Checks `rounds` times and returns the median time.
async fn timed_check(
    stack: &OryStack,
    keto: &Keto,
    admin: &NativeApp,
    check: &Relationship,
    max_depth: Option<u32>,
    rounds: usize,
) -> (bool, Duration) {
    let mut times = Vec::with_capacity(rounds);
    let mut answer = None;
    for _ in 0..rounds {
        let started = Instant::now();
        let allowed = ok(stack, keto.check_as(admin, check, max_depth, None).await).await;
        times.push(started.elapsed());
        assert!(
            answer.is_none_or(|a| a == allowed),
            "{check}: the answer changed"
        );
        answer = Some(allowed);
    }
    times.sort_unstable();
    (answer.unwrap_or(false), times[times.len() / 2])
}

/// Ten folders deep and a thousand members wide: the checks answer
/// correctly and within a bounded time (printed), and a depth limit set
/// below what the model needs denies, silently, what it would allow.
#[tokio::test]
async fn deep_and_wide_trees_answer_within_bounds() {
    const BOUND: Duration = Duration::from_secs(2);
    // A deep check takes about 180 ms of Keto's CPU here: five make a
    // median.
    const ROUNDS: usize = 5;
    let stack = keto_stack(None).await;
    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();

    let mut tuples = vec![
        rel("Folder:level-0#viewers@Group:readers#members"),
        rel("Group:readers#members@reader"),
    ];
    for level in 1..10 {
        tuples.push(rel(&format!(
            "Folder:level-{level}#parents@Folder:level-{}",
            level - 1
        )));
    }
    tuples.push(rel("Document:deep#parents@Folder:level-9"));
    for n in 0..1000 {
        tuples.push(rel(&format!("Group:crowd#members@person-{n}")));
    }
    tuples.push(rel("Document:wide#viewers@Group:crowd#members"));
    ok(&stack, keto.insert_all(&admin, &tuples).await).await;

    let deep = Relationship::new("Document", "deep", "view", "reader");
    let (allowed, median) = timed_check(&stack, &keto, &admin, &deep, None, ROUNDS).await;
    println!("10 folders deep, through a group: allowed={allowed}, median {median:?}");
    assert!(allowed, "{deep} within limit.max_read_depth");
    assert!(median < BOUND, "{median:?}");

    let stranger = Relationship::new("Document", "deep", "view", "stranger");
    let (allowed, median) = timed_check(&stack, &keto, &admin, &stranger, None, ROUNDS).await;
    println!("10 folders deep, denied after the whole search: median {median:?}");
    assert!(!allowed);
    assert!(median < BOUND, "{median:?}");

    let last = Relationship::new("Document", "wide", "view", "person-999");
    let (allowed, median) = timed_check(&stack, &keto, &admin, &last, None, ROUNDS).await;
    println!("one of 1000 members: allowed={allowed}, median {median:?}");
    assert!(allowed);
    assert!(median < BOUND, "{median:?}");

    let (allowed, _) = timed_check(&stack, &keto, &admin, &deep, Some(3), 1).await;
    assert!(
        !allowed,
        "a max-depth of 3 cannot reach ten folders up, and Keto denies rather than fails"
    );
}

/// The protected resource end to end: a person signs up and in through
/// Kratos; Keto shares a document with their team; the check for the
/// identity id whoami gives is allowed, and denied once they leave the
/// team.
#[tokio::test]
async fn a_person_from_kratos_reads_a_document_shared_with_their_team() {
    init_tracing();
    let stack = OryStack::builder()
        .with_kratos()
        .with_keto()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let (_, browser) = signed_in(&stack, seed("keto end to end")).await;
    let session = ok(&stack, stack.kratos().whoami(&browser, None).await).await;
    let me = session.identity.expect("whoami names the identity").id;

    let keto = stack.keto();
    let admin = NativeApp::new().unwrap();
    let membership = Relationship::new("Group", "finance", "members", &me);
    ok(
        &stack,
        keto.insert_all(
            &admin,
            &[
                membership.clone(),
                rel("Document:budget#viewers@Group:finance#members"),
            ],
        )
        .await,
    )
    .await;
    let read = Relationship::new("Document", "budget", "view", &me);
    assert!(ok(&stack, keto.check(&admin, &read).await).await);
    assert!(
        !ok(
            &stack,
            keto.check(&admin, &read.with_relation("edit")).await
        )
        .await,
        "a viewer may not edit"
    );

    ok(&stack, keto.delete(&admin, &membership).await).await;
    assert!(
        !ok(&stack, keto.check(&admin, &read).await).await,
        "left the team, still reads the budget"
    );
    // The rows a table would hold for them read the same.
    let row = Row {
        line: 0,
        subject: Subject::Id(me),
        permission: "view".into(),
        namespace: "Document".into(),
        object: "budget".into(),
        allowed: false,
    };
    let wrong = ok(
        &stack,
        permissions::disagreements(&admin, &keto, &[row]).await,
    )
    .await;
    assert!(wrong.is_empty(), "{wrong:?}");
}
