//! Learning over HTTP: a course's modules (`/courses/{id}/modules*`),
//! enrollment and progress (`/courses/{id}/enrollment*`, `/me/enrollments`),
//! what the institution sees (`/courses/{id}/enrollments`,
//! `/courses/{id}/stats`) and the public check of a completion
//! (`/completions/{id}`). Handlers parse the request, call one
//! `app::learning` function and render; the workflows (locks, policy, the
//! enrollment lifecycle, events) live there.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::resources::path_id;
use crate::app::learning::{self as app, Caller, ModuleEdit, NewModule, no_content};
use crate::app::permissions::ModuleListPermissions;
use crate::auth::{MaybePrincipal, Principal};
use crate::db::Db;
use crate::db::learning::ModuleChanges;
use crate::domain::learning as rules;
use crate::domain::resource as doc;
use crate::error::{ApiError, FieldError, Invalid, Problem};
use crate::http::etag;
use crate::http::json::{Json, Query};
use crate::http::pagination::{PageQuery, Paginated};
use crate::state::AppState;

pub use crate::app::learning::{
    Completion, CourseModule, CourseStats, Enrollment, EnrollmentStatus, Learner, MonthCount,
    MyEnrollment,
};

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
    .service(web::resource("/courses/{id}/enrollment/upgrade").route(web::post().to(upgrade)))
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

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseModulePage {
    pub items: Vec<CourseModule>,
    pub next_cursor: Option<String>,
    /// What you may do with the course's modules.
    pub permissions: ModuleListPermissions,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"content": "Markdown lesson text.", "content_url": "https://cdn.example.org/ml-sw/02.mp4", "download_bytes": 10485760, "duration_minutes": 45, "position": 2, "required": true, "title": "Tokenising Kiswahili text"}))]
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
#[schema(example = json!({"duration_minutes": 50, "title": "Tokenising Kiswahili text"}))]
pub struct CourseModulePatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    /// Moves the module to 1..n; the others close up.
    #[schema(minimum = 1)]
    pub position: Option<i32>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<String>, max_length = 50000)]
    pub content: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub content_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100000)]
    pub duration_minutes: Option<Option<i32>>,
    #[serde(default, deserialize_with = "crate::domain::double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000000000_i64)]
    pub download_bytes: Option<Option<i64>>,
    pub required: Option<bool>,
}

// ----- reading request bodies ------------------------------------------------------

/// Collects the field errors of a body, keeping the values that passed.
#[derive(Default)]
struct Checks(Vec<FieldError>);

impl Checks {
    fn check<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        result.map_err(|e| self.0.push(e.at(field))).ok()
    }

    fn content(&mut self, raw: Option<&str>) -> Option<String> {
        self.check("content", rules::check_content(raw?)).flatten()
    }

    fn content_url(&mut self, raw: Option<&str>) -> Option<String> {
        let u = raw.filter(|u| !u.trim().is_empty())?;
        self.check("content_url", doc::check_url(u))
    }

    fn numbers(&mut self, duration: Option<i32>, bytes: Option<i64>, position: Option<i32>) {
        if let Some(d) = duration {
            self.check("duration_minutes", rules::check_duration(d));
        }
        if let Some(b) = bytes {
            self.check("download_bytes", rules::check_download(b));
        }
        if let Some(p) = position {
            self.check("position", rules::check_position(p));
        }
    }
}

impl NewCourseModule {
    /// The module asked for, every field checked (400 naming each bad one).
    fn parse(self) -> Result<NewModule, ApiError> {
        let mut c = Checks::default();
        let title = c.check("title", doc::check_title(&self.title));
        let content = c.content(self.content.as_deref());
        let content_url = c.content_url(self.content_url.as_deref());
        c.numbers(self.duration_minutes, self.download_bytes, self.position);
        if c.0.is_empty() && content.is_none() && content_url.is_none() {
            c.0.push(no_content());
        }
        match (title, c.0.is_empty()) {
            (Some(title), true) => Ok(NewModule {
                title,
                position: self.position,
                content,
                content_url,
                duration_minutes: self.duration_minutes,
                download_bytes: self.download_bytes,
                required: self.required.unwrap_or(true),
            }),
            _ => Err(ApiError::validation(c.0)),
        }
    }
}

