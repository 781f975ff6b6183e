//! Account commands record their domain events (and the audit entries
//! derived from them) in the same transaction; refused commands, sign-in,
//! refresh and registration record none; a corrupted stored role is a 500.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api_test;
use crate::helpers::accounts::admin;
use crate::helpers::events::{all_events, new_events, none_since, only_event};
use crate::helpers::http::call;
use crate::helpers::{PASSWORD, problem};

api_test!(
    signing_up_is_in_the_stream_only_and_signing_in_records_nothing,
    |backend| {
        let app = crate::helpers::spawn_app(backend).await.unwrap();
        let amina = app.signup("amina@example.org").await;
        let mut seen = 0;
        let fresh = new_events(&app, &mut seen).await;
        let got: Vec<(&str, &str, &str, Option<&str>)> = fresh
            .iter()
            .map(|e| {
                (
                    e.event_type.as_str(),
                    e.subject_kind.as_str(),
                    e.subject_id.as_str(),
                    e.actor_id.as_deref(),
                )
            })
            .collect();
        let me = amina.id.as_str();
        assert_eq!(
            got,
            vec![
                ("user.registered", "user", me, Some(me)),
                ("user.email_verified", "user", me, Some(me)),
            ],
            "register and verify (sign-in records nothing)"
        );
        for e in &fresh {
            let stored: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            assert_eq!(stored, json!({}), "{}", e.event_type);
        }
        // Neither is an audit entry: the audit log is for decisions.
        let admin = admin(&app, "root@example.org").await;
        let _ = new_events(&app, &mut seen).await;
        let res = app
            .get_auth(
                &format!("/api/v1/audit-events?subject_id={me}"),
                &admin.access,
            )
            .await;
        assert_eq!(res.status(), 200);
        let audit: serde_json::Value = res.json().await.unwrap();
        assert_eq!(audit["items"], json!([]), "{audit}");
        let res = app.login(&amina.email, "not the password at all").await;
        assert_eq!(res.status(), 401);
        let res = app
            .post_json(
                "/api/v1/auth/refresh",
                json!({"refresh_token": amina.refresh}),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        let res = app
            .post_json(
                "/api/v1/auth/password-reset",
                json!({"email": "nobody@example.org"}),
                None,
            )
            .await;
        assert_eq!(res.status(), 202);
        none_since(
            &app,
            &mut seen,
            "a failed sign-in, a refresh, a reset request",
        )
        .await;
    }
);

api_test!(profile_and_preference_changes_are_events, |backend| {
    let app = crate::helpers::spawn_app(backend).await.unwrap();
    let amina = app.signup("amina@example.org").await;
    let me = Some(amina.id.as_str());
    let subject = ("user", amina.id.as_str());
    let mut seen = all_events(&app).await.len();

    let patch = json!({"display_name": "Amina W.", "country": "KE"});
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&amina.access),
        Some(patch.clone()),
    )
    .await;
    assert_eq!(res.status(), 200);
    let changed = json!({"changed": ["display_name", "country"]});
    only_event(
        &app,
        &mut seen,
        "user.profile_updated",
        subject,
        me,
        changed,
        &[],
    )
    .await;
    // The same values again change nothing.
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&amina.access),
        Some(patch),
    )
    .await;
    assert_eq!(res.status(), 200);
    none_since(&app, &mut seen, "an unchanged profile").await;
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&amina.access),
        Some(json!({"country": "Kenya"})),
    )
    .await;
    problem(res, 400).await;
    none_since(&app, &mut seen, "a refused profile change").await;

    let path = "/api/v1/me/notification-preferences";
    let off = json!({"items": [{"kind": "membership_added", "email": false}]});
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&amina.access),
        Some(off.clone()),
    )
    .await;
    assert_eq!(res.status(), 200);
    let payload = json!({"email_on": [], "email_off": ["membership_added"]});
    let kind = "user.notification_preferences_changed";
    only_event(&app, &mut seen, kind, subject, me, payload, &[]).await;
    let res = call(&app, Method::PUT, path, Some(&amina.access), Some(off)).await;
    assert_eq!(res.status(), 200);
    none_since(&app, &mut seen, "unchanged preferences").await;
    let essential = json!({"items": [{"kind": "password_changed", "email": false}]});
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&amina.access),
        Some(essential),
    )
    .await;
    problem(res, 400).await;
    none_since(&app, &mut seen, "a refused preference").await;
    let on = json!({"items": [{"kind": "membership_added", "email": true}]});
    let res = call(&app, Method::PUT, path, Some(&amina.access), Some(on)).await;
    assert_eq!(res.status(), 200);
    let payload = json!({"email_on": ["membership_added"], "email_off": []});
    only_event(&app, &mut seen, kind, subject, me, payload, &[]).await;
});

