// The tables, as diesel sees them. Kept by hand in step with
// `migrations/{sqlite,postgres}` (both backends share one schema).

diesel::table! {
    idempotency_keys (scope, idem_key) {
        scope -> Text,
        idem_key -> Text,
        request_hash -> Text,
        owner_token -> Text,
        status_code -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox_emails (id) {
        id -> Text,
        message_id -> Text,
        dedupe_key -> Nullable<Text>,
        recipient -> Text,
        user_id -> Nullable<Text>,
        template -> Text,
        data -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        status -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox_attempts (email_id, attempt) {
        email_id -> Text,
        attempt -> Integer,
        worker -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        outcome -> Text,
        error -> Nullable<Text>,
        retry_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(outbox_attempts -> outbox_emails (email_id));

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_normalized -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        country -> Nullable<Text>,
        languages -> Text,
        email_verified -> Bool,
        pending_email -> Nullable<Text>,
        token_version -> Integer,
        active -> Bool,
        deactivated_at -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    email_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        email -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (email_normalized, client_ip) {
        email_normalized -> Text,
        client_ip -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    login_brakes (email_normalized) {
        email_normalized -> Text,
        failures -> Integer,
        next_turn_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    login_known_clients (email_normalized, client_ip) {
        email_normalized -> Text,
        client_ip -> Text,
        last_success_at -> Timestamp,
    }
}

diesel::table! {
    readiness_probe (id) {
        id -> Integer,
        checked_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        link -> Nullable<Text>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
        event_type -> Nullable<Text>,
        subject_kind -> Nullable<Text>,
        subject_id -> Nullable<Text>,
        data -> Nullable<Text>,
    }
}

diesel::table! {
    notification_preferences (user_id, kind) {
        user_id -> Text,
        kind -> Text,
        email -> Bool,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, api_tokens, refresh_tokens);

diesel::table! {
    institutions (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        name_lower -> Text,
        country -> Text,
        kind -> Text,
        website -> Nullable<Text>,
        description -> Text,
        verified -> Bool,
        verified_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    memberships (institution_id, user_id) {
        institution_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        institution_id -> Text,
        email -> Text,
        email_normalized -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        accepted_by -> Nullable<Text>,
        withdrawn_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_type -> Text,
        subject_id -> Text,
        detail -> Text,
        request_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(memberships -> institutions (institution_id));
diesel::joinable!(memberships -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(memberships, users);

diesel::table! {
    resources (id) {
        id -> Text,
        kind -> Text,
        institution_id -> Text,
        title -> Text,
        title_lower -> Text,
        summary -> Text,
        description -> Text,
        license -> Nullable<Text>,
        languages -> Text,
        countries -> Text,
        tags -> Text,
        // written empty and never read since search has its own tables;
        // kept because SQLite cannot drop a column reversibly
        search_text -> Text,
        visibility -> Text,
        status -> Text,
        version -> BigInt,
        access_level -> Nullable<Text>,
        risk_tier -> Nullable<Text>,
        details -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        archived_at -> Nullable<Timestamp>,
        listed_at -> Timestamp,
        doi -> Nullable<Text>,
    }
}

diesel::table! {
    resource_terms (facet, value, resource_id) {
        resource_id -> Text,
        facet -> Text,
        value -> Text,
    }
}

diesel::table! {
    resource_relations (source_id, relation, target_id) {
        source_id -> Text,
        relation -> Text,
        target_id -> Text,
        position -> Integer,
        target_version -> Nullable<Text>,
    }
}

diesel::table! {
    dataset_files (id) {
        id -> Text,
        dataset_id -> Text,
        name -> Text,
        url -> Text,
        media_type -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        embargo_until -> Nullable<Timestamp>,
        embargo_reason -> Nullable<Text>,
    }
}

diesel::table! {
    resource_deaccessions (resource_id, version) {
        resource_id -> Text,
        version -> Text,
        reason -> Text,
        title -> Text,
        citation -> Text,
        deaccessioned_by -> Nullable<Text>,
        deaccessioned_at -> Timestamp,
    }
}

diesel::table! {
    embargo_watchers (resource_id, file_id, user_id) {
        resource_id -> Text,
        file_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    resource_deadlines (resource_id, file_id, what) {
        resource_id -> Text,
        file_id -> Text,
        what -> Text,
        due_at -> Timestamp,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    resource_versions (resource_id, major, minor) {
        resource_id -> Text,
        major -> Integer,
        minor -> Integer,
        revision -> BigInt,
        note -> Nullable<Text>,
        summary -> Text,
        snapshot -> Nullable<Text>,
        published_by -> Nullable<Text>,
        published_at -> Timestamp,
    }
}

diesel::table! {
    resource_drafts (resource_id) {
        resource_id -> Text,
        document -> Text,
        revision -> BigInt,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(resources -> institutions (institution_id));
diesel::joinable!(resource_terms -> resources (resource_id));
diesel::joinable!(dataset_files -> resources (dataset_id));
diesel::allow_tables_to_appear_in_same_query!(
    resources,
    institutions,
    resource_terms,
    resource_relations,
    dataset_files,
    memberships
);

diesel::table! {
    course_modules (id) {
        id -> Text,
        course_id -> Text,
        position -> Integer,
        title -> Text,
        content -> Nullable<Text>,
        content_url -> Nullable<Text>,
        duration_minutes -> Nullable<Integer>,
        download_bytes -> Nullable<BigInt>,
        required -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    enrollments (course_id, user_id) {
        course_id -> Text,
        user_id -> Text,
        status -> Text,
        enrolled_at -> Timestamp,
        updated_at -> Timestamp,
        withdrawn_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        completion_id -> Nullable<Text>,
        course_version -> Nullable<Text>,
    }
}

diesel::table! {
    module_completions (user_id, module_id) {
        user_id -> Text,
        module_id -> Text,
        course_id -> Text,
        completed_at -> Timestamp,
    }
}

diesel::joinable!(course_modules -> resources (course_id));
diesel::joinable!(enrollments -> resources (course_id));
diesel::joinable!(enrollments -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    course_modules,
    enrollments,
    module_completions,
    resources,
    users
);
diesel::allow_tables_to_appear_in_same_query!(institutions, enrollments);
diesel::allow_tables_to_appear_in_same_query!(institutions, users);

diesel::table! {
    partnerships (id) {
        id -> Text,
        slug -> Text,
        title -> Text,
        description -> Text,
        goals -> Text,
        agreement_url -> Nullable<Text>,
        starts_on -> Date,
        ends_on -> Date,
        status -> Text,
        public -> Bool,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_digest_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    partnership_members (partnership_id, institution_id) {
        partnership_id -> Text,
        institution_id -> Text,
        status -> Text,
        invited_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    partnership_coordinators (partnership_id, user_id) {
        partnership_id -> Text,
        user_id -> Text,
        added_by -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    partnership_resources (partnership_id, resource_id) {
        partnership_id -> Text,
        resource_id -> Text,
        shared_by -> Nullable<Text>,
        created_at -> Timestamp,
        digested_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(partnership_members -> partnerships (partnership_id));
diesel::joinable!(partnership_members -> institutions (institution_id));
diesel::joinable!(partnership_coordinators -> partnerships (partnership_id));
diesel::joinable!(partnership_coordinators -> users (user_id));
diesel::joinable!(partnership_resources -> partnerships (partnership_id));
diesel::joinable!(partnership_resources -> resources (resource_id));
diesel::allow_tables_to_appear_in_same_query!(
    partnerships,
    partnership_members,
    partnership_coordinators,
    partnership_resources
);
diesel::allow_tables_to_appear_in_same_query!(partnerships, institutions);
diesel::allow_tables_to_appear_in_same_query!(partnerships, resources);
diesel::allow_tables_to_appear_in_same_query!(partnerships, users);
diesel::allow_tables_to_appear_in_same_query!(partnerships, memberships);
diesel::allow_tables_to_appear_in_same_query!(partnership_members, institutions);
diesel::allow_tables_to_appear_in_same_query!(partnership_members, resources);
diesel::allow_tables_to_appear_in_same_query!(partnership_members, users);
diesel::allow_tables_to_appear_in_same_query!(partnership_members, memberships);
diesel::allow_tables_to_appear_in_same_query!(partnership_coordinators, institutions);
diesel::allow_tables_to_appear_in_same_query!(partnership_coordinators, resources);
diesel::allow_tables_to_appear_in_same_query!(partnership_coordinators, users);
diesel::allow_tables_to_appear_in_same_query!(partnership_coordinators, memberships);
diesel::allow_tables_to_appear_in_same_query!(partnership_resources, institutions);
diesel::allow_tables_to_appear_in_same_query!(partnership_resources, resources);
diesel::allow_tables_to_appear_in_same_query!(partnership_resources, users);
diesel::allow_tables_to_appear_in_same_query!(partnership_resources, memberships);

diesel::table! {
    access_requests (id) {
        id -> Text,
        dataset_id -> Text,
        requester_id -> Text,
        institution_id -> Nullable<Text>,
        institution_slug -> Nullable<Text>,
        purpose -> Text,
        duration_days -> Integer,
        status -> Text,
        decision -> Nullable<Text>,
        decision_note -> Nullable<Text>,
        revocation_note -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        origin_country -> Nullable<Text>,
        requester_country -> Nullable<Text>,
        decision_country -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        reminded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    file_links (id) {
        id -> Text,
        token_hash -> Text,
        dataset_id -> Text,
        file_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        access_request_id -> Nullable<Text>,
        origin_country -> Nullable<Text>,
        requester_country -> Nullable<Text>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(access_requests, institutions);
diesel::allow_tables_to_appear_in_same_query!(access_requests, resources);
diesel::allow_tables_to_appear_in_same_query!(access_requests, users);
diesel::allow_tables_to_appear_in_same_query!(access_requests, memberships);
diesel::allow_tables_to_appear_in_same_query!(file_links, dataset_files);
diesel::allow_tables_to_appear_in_same_query!(file_links, resources);
diesel::allow_tables_to_appear_in_same_query!(file_links, access_requests);

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        actor_id -> Nullable<Text>,
        payload -> Text,
        request_id -> Nullable<Text>,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    event_institutions (event_seq, institution_id) {
        event_seq -> BigInt,
        institution_id -> Text,
    }
}

diesel::joinable!(event_institutions -> events (event_seq));
diesel::allow_tables_to_appear_in_same_query!(events, event_institutions);

// Full-text search (see db::search): each resource's folded words. On
// SQLite the table also has `key`, the FTS5 row id, which the application
// never writes.
diesel::table! {
    resource_search (resource_id) {
        resource_id -> Text,
        title -> Text,
        tags -> Text,
        summary -> Text,
        body -> Text,
    }
}

diesel::table! {
    search_words (word) {
        word -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(resources, resource_search);

diesel::table! {
    client_apps (id) {
        id -> Text,
        name -> Text,
        link_bases -> Text,
        allowed_origins -> Text,
        cookie_sessions -> Bool,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    client_sessions (session_id) {
        session_id -> Text,
        client_id -> Text,
        csrf_hash -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

// OAI-PMH (db::oai): the records harvesters see, kept from the events.
diesel::table! {
    oai_records (resource_id) {
        resource_id -> Text,
        kind -> Text,
        institution_id -> Text,
        country -> Text,
        datestamp -> Timestamp,
        deleted -> Bool,
    }
}

// ListSets: institutions that hold records (a subquery on oai_records).
diesel::allow_tables_to_appear_in_same_query!(oai_records, institutions);

diesel::table! {
    oai_state (id) {
        id -> Integer,
        last_seq -> BigInt,
    }
}

// The change feed (db::changes): a projection of the events.
diesel::table! {
    feed_subjects (kind, id) {
        kind -> Text,
        id -> Text,
        institution_id -> Nullable<Text>,
        audience -> Text,
        changed_seq -> BigInt,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    feed_log (event_seq, kind, id) {
        event_seq -> BigInt,
        kind -> Text,
        id -> Text,
        before -> Text,
        after -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    feed_viewers (user_id) {
        user_id -> Text,
        keys -> Text,
    }
}

diesel::table! {
    feed_viewer_log (user_id, event_seq) {
        event_seq -> BigInt,
        user_id -> Text,
        before -> Text,
        after -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    feed_state (id) {
        id -> Integer,
        last_seq -> BigInt,
        floor_seq -> BigInt,
    }
}

// Webhooks (db::webhooks): subscriptions, queued messages, attempts.
diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        institution_id -> Nullable<Text>,
        partnership_id -> Nullable<Text>,
        url -> Text,
        description -> Text,
        event_types -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        consecutive_failures -> Integer,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_messages (id) {
        id -> Text,
        subscription_id -> Text,
        event_type -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        round_start -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        message_id -> Text,
        attempt -> Integer,
        worker -> Text,
        started_at -> Timestamp,
        latency_ms -> BigInt,
        status_code -> Nullable<Integer>,
        outcome -> Text,
        error -> Nullable<Text>,
        response_excerpt -> Nullable<Text>,
        retry_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(webhook_messages -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_attempts -> webhook_messages (message_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_subscriptions, webhook_messages);