impl CourseModulePatch {
    /// The change asked for, every field checked (400 naming each bad one).
    fn parse(self) -> Result<ModuleEdit, ApiError> {
        let mut c = Checks::default();
        let changes = ModuleChanges {
            title: self
                .title
                .as_deref()
                .and_then(|t| c.check("title", doc::check_title(t))),
            content: self.content.as_ref().map(|v| c.content(v.as_deref())),
            content_url: self
                .content_url
                .as_ref()
                .map(|v| c.content_url(v.as_deref())),
            duration_minutes: self.duration_minutes,
            download_bytes: self.download_bytes,
            required: self.required,
            updated_at: None,
        };
        c.numbers(
            self.duration_minutes.flatten(),
            self.download_bytes.flatten(),
            self.position,
        );
        if !c.0.is_empty() {
            return Err(ApiError::validation(c.0));
        }
        Ok(ModuleEdit {
            changes,
            position: self.position,
        })
    }
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
    let (modules, permissions) = db
        .run(move |conn| app::modules(conn, principal.as_ref(), &id))
        .await?;
    // A page like every other (Link, weak ETag), the permissions beside it.
    let mut extra = serde_json::Map::new();
    extra.insert(
        "permissions".into(),
        serde_json::to_value(permissions).map_err(ApiError::internal)?,
    );
    Ok(Paginated::from_sorted(modules, &page, |m| m.position).respond_with(&req, extra))
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
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
    Json(body): Json<NewCourseModule>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let new = body.parse()?;
    let by = Caller::new(principal, state.into_inner());
    let module = db
        .run(move |conn| app::add_module(conn, &by, &id, new))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/courses/{}/modules/{}", module.course_id, module.id),
        ))
        .json(module))
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
    let edit = body.parse()?;
    let by = Caller::new(principal, state.into_inner());
    let module = db
        .run(move |conn| app::change_module(conn, &by, &id, &module_id, edit))
        .await?;
    Ok(HttpResponse::Ok().json(module))
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
    let by = Caller::new(principal, state.into_inner());
    db.run(move |conn| app::delete_module(conn, &by, &id, &module_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ----- enrollment and progress --------------------------------------------------

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
        .run(move |conn| app::my_enrollment(conn, &principal, &id))
        .await?;
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
    let by = Caller::new(principal, state.into_inner());
    let (created, e) = db.run(move |conn| app::enroll(conn, &by, &id)).await?;
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
    let by = Caller::new(principal, state.into_inner());
    let e = db.run(move |conn| app::withdraw(conn, &by, &id)).await?;
    Ok(HttpResponse::Ok().json(e))
}

/// Move on to the course's latest version. You keep the version you
/// started on until you ask; your progress is kept per module, so the
/// modules that stayed stay done. On the latest already, nothing changes.
#[utoipa::path(post, operation_id = "upgrade_enrollment", path = "/api/v1/courses/{id}/enrollment/upgrade", tag = "learning", security(("bearer" = [])),
    params(("id" = String, Path, description = "Course id")),
    responses(
        (status = 200, description = "Your enrollment, on the latest version", body = Enrollment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such course (or not visible to you)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You are not enrolled", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The course was withdrawn: its tombstone", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upgrade(
    state: web::Data<AppState>,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path.into_inner())?;
    let by = Caller::new(principal, state.into_inner());
    let e = db.run(move |conn| app::upgrade(conn, &by, &id)).await?;
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
    let by = Caller::new(principal, state.into_inner());
    let e = db
        .run(move |conn| app::set_module_done(conn, &by, &id, &module_id, done))
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
    let rows = db
        .run(move |conn| app::my_enrollments(conn, &user_id, filter.status, before, limit))
        .await?;
    Ok(Paginated::from_rows(rows, &page, |e| {
        (e.enrollment.enrolled_at, e.enrollment.course_id.clone())
    })
    .respond(&req))
}

// ----- the institution's view ------------------------------------------------------

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
    let rows = db
        .run(move |conn| app::learners(conn, &principal, &id, filter.status, after, limit))
        .await?;
    Ok(Paginated::from_rows(rows, &page, |l| (l.enrolled_at, l.user_id.clone())).respond(&req))
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
    let stats = db
        .run(move |conn| app::stats(conn, &principal, &id))
        .await?;
    Ok(HttpResponse::Ok().json(stats))
}

// ----- completions ---------------------------------------------------------------

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
    let completion = db.run(move |conn| app::completion(conn, &id)).await?;
    etag::respond(&req, &completion)
}
