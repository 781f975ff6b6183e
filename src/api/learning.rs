//! Learning: a course's modules (`/courses/{id}/modules*`), enrollment and
//! progress (`/courses/{id}/enrollment*`, `/me/enrollments`), what the
//! institution sees (`/courses/{id}/enrollments`, `/courses/{id}/stats`) and
//! the public check of a completion (`/completions/{id}`).
//!
//! Module positions stay a dense 1..n: every change takes the course row's
//! lock first (`db::resources::lock`), so concurrent inserts queue up
//! instead of sharing a position. Progress is counted over the required
//! modules (over all of them when none is required); a completed enrollment
//! stays completed whatever is added to the course later.

use std::collections::{BTreeMap, HashSet};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::api::resources::path_id;
use crate::api::types::utc;
use crate::app::notifications::{Kind, notify};
use crate::app::resources::{facts, incomplete, load, read_only, status_of};
use crate::auth::{MaybePrincipal, Principal};
use crate::db::accounts::UserRow;
use crate::db::audit::{self, Context};
use crate::db::learning::{self as store, EnrollmentRow, ModuleChanges, ModuleRow};
use crate::db::resources::{self as resources_store, Loaded};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::policy::{self, Action};
use crate::domain::resource::{self as doc, ResourceKind, Status};
use crate::error::{ApiError, FieldError, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::problem_types::ProblemType;
use crate::state::AppState;

/// Modules a course may have.
pub const MODULES_MAX: i64 = 500;
const CONTENT_MAX: usize = 50_000;
/// The largest download a module may announce (1 TB): sums stay far from overflow.
const DOWNLOAD_MAX: i64 = 1_000_000_000_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let get = crate::api::get;
    cfg.service(
        web::resource("/courses/{id}/modules")
            .route(get().to(list_modules))
            .route(web::post().to(add_module)),
    )
    .service(
        web::resource("/courses/{id}/modules/{module_id}")
            .route(web::patch().to(change_module))
            .route(web::delete().to(delete_module)),
    )
    .service(
        web::resource("/courses/{id}/enrollment")
            .route(get().to(my_enrollment))
            .route(web::put().to(enroll))
            .route(web::delete().to(withdraw)),
    )
    .service(
        web::resource("/courses/{id}/enrollment/modules/{module_id}")
            .route(web::put().to(mark_done))
            .route(web::delete().to(unmark_done)),
    )
    .service(web::resource("/courses/{id}/enrollments").route(get().to(learners)))
    .service(web::resource("/courses/{id}/stats").route(get().to(stats)))
    .service(web::resource("/me/enrollments").route(get().to(my_enrollments)))
    .service(web::resource("/completions/{completion_id}").route(get().to(completion)));
}

// ----- modules -------------------------------------------------------------------