api_test!(tokens_and_passwords_are_events, |backend| {
    let app = crate::helpers::spawn_app(backend).await.unwrap();
    let amina = app.signup("amina@example.org").await;
    let me = Some(amina.id.as_str());
    let mut seen = all_events(&app).await.len();

    let body = json!({"name": "ci", "scopes": ["write"]});
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(&amina.access),
        Some(body),
    )
    .await;
    assert_eq!(res.status(), 201);
    let token: Value = res.json().await.unwrap();
    let id = token["id"].as_str().unwrap().to_string();
    let payload = json!({"name": "ci", "scopes": ["read", "write"], "expires_at": null});
    let subject = ("api_token", id.as_str());
    only_event(
        &app,
        &mut seen,
        "api_token.created",
        subject,
        me,
        payload,
        &[],
    )
    .await;
    assert_eq!(app.count_emails(&amina.email, "api_token_created").await, 1);
    let bad = json!({"name": "", "scopes": ["read"]});
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/tokens",
        Some(&amina.access),
        Some(bad),
    )
    .await;
    problem(res, 400).await;
    none_since(&app, &mut seen, "a refused token").await;

    let path = format!("/api/v1/me/tokens/{id}");
    let res = call(&app, Method::DELETE, &path, Some(&amina.access), None).await;
    assert_eq!(res.status(), 204);
    only_event(
        &app,
        &mut seen,
        "api_token.revoked",
        subject,
        me,
        json!({}),
        &[],
    )
    .await;
    let res = call(&app, Method::DELETE, &path, Some(&amina.access), None).await;
    problem(res, 404).await;
    none_since(&app, &mut seen, "revoking a revoked token").await;

    let change = |current: &str| json!({"current_password": current, "new_password": "violet harbour lantern seventeen"});
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/password",
        Some(&amina.access),
        Some(change("wrong password, certainly")),
    )
    .await;
    let body = problem(res, 400).await;
    assert_eq!(body["errors"][0]["field"], "current_password", "{body}");
    none_since(&app, &mut seen, "a wrong current password").await;
    let res = call(
        &app,
        Method::POST,
        "/api/v1/me/password",
        Some(&amina.access),
        Some(change(PASSWORD)),
    )
    .await;
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    let subject = ("user", amina.id.as_str());
    only_event(
        &app,
        &mut seen,
        "user.password_changed",
        subject,
        me,
        json!({}),
        &[],
    )
    .await;
    assert_eq!(app.count_emails(&amina.email, "password_changed").await, 1);
});

api_test!(addresses_resets_and_sessions_are_events, |backend| {
    let app = crate::helpers::spawn_app(backend).await.unwrap();
    let amina = app.signup("amina@example.org").await;
    let me = Some(amina.id.as_str());
    let subject = ("user", amina.id.as_str());
    let mut seen = all_events(&app).await.len();

    // A new address: pending, then confirmed through its link.
    let body = json!({"email": "amina.new@example.org", "current_password": PASSWORD});
    let res = call(
        &app,
        Method::PATCH,
        "/api/v1/me",
        Some(&amina.access),
        Some(body),
    )
    .await;
    assert_eq!(res.status(), 200);
    let changed = json!({"changed": ["pending_email"]});
    only_event(
        &app,
        &mut seen,
        "user.profile_updated",
        subject,
        me,
        changed,
        &[],
    )
    .await;
    let token = app
        .last_email_data("amina.new@example.org", "verify_email")
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), 200);
    only_event(
        &app,
        &mut seen,
        "user.email_changed",
        subject,
        me,
        json!({}),
        &[],
    )
    .await;
    let res = app
        .post_json("/api/v1/auth/verify-email", json!({"token": token}), None)
        .await;
    problem(res, 400).await;
    none_since(&app, &mut seen, "a spent link").await;

    // A reset through the emailed link; the holder of the link acts.
    let token = app.reset_password_email("amina.new@example.org").await;
    none_since(&app, &mut seen, "a reset request").await;
    let confirm = json!({"token": token, "new_password": "another long passphrase for amina"});
    let res = app
        .post_json("/api/v1/auth/password-reset/confirm", confirm.clone(), None)
        .await;
    assert_eq!(res.status(), 204);
    let payload = json!({"email_verified": false});
    only_event(
        &app,
        &mut seen,
        "user.password_reset",
        subject,
        me,
        payload,
        &[],
    )
    .await;
    let res = app
        .post_json("/api/v1/auth/password-reset/confirm", confirm, None)
        .await;
    problem(res, 400).await;
    none_since(&app, &mut seen, "a spent reset link").await;

    // Sessions: one, then all.
    let pair = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    };
    let password = "another long passphrase for amina";
    let first = pair(app.login("amina.new@example.org", password).await).await;
    let second = pair(app.login("amina.new@example.org", password).await).await;
    none_since(&app, &mut seen, "signing in").await;
    let res = call(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        Some(&first),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    only_event(
        &app,
        &mut seen,
        "user.signed_out",
        subject,
        me,
        json!({}),
        &[],
    )
    .await;
    let res = call(
        &app,
        Method::POST,
        "/api/v1/auth/logout-all",
        Some(&second),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let kind = "user.signed_out_everywhere";
    only_event(&app, &mut seen, kind, subject, me, json!({}), &[]).await;

    // Leaving.
    let third = pair(app.login("amina.new@example.org", password).await).await;
    let res = call(&app, Method::DELETE, "/api/v1/me", Some(&third), None).await;
    assert_eq!(res.status(), 204);
    let payload = json!({"by": "self"});
    only_event(
        &app,
        &mut seen,
        "user.deactivated",
        subject,
        me,
        payload,
        &[],
    )
    .await;
});