/// One module of a course.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CourseModule {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub course_id: String,
    /// 1..n, dense.
    pub position: i32,
    pub title: String,
    /// Markdown.
    pub content: Option<String>,
    pub content_url: Option<String>,
    pub duration_minutes: Option<i32>,
    /// What a learner downloads for this module (for offline planning).
    pub download_bytes: Option<i64>,
    /// Counts towards progress and completion.
    pub required: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ModuleRow> for CourseModule {
    fn from(m: &ModuleRow) -> Self {
        Self {
            id: m.id.clone(),
            course_id: m.course_id.clone(),
            position: m.position,
            title: m.title.clone(),
            content: m.content.clone(),
            content_url: m.content_url.clone(),
            duration_minutes: m.duration_minutes,
            download_bytes: m.download_bytes,
            required: m.required,
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseModulePage {
    pub items: Vec<CourseModule>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCourseModule {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// 1..n+1; default: after the last module. The modules from there on move down.
    #[schema(minimum = 1)]
    pub position: Option<i32>,
    /// Markdown (this, `content_url`, or both).
    #[schema(max_length = 50000)]
    pub content: Option<String>,
    /// http or https.
    #[schema(max_length = 2048)]
    pub content_url: Option<String>,
    #[schema(minimum = 0, maximum = 100000)]
    pub duration_minutes: Option<i32>,
    #[schema(minimum = 0, maximum = 1000000000000_i64)]
    pub download_bytes: Option<i64>,
    /// Default true.
    pub required: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseModulePatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    /// Moves the module to 1..n; the others close up.
    #[schema(minimum = 1)]
    pub position: Option<i32>,
    #[serde(default, deserialize_with = "crate::api::me::double_option")]
    #[schema(value_type = Option<String>, max_length = 50000)]
    pub content: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::api::me::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub content_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::api::me::double_option")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100000)]
    pub duration_minutes: Option<Option<i32>>,
    #[serde(default, deserialize_with = "crate::api::me::double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000000000_i64)]
    pub download_bytes: Option<Option<i64>>,
    pub required: Option<bool>,
}

fn check_title(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    doc::check_title(raw)
        .map_err(|m| errors.push(FieldError::new("title", m)))
        .ok()
}

fn check_content(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let c = raw?.trim_end();
    if c.chars().count() > CONTENT_MAX {
        errors.push(FieldError::new("content", "At most 50000 characters."));
        None
    } else if c.trim().is_empty() {
        None
    } else {
        Some(c.to_string())
    }
}

fn check_content_url(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let u = raw.filter(|u| !u.trim().is_empty())?;
    doc::check_url(u)
        .map_err(|m| errors.push(FieldError::new("content_url", m)))
        .ok()
}

fn check_numbers(
    duration: Option<i32>,
    bytes: Option<i64>,
    position: Option<i32>,
    errors: &mut Vec<FieldError>,
) {
    if duration.is_some_and(|d| !(0..=100_000).contains(&d)) {
        errors.push(FieldError::new("duration_minutes", "0 to 100000."));
    }
    if bytes.is_some_and(|b| !(0..=DOWNLOAD_MAX).contains(&b)) {
        errors.push(FieldError::new("download_bytes", "0 to 10^12 bytes."));
    }
    if position.is_some_and(|p| p < 1) {
        errors.push(FieldError::new("position", "At least 1."));
    }
}

fn no_content() -> FieldError {
    FieldError::new(
        "content",
        "A module needs its content (Markdown) or a `content_url`.",
    )
}

/// The course `id`, the caller allowed to do `action` on it.
fn course_for(
    conn: &mut DbConnection,
    id: &str,
    principal: Option<&Principal>,
    action: fn(policy::ResourceFacts) -> Action,
) -> Result<Loaded, ApiError> {
    let (l, viewer) = load(conn, ResourceKind::Course, id, principal)?;
    policy::enforce(policy::may(
        &Principal::actor_of(principal),
        action(facts(&l, &viewer)),
    ))?;
    Ok(l)
}

/// A course's modules, in order (whoever may see the course).
#[utoipa::path(get, path = "/api/v1/courses/{id}/modules", tag = "learning",
    params(("id" = String, Path, description = "Course id"), PageQuery),
    responses(
        (status = 200, description = "One page, by position", body = CourseModulePage),
        (status = 404, description = "No such course (or not visible to you)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_modules(
    req: HttpRequest,
    db: web::Data<Db>,
    MaybePrincipal(principal): MaybePrincipal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let page = page.parse::<i32>()?;
    let rows = db
        .run(move |conn| {
            course_for(conn, &id, principal.as_ref(), Action::ViewResource)?;
            Ok::<_, ApiError>(store::modules(conn, &id)?)
        })
        .await?;
    Ok(Paginated::from_sorted(rows, &page, |m| m.position)
        .map(|m| CourseModule::from(&m))
        .respond(&req))
}

/// Add a module (editors and owners).
#[utoipa::path(post, path = "/api/v1/courses/{id}/modules", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id")),
    request_body = NewCourseModule,
    responses(
        (status = 201, description = "Added", body = CourseModule),
        (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such course", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Archived, or too many modules", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_module(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewCourseModule>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let mut errors = Vec::new();
    let title = check_title(&body.title, &mut errors);
    let content = check_content(body.content.as_deref(), &mut errors);
    let content_url = check_content_url(body.content_url.as_deref(), &mut errors);
    check_numbers(
        body.duration_minutes,
        body.download_bytes,
        body.position,
        &mut errors,
    );
    if errors.is_empty() && content.is_none() && content_url.is_none() {
        errors.push(no_content());
    }
    let (Some(title), true) = (title, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let ctx = Context::new(Some(&principal.user.id));
    let row = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !resources_store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let l = course_for(conn, &id, Some(&principal), Action::EditResource)?;
                if status_of(&l.row) == Status::Archived {
                    return Err(read_only());
                }
                let n = store::count_modules(conn, &id)?;
                if n >= MODULES_MAX {
                    return Err(ApiError::Conflict {
                        problem: ProblemType::TooManyModules,
                        detail: format!("A course has at most {MODULES_MAX} modules."),
                    });
                }
                let last = i32::try_from(n + 1).unwrap_or(i32::MAX);
                let position = body.position.unwrap_or(last);
                if position > last {
                    return Err(ApiError::field(
                        "position",
                        format!("The course has {n} module(s): use 1 to {last}."),
                    ));
                }
                let now = now();
                let row = ModuleRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    course_id: id.clone(),
                    position,
                    title,
                    content,
                    content_url,
                    duration_minutes: body.duration_minutes,
                    download_bytes: body.download_bytes,
                    required: body.required.unwrap_or(true),
                    created_at: now,
                    updated_at: now,
                };
                store::insert_module(conn, &row)?;
                audit::record(
                    conn,
                    &ctx,
                    "module.created",
                    "resource",
                    &id,
                    json!({"module_id": row.id, "title": row.title, "position": position}),
                )?;
                Ok(row)
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/courses/{}/modules/{}", row.course_id, row.id),
        ))
        .json(CourseModule::from(&row)))
}

/// Change or move a module (editors and owners).
#[utoipa::path(patch, path = "/api/v1/courses/{id}/modules/{module_id}", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id"),
           ("module_id" = String, Path, description = "Module id")),
    request_body = CourseModulePatch,
    responses(
        (status = 200, description = "Changed", body = CourseModule),
        (status = 400, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such course or module", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The course is archived", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_module(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
    Json(body): Json<CourseModulePatch>,
) -> Result<HttpResponse, ApiError> {
    let (id, module_id) = path.into_inner();
    let id = path_id(&id)?;
    let module_id = path_id(&module_id)?;
    let mut errors = Vec::new();
    let mut changes = ModuleChanges {
        title: body
            .title
            .as_deref()
            .and_then(|t| check_title(t, &mut errors)),
        required: body.required,
        ..ModuleChanges::default()
    };
    if let Some(c) = &body.content {
        changes.content = Some(check_content(c.as_deref(), &mut errors));
    }
    if let Some(u) = &body.content_url {
        changes.content_url = Some(check_content_url(u.as_deref(), &mut errors));
    }
    changes.duration_minutes = body.duration_minutes;
    changes.download_bytes = body.download_bytes;
    check_numbers(
        body.duration_minutes.flatten(),
        body.download_bytes.flatten(),
        body.position,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.into_inner();
    let row = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !resources_store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let l = course_for(conn, &id, Some(&principal), Action::EditResource)?;
                let module = store::module(conn, &id, &module_id)?.ok_or(ApiError::NotFound)?;
                if status_of(&l.row) == Status::Archived {
                    return Err(read_only());
                }
                let now_optional = module.required && changes.required == Some(false);
                let content = changes.content.clone().unwrap_or(module.content.clone());
                let url = changes
                    .content_url
                    .clone()
                    .unwrap_or(module.content_url.clone());
                if content.is_none() && url.is_none() {
                    return Err(ApiError::validation(vec![no_content()]));
                }
                let now = now();
                if let Some(to) = body.position.filter(|p| *p != module.position) {
                    let n = i32::try_from(store::count_modules(conn, &id)?).unwrap_or(i32::MAX);
                    if to > n {
                        return Err(ApiError::field(
                            "position",
                            format!("The course has {n} module(s): use 1 to {n}."),
                        ));
                    }
                    store::move_module(conn, &id, &module_id, module.position, to)?;
                }
                changes.updated_at = Some(now);
                store::update_module(conn, &module_id, &changes)?;
                audit::record(
                    conn,
                    &ctx,
                    "module.updated",
                    "resource",
                    &id,
                    json!({"module_id": module_id, "from_position": module.position,
                           "position": body.position.unwrap_or(module.position)}),
                )?;
                if now_optional {
                    settle_course(conn, &state, &l)?;
                }
                store::module(conn, &id, &module_id)?.ok_or(ApiError::NotFound)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(CourseModule::from(&row)))
}

/// Remove a module (editors and owners); the ones after it move up.
#[utoipa::path(delete, path = "/api/v1/courses/{id}/modules/{module_id}", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id"),
           ("module_id" = String, Path, description = "Module id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "You do not edit for its institution", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such course or module", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The course is archived", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A published course keeps at least one module", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_module(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, module_id) = path.into_inner();
    let id = path_id(&id)?;
    let module_id = path_id(&module_id)?;
    let ctx = Context::new(Some(&principal.user.id));
    let state = state.into_inner();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if !resources_store::lock(conn, &id)? {
                return Err(ApiError::NotFound);
            }
            let l = course_for(conn, &id, Some(&principal), Action::EditResource)?;
            let module = store::module(conn, &id, &module_id)?.ok_or(ApiError::NotFound)?;
            match status_of(&l.row) {
                Status::Archived => return Err(read_only()),
                Status::Published if store::count_modules(conn, &id)? <= 1 => {
                    return Err(incomplete(vec![FieldError::new(
                        "modules",
                        "A published course keeps at least one module.",
                    )]));
                }
                _ => {}
            }
            store::delete_module(conn, &module)?;
            audit::record(
                conn,
                &ctx,
                "module.deleted",
                "resource",
                &id,
                json!({"module_id": module.id, "title": module.title, "position": module.position}),
            )?;
            settle_course(conn, &state, &l)?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- enrollment and progress --------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentStatus {
    Active,
    Completed,
    Withdrawn,
}

impl EnrollmentStatus {
    fn parse(raw: &str) -> Self {
        match raw {
            "completed" => Self::Completed,
            "withdrawn" => Self::Withdrawn,
            _ => Self::Active,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// Where a learner stands in a course.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Enrollment {
    #[schema(format = "uuid")]
    pub course_id: String,
    pub status: EnrollmentStatus,
    /// Ids of the modules done (required or not).
    pub completed_modules: Vec<String>,
    /// 0–100, over the required modules (all modules when none is required);
    /// 100 once completed.
    pub progress: u8,
    /// Bytes still to download for the modules not done yet.
    pub remaining_download_bytes: i64,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Public proof of completion: `GET /api/v1/completions/{completion_id}`.
    pub completion_id: Option<String>,
}

/// What a learner has done in a course.
#[derive(Debug)]
struct Progress {
    completed_modules: Vec<String>,
    progress: u8,
    remaining_bytes: i64,
    /// Every counted module is done.
    all_done: bool,
}

fn progress_of(modules: &[&ModuleRow], done: &HashSet<&str>, completed: bool) -> Progress {
    let required: Vec<&&ModuleRow> = modules.iter().filter(|m| m.required).collect();
    let counted: Vec<&&ModuleRow> = if required.is_empty() {
        modules.iter().collect()
    } else {
        required
    };
    let finished = counted
        .iter()
        .filter(|m| done.contains(m.id.as_str()))
        .count();
    let all_done = !counted.is_empty() && finished == counted.len();
    let percent = if completed || all_done {
        100
    } else if counted.is_empty() {
        0
    } else {
        u8::try_from(finished * 100 / counted.len()).unwrap_or(100)
    };
    Progress {
        completed_modules: modules
            .iter()
            .filter(|m| done.contains(m.id.as_str()))
            .map(|m| m.id.clone())
            .collect(),
        progress: percent,
        remaining_bytes: modules
            .iter()
            .filter(|m| !done.contains(m.id.as_str()))
            .filter_map(|m| m.download_bytes)
            .sum(),
        all_done,
    }
}

fn enrollment_view(row: &EnrollmentRow, p: Progress) -> Enrollment {
    Enrollment {
        course_id: row.course_id.clone(),
        status: EnrollmentStatus::parse(&row.status),
        completed_modules: p.completed_modules,
        progress: p.progress,
        remaining_download_bytes: p.remaining_bytes,
        enrolled_at: utc(row.enrolled_at),
        completed_at: row.completed_at.map(utc),
        completion_id: row.completion_id.clone(),
    }
}

/// Completes the enrollments a module change finished (a module removed or
/// made optional can leave a learner with every counted module done).
fn settle_course(
    conn: &mut DbConnection,
    state: &AppState,
    course: &Loaded,
) -> Result<(), ApiError> {
    for user_id in store::active_learners(conn, &course.row.id)? {
        store::lock_enrollment(conn, &course.row.id, &user_id)?;
        if let Some(user) = crate::db::accounts::user_by_id(conn, &user_id)? {
            settle(conn, Some(state), course, &user)?;
        }
    }
    Ok(())
}

/// The learner's enrollment in a course, with progress; completes it (and
/// sends the completion email) when every counted module is done.
fn settle(
    conn: &mut DbConnection,
    state: Option<&AppState>,
    course: &Loaded,
    user: &UserRow,
) -> Result<Option<Enrollment>, ApiError> {
    let Some(mut row) = store::enrollment(conn, &course.row.id, &user.id)? else {
        return Ok(None);
    };
    let modules = store::modules(conn, &course.row.id)?;
    let done_rows = store::done(conn, &course.row.id, &user.id)?;
    let done: HashSet<&str> = done_rows.iter().map(|(m, _)| m.as_str()).collect();
    let refs: Vec<&ModuleRow> = modules.iter().collect();
    let p = progress_of(&refs, &done, row.completion_id.is_some());
    // Reads (`state` is `None`) only report; changes complete.
    if let Some(state) = state
        && p.all_done
        && row.status == "active"
        && row.completion_id.is_none()
    {
        let completion_id = uuid::Uuid::new_v4().to_string();
        let now = now();
        if !store::complete_enrollment(conn, &course.row.id, &user.id, &completion_id, now)? {
            // Completed meanwhile: report what is stored.
            let stored = store::enrollment(conn, &course.row.id, &user.id)?;
            return Ok(stored.map(|r| enrollment_view(&r, p)));
        }
        notify(
            conn,
            state,
            user,
            Kind::CourseCompleted,
            json!({"display_name": user.display_name, "course": course.row.title,
                   "course_id": course.row.id, "completion_id": completion_id}),
        )?;
        row.status = "completed".into();
        row.completed_at = Some(now);
        row.completion_id = Some(completion_id);
    }
    Ok(Some(enrollment_view(&row, p)))
}

fn not_enrolled() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::NotEnrolled,
        detail: "Enroll in the course first (PUT …/enrollment).".into(),
    }
}

/// Your enrollment in a course.
#[utoipa::path(get, path = "/api/v1/courses/{id}/enrollment", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id")),
    responses(
        (status = 200, description = "Your enrollment", body = Enrollment),
        (status = 404, description = "No such course, or you never enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn my_enrollment(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let e = db
        .run(move |conn| {
            let course = course_for(conn, &id, Some(&principal), Action::Enroll)?;
            settle(conn, None, &course, &principal.user)
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(e))
}

/// Enroll in a published course you can see (idempotent; enrolling again
/// after withdrawing resumes where you were).
#[utoipa::path(put, path = "/api/v1/courses/{id}/enrollment", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id")),
    responses(
        (status = 200, description = "Already enrolled, or resumed", body = Enrollment),
        (status = 201, description = "Enrolled", body = Enrollment),
        (status = 404, description = "No such course (or not visible to you)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The course is not open for enrollment (a draft, or archived)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn enroll(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let state = state.into_inner();
    let ctx = Context::new(Some(&principal.user.id));
    let (created, e) = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !resources_store::lock(conn, &id)? {
                    return Err(ApiError::NotFound);
                }
                let course = course_for(conn, &id, Some(&principal), Action::Enroll)?;
                let user = &principal.user;
                let now = now();
                let created = match store::enrollment(conn, &id, &user.id)? {
                    Some(existing) => {
                        if existing.status == "withdrawn" {
                            let back = if existing.completion_id.is_some() {
                                "completed"
                            } else {
                                "active"
                            };
                            store::set_enrollment_status(conn, &id, &user.id, back, now)?;
                        }
                        false
                    }
                    None => {
                        if status_of(&course.row) != Status::Published {
                            return Err(ApiError::Conflict {
                                problem: ProblemType::EnrollmentClosed,
                                detail: "Only published courses take new learners; an archived \
                                         course keeps the ones it has."
                                    .into(),
                            });
                        }
                        store::insert_enrollment(
                            conn,
                            &EnrollmentRow {
                                course_id: id.clone(),
                                user_id: user.id.clone(),
                                status: "active".into(),
                                enrolled_at: now,
                                updated_at: now,
                                withdrawn_at: None,
                                completed_at: None,
                                completion_id: None,
                            },
                        )?;
                        let modules = store::modules(conn, &id)?;
                        let bytes: i64 = modules.iter().filter_map(|m| m.download_bytes).sum();
                        notify(
                            conn,
                            &state,
                            user,
                            Kind::EnrollmentConfirmed,
                            json!({"display_name": user.display_name, "course": course.row.title,
                                   "course_id": id, "modules": modules.len(),
                                   "download_bytes": bytes,
                                   "download_mb": (bytes + 524_288) / 1_048_576}),
                        )?;
                        audit::record(
                            conn,
                            &ctx,
                            "enrollment.created",
                            "resource",
                            &id,
                            json!({"user_id": user.id}),
                        )?;
                        true
                    }
                };
                let e = settle(conn, Some(&state), &course, user)?.ok_or(ApiError::NotFound)?;
                Ok((created, e))
            })
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(e))
}

/// Withdraw from a course (your progress is kept).
#[utoipa::path(delete, operation_id = "withdraw_enrollment", path = "/api/v1/courses/{id}/enrollment", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id")),
    responses(
        (status = 200, description = "Withdrawn", body = Enrollment),
        (status = 404, description = "No such course, or you never enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn withdraw(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let state = state.into_inner();
    let e = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let course = course_for(conn, &id, Some(&principal), Action::Enroll)?;
                let user = &principal.user;
                let existing = store::enrollment(conn, &id, &user.id)?.ok_or(ApiError::NotFound)?;
                if existing.status != "withdrawn" {
                    store::set_enrollment_status(conn, &id, &user.id, "withdrawn", now())?;
                }
                settle(conn, Some(&state), &course, user)?.ok_or(ApiError::NotFound)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(e))
}

async fn progress_change(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
    done: bool,
) -> Result<HttpResponse, ApiError> {
    let (id, module_id) = path.into_inner();
    let id = path_id(&id)?;
    let module_id = path_id(&module_id)?;
    let state = state.into_inner();
    let e = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let course = course_for(conn, &id, Some(&principal), Action::Enroll)?;
                let user = &principal.user;
                let module = store::module(conn, &id, &module_id)?.ok_or(ApiError::NotFound)?;
                if !store::lock_enrollment(conn, &id, &user.id)? {
                    return Err(not_enrolled());
                }
                match store::enrollment(conn, &id, &user.id)? {
                    Some(e) if e.status != "withdrawn" => {}
                    _ => return Err(not_enrolled()),
                }
                if done {
                    // The module may have been deleted since it was read
                    // (PostgreSQL): that is a 404, not a failure.
                    store::mark_done(conn, &user.id, &id, &module.id, now()).map_err(
                        |e| match e {
                            diesel::result::Error::DatabaseError(
                                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                                _,
                            ) => ApiError::NotFound,
                            other => other.into(),
                        },
                    )?;
                } else {
                    store::unmark_done(conn, &user.id, &module.id)?;
                }
                settle(conn, Some(&state), &course, user)?.ok_or(ApiError::NotFound)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(e))
}

/// Mark a module done (idempotent: the first time is kept). Completing the
/// last required module completes the course and sends a completion email.
#[utoipa::path(put, path = "/api/v1/courses/{id}/enrollment/modules/{module_id}", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id"),
           ("module_id" = String, Path, description = "Module id")),
    responses(
        (status = 200, description = "Your enrollment, updated", body = Enrollment),
        (status = 404, description = "No such course or module", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You are not enrolled (or withdrew)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_done(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    progress_change(state, db, principal, path, true).await
}

/// Un-mark a module (a completed course stays completed).
#[utoipa::path(delete, path = "/api/v1/courses/{id}/enrollment/modules/{module_id}", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id"),
           ("module_id" = String, Path, description = "Module id")),
    responses(
        (status = 200, description = "Your enrollment, updated", body = Enrollment),
        (status = 404, description = "No such course or module", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You are not enrolled (or withdrew)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unmark_done(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    progress_change(state, db, principal, path, false).await
}

// ----- the learner's list ---------------------------------------------------------

/// One of your enrollments, with what is left to download.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyEnrollment {
    #[serde(flatten)]
    pub enrollment: Enrollment,
    pub course_title: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyEnrollmentPage {
    pub items: Vec<MyEnrollment>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EnrollmentFilter {
    pub status: Option<EnrollmentStatus>,
}

/// Your enrollments, newest first, with progress and the bytes still to
/// download (to plan offline study).
#[utoipa::path(get, path = "/api/v1/me/enrollments", tag = "learning", security(("bearer" = [])),
    params(PageQuery, EnrollmentFilter),
    responses(
        (status = 200, description = "One page", body = MyEnrollmentPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn my_enrollments(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    Query(page): Query<PageQuery>,
    Query(filter): Query<EnrollmentFilter>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let before = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let user_id = principal.user.id.clone();
    let (rows, modules, done) = db
        .run(move |conn| {
            let rows = store::enrollments_of(
                conn,
                &user_id,
                filter.status.map(EnrollmentStatus::as_str),
                before,
                limit,
            )?;
            let ids: Vec<String> = rows.iter().map(|(e, _)| e.course_id.clone()).collect();
            let modules = store::modules_of(conn, &ids)?;
            let done = store::done_in(conn, &user_id, &ids)?;
            Ok::<_, diesel::result::Error>((rows, modules, done))
        })
        .await?;
    let done: HashSet<(&str, &str)> = done.iter().map(|(c, m)| (c.as_str(), m.as_str())).collect();
    let page_rows = Paginated::from_rows(rows, &page, |(e, _)| {
        (utc(e.enrolled_at), e.course_id.clone())
    });
    Ok(page_rows
        .map(|(e, title)| {
            let own: Vec<&ModuleRow> = modules
                .iter()
                .filter(|m| m.course_id == e.course_id)
                .collect();
            let ids: HashSet<&str> = own
                .iter()
                .filter(|m| done.contains(&(e.course_id.as_str(), m.id.as_str())))
                .map(|m| m.id.as_str())
                .collect();
            let p = progress_of(&own, &ids, e.completion_id.is_some());
            MyEnrollment {
                enrollment: enrollment_view(&e, p),
                course_title: title,
            }
        })
        .respond(&req))
}

// ----- the institution's view ------------------------------------------------------

/// A learner of a course (for its institution's owners and editors).
#[derive(Debug, Serialize, ToSchema)]
pub struct Learner {
    #[schema(format = "uuid")]
    pub user_id: String,
    pub display_name: String,
    pub status: EnrollmentStatus,
    pub progress: u8,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LearnerPage {
    pub items: Vec<Learner>,
    pub next_cursor: Option<String>,
}

/// A course's learners (owners and editors of its institution).
#[utoipa::path(get, path = "/api/v1/courses/{id}/enrollments", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id"), PageQuery, EnrollmentFilter),
    responses(
        (status = 200, description = "One page, oldest enrollment first", body = LearnerPage),
        (status = 403, description = "Owners and editors only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such course", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn learners(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Query(page): Query<PageQuery>,
    Query(filter): Query<EnrollmentFilter>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let page = page.parse::<(DateTime<Utc>, String)>()?;
    let after = page.after.clone().map(|(t, id)| (t.naive_utc(), id));
    let limit = page.fetch_limit();
    let (rows, modules, done) = db
        .run(move |conn| {
            course_for(conn, &id, Some(&principal), Action::ViewLearners)?;
            let rows = store::learners(
                conn,
                &id,
                filter.status.map(EnrollmentStatus::as_str),
                after,
                limit,
            )?;
            let modules = store::modules(conn, &id)?;
            let done = store::done_in_course(conn, &id)?;
            Ok::<_, ApiError>((rows, modules, done))
        })
        .await?;
    let refs: Vec<&ModuleRow> = modules.iter().collect();
    Ok(Paginated::from_rows(rows, &page, |(e, _)| {
        (utc(e.enrolled_at), e.user_id.clone())
    })
    .map(|(e, name)| {
        let ids: HashSet<&str> = done
            .iter()
            .filter(|(u, _)| *u == e.user_id)
            .map(|(_, m)| m.as_str())
            .collect();
        let p = progress_of(&refs, &ids, e.completion_id.is_some());
        Learner {
            user_id: e.user_id.clone(),
            display_name: name,
            status: EnrollmentStatus::parse(&e.status),
            progress: p.progress,
            enrolled_at: utc(e.enrolled_at),
            completed_at: e.completed_at.map(utc),
        }
    })
    .respond(&req))
}

/// Completions in one month.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthCount {
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub completions: i64,
}

/// A course's learning, in aggregate: no personal data.
#[derive(Debug, Serialize, ToSchema)]
pub struct CourseStats {
    #[schema(format = "uuid")]
    pub course_id: String,
    /// Everyone who ever enrolled.
    pub enrolled: i64,
    pub active: i64,
    pub completed: i64,
    pub withdrawn: i64,
    /// Median progress of the learners who have not withdrawn; null when none.
    pub median_progress: Option<f64>,
    /// Oldest month first.
    pub completions_per_month: Vec<MonthCount>,
}

/// Aggregates of a course's learning (owners and editors of its institution).
#[utoipa::path(get, path = "/api/v1/courses/{id}/stats", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id")),
    responses(
        (status = 200, description = "The aggregates", body = CourseStats),
        (status = 403, description = "Owners and editors only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such course", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stats(
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let course_id = id.clone();
    let (rows, modules, done) = db
        .run(move |conn| {
            course_for(conn, &id, Some(&principal), Action::ViewLearners)?;
            Ok::<_, ApiError>((
                store::all_enrollments(conn, &id)?,
                store::modules(conn, &id)?,
                store::done_in_course(conn, &id)?,
            ))
        })
        .await?;
    let refs: Vec<&ModuleRow> = modules.iter().collect();
    let count = |s: &str| i64::try_from(rows.iter().filter(|e| e.status == s).count()).unwrap_or(0);
    let mut progress: Vec<u8> = rows
        .iter()
        .filter(|e| e.status != "withdrawn")
        .map(|e| {
            let ids: HashSet<&str> = done
                .iter()
                .filter(|(u, _)| *u == e.user_id)
                .map(|(_, m)| m.as_str())
                .collect();
            progress_of(&refs, &ids, e.completion_id.is_some()).progress
        })
        .collect();
    progress.sort_unstable();
    let median_progress = match progress.len() {
        0 => None,
        n if n % 2 == 1 => Some(f64::from(progress[n / 2])),
        n => Some((f64::from(progress[n / 2 - 1]) + f64::from(progress[n / 2])) / 2.0),
    };
    let mut months: BTreeMap<String, i64> = BTreeMap::new();
    for at in rows.iter().filter_map(|e| e.completed_at) {
        *months.entry(at.format("%Y-%m").to_string()).or_default() += 1;
    }
    Ok(HttpResponse::Ok().json(CourseStats {
        course_id,
        enrolled: i64::try_from(rows.len()).unwrap_or(0),
        active: count("active"),
        completed: count("completed"),
        withdrawn: count("withdrawn"),
        median_progress,
        completions_per_month: months
            .into_iter()
            .map(|(month, completions)| MonthCount { month, completions })
            .collect(),
    }))
}

// ----- completions ---------------------------------------------------------------

/// A verified completion.
#[derive(Debug, Serialize, ToSchema)]
pub struct Completion {
    pub completion_id: String,
    #[schema(format = "uuid")]
    pub course_id: String,
    pub course_title: String,
    /// The institution's slug.
    pub institution: String,
    /// The learner's display name.
    pub learner: String,
    pub completed_at: DateTime<Utc>,
}

/// Check a completion id (public: it is what a learner shows an employer).
#[utoipa::path(get, path = "/api/v1/completions/{completion_id}", tag = "learning",
    params(("completion_id" = String, Path, description = "Completion id from the completion email")),
    responses(
        (status = 200, description = "A real completion", body = Completion),
        (status = 404, description = "No such completion", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn completion(
    req: HttpRequest,
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let (e, title, slug, learner) = db
        .run(move |conn| store::completion(conn, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let completed_at = e.completed_at.map(utc).ok_or(ApiError::NotFound)?;
    etag::respond(
        &req,
        &Completion {
            completion_id: e.completion_id.unwrap_or_default(),
            course_id: e.course_id,
            course_title: title,
            institution: slug,
            learner,
            completed_at,
        },
    )
}