api_test!(admin_commands_are_events, |backend| {
    let app = crate::helpers::spawn_app(backend).await.unwrap();
    let root = admin(&app, "root@kujenga.test").await;
    let kofi = app.signup("kofi@example.org").await;
    let by = Some(root.id.as_str());
    let subject = ("user", kofi.id.as_str());
    let mut seen = all_events(&app).await.len();
    let path = format!("/api/v1/users/{}", kofi.id);

    let body = json!({"role": "coordinator"});
    let res = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.access),
        Some(body.clone()),
    )
    .await;
    assert_eq!(res.status(), 200);
    let payload = json!({"from": "member", "to": "coordinator"});
    only_event(
        &app,
        &mut seen,
        "user.role_changed",
        subject,
        by,
        payload,
        &[],
    )
    .await;
    let res = call(&app, Method::PATCH, &path, Some(&root.access), Some(body)).await;
    assert_eq!(res.status(), 200);
    none_since(&app, &mut seen, "the same role again").await;
    let own = format!("/api/v1/users/{}", root.id);
    let res = call(
        &app,
        Method::PATCH,
        &own,
        Some(&root.access),
        Some(json!({"role": "member"})),
    )
    .await;
    problem(res, 403).await;
    none_since(&app, &mut seen, "an admin's own role").await;

    let off = json!({"active": false});
    let res = call(&app, Method::PATCH, &path, Some(&root.access), Some(off)).await;
    assert_eq!(res.status(), 200);
    let payload = json!({"by": "admin"});
    only_event(
        &app,
        &mut seen,
        "user.deactivated",
        subject,
        by,
        payload,
        &[],
    )
    .await;
    let res = call(
        &app,
        Method::PATCH,
        &path,
        Some(&root.access),
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(res.status(), 200);
    only_event(
        &app,
        &mut seen,
        "user.reactivated",
        subject,
        by,
        json!({}),
        &[],
    )
    .await;

    // The outbox: only a dead email is retried. (Once the worker has sent
    // both verification emails, nothing else touches them.)
    let mut outbox = Value::Null;
    for _ in 0..400 {
        outbox = app
            .get_auth("/api/v1/admin/outbox?status=sent", &root.access)
            .await
            .json()
            .await
            .unwrap();
        if outbox["items"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let email = outbox["items"][0].clone();
    let id = email["id"].as_str().unwrap().to_string();
    let retry = format!("/api/v1/admin/outbox/{id}/retry");
    let res = call(&app, Method::POST, &retry, Some(&root.access), None).await;
    problem(res, 409).await;
    none_since(&app, &mut seen, "retrying a sent email").await;
    {
        use diesel::prelude::*;
        use kujenga::db::schema::outbox_emails as oe;
        let id = id.clone();
        app.db
            .run(move |conn| {
                diesel::update(oe::table.filter(oe::id.eq(id)))
                    .set(oe::status.eq("dead"))
                    .execute(conn)
            })
            .await
            .unwrap();
    }
    let res = call(&app, Method::POST, &retry, Some(&root.access), None).await;
    assert_eq!(res.status(), 200);
    let payload = json!({"recipient": email["recipient"]});
    only_event(
        &app,
        &mut seen,
        "outbox.retried",
        ("email", id.as_str()),
        by,
        payload.clone(),
        &[],
    )
    .await;
    // The audit entry is derived from the event.
    let audit: Value = app
        .get_auth("/api/v1/audit-events?action=outbox.retried", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"][0]["subject_type"], "email");
    assert_eq!(audit["items"][0]["detail"], payload);
});

api_test!(
    a_corrupted_stored_role_is_an_error_not_a_default,
    |backend| {
        let app = crate::helpers::spawn_app(backend).await.unwrap();
        let root = admin(&app, "root@kujenga.test").await;
        let kofi = app.signup("kofi@example.org").await;
        {
            use diesel::prelude::*;
            use kujenga::db::schema::users;
            let id = kofi.id.clone();
            app.db
                .run(move |conn| {
                    diesel::update(users::table.filter(users::id.eq(id)))
                        .set(users::role.eq("superuser"))
                        .execute(conn)
                })
                .await
                .unwrap();
        }
        let res = app
            .get_auth(&format!("/api/v1/users/{}", kofi.id), &root.access)
            .await;
        let body = problem(res, 500).await;
        assert!(
            !body.to_string().contains("superuser"),
            "nothing internal is revealed: {body}"
        );
        // Nor does the account act as a member.
        let res = app.get_auth("/api/v1/me", &kofi.access).await;
        problem(res, 500).await;
    }
);
