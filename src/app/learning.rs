//! Learning commands and queries: a course's modules, a learner's
//! enrollment and progress, what the institution sees, and the public check
//! of a completion.
//!
//! Commands are plain functions over a connection: each opens its write
//! transaction (handlers call them inside `Db::run`; jobs and the CLI can
//! too), takes the locks, asks the policy and the enrollment table
//! (`domain::learning`), writes, and records its events (with their audit
//! entries and notifications) through `app::events` as its last step.
//!
//! Module positions stay a dense 1..n: every change takes the course row's
//! lock first (`db::resources::lock`), so concurrent inserts queue up
//! instead of sharing a position. Progress is counted over the required
//! modules (over all of them when none is required); a completed enrollment
//! stays completed whatever is added to the course later. A module change
//! that leaves learners with every counted module done completes them
//! (`enrollment.completed`, with the completion email), in the same
//! transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::events::{self as events, Notice};
use crate::app::notifications::Kind;
use crate::app::permissions::ModuleListPermissions;
use crate::app::resources::{facts, incomplete, load, read_only, status_of};
use crate::auth::Principal;
use crate::db::accounts::UserRow;
use crate::db::audit::Context;
use crate::db::learning::{self as store, EnrollmentRow, ModuleChanges, ModuleRow};
use crate::db::resources::{self as resources_store, Loaded};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::events::Event;
use crate::domain::learning::{
    self as rules, EnrollmentChange, ModuleFacts, ModulePlace, ModuleProgress, Step,
};
use crate::domain::policy::{self, Action};
use crate::domain::resource::{ResourceKind, Status};
use crate::error::{ApiError, FieldCode, FieldError, Invalid};
use crate::problem_types::ProblemType;
use crate::state::AppState;

pub use crate::domain::learning::EnrollmentStatus;

// ----- views ---------------------------------------------------------------------

/// One module of a course.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"content": "Markdown lesson text.", "content_url": "https://cdn.example.org/ml-sw/02.mp4", "course_id": "0193a5c2-7f10-7000-8000-000000000a08", "created_at": "2026-12-08T09:30:00Z", "download_bytes": 10485760, "duration_minutes": 45, "id": "0193a5c2-7f10-7000-8000-000000000a09", "position": 2, "required": true, "title": "Tokenising Kiswahili text", "updated_at": "2026-12-08T09:30:00Z"}))]
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
            created_at: m.created_at.and_utc(),
            updated_at: m.updated_at.and_utc(),
        }
    }
}

/// Where a learner stands in a course.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"completed_modules": ["0193a5c2-7f10-7000-8000-000000000b01"], "course_id": "0193a5c2-7f10-7000-8000-000000000a0d", "enrolled_at": "2026-12-08T09:30:00Z", "progress": 50, "remaining_download_bytes": 10485760, "status": "active"}))]
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
    /// The course version the learner is on (`1.2`; readable at
    /// `…/versions/{course_version}`): the one they started on until they
    /// move on (`POST …/enrollment/upgrade`). Progress is kept per module,
    /// so modules that did not change stay done.
    #[schema(example = "1.0")]
    pub course_version: Option<String>,
    /// The course's latest version: when it differs, a newer one exists.
    #[schema(example = "2.0")]
    pub latest_version: Option<String>,
}

/// One of your enrollments, with what is left to download.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyEnrollment {
    #[serde(flatten)]
    pub enrollment: Enrollment,
    pub course_title: String,
}

/// A learner of a course (for its institution's owners and editors).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"user_id": "0193a5c2-7f10-7000-8000-000000000a05", "display_name": "Amina Wanjiru", "status": "active", "progress": 50, "enrolled_at": "2026-11-02T08:00:00Z"}))]
pub struct Learner {
    #[schema(format = "uuid")]
    pub user_id: String,
    pub display_name: String,
    pub status: EnrollmentStatus,
    pub progress: u8,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
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
#[schema(example = json!({"active": 12, "completed": 30, "completions_per_month": [{"completions": 7, "month": "2026-11"}], "course_id": "0193a5c2-7f10-7000-8000-000000000a0a", "enrolled": 45, "median_progress": 60, "withdrawn": 3}))]
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

/// A verified completion.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"completed_at": "2026-12-08T09:30:00Z", "completion_id": "0193a5c2-7f10-7000-8000-000000000a05", "course_id": "0193a5c2-7f10-7000-8000-000000000a06", "course_title": "Machine learning in Kiswahili", "institution": "makerere-ai-lab", "learner": "Amina Wanjiru"}))]
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

// ----- input -----------------------------------------------------------------------

/// Who runs a command and with what: the signed-in person, the request
/// context of the events it records (actor, request id: build it on the
/// request's task) and the shared state (mail, templates).
#[derive(Debug)]
pub struct Caller {
    pub principal: Principal,
    pub ctx: Context,
    pub state: Arc<AppState>,
}

impl Caller {
    /// The caller `principal`, with the current request's context.
    pub fn new(principal: Principal, state: Arc<AppState>) -> Self {
        let ctx = Context::new(Some(&principal.user.id));
        Self {
            principal,
            ctx,
            state,
        }
    }
}

/// A module to add, its fields checked (`api::learning` parses the body).
#[derive(Debug, Clone)]
pub struct NewModule {
    pub title: String,
    /// 1..n+1; `None`: after the last module.
    pub position: Option<i32>,
    pub content: Option<String>,
    pub content_url: Option<String>,
    pub duration_minutes: Option<i32>,
    pub download_bytes: Option<i64>,
    pub required: bool,
}

/// A change to a module, its fields checked: the new values (`updated_at`
/// is set by the command) and where to move it.
#[derive(Debug, Default)]
pub struct ModuleEdit {
    pub changes: ModuleChanges,
    pub position: Option<i32>,
}

impl ModuleEdit {
    /// The fields the change sets, in a fixed order (for the event).
    fn changed(&self) -> Vec<String> {
        let c = &self.changes;
        [
            ("title", c.title.is_some()),
            ("position", self.position.is_some()),
            ("content", c.content.is_some()),
            ("content_url", c.content_url.is_some()),
            ("duration_minutes", c.duration_minutes.is_some()),
            ("download_bytes", c.download_bytes.is_some()),
            ("required", c.required.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name.to_string())
        .collect()
    }
}

/// The refusal when a module would have neither content nor a link.
pub fn no_content() -> FieldError {
    FieldError::new("content", FieldCode::Required, rules::NO_CONTENT).with(|p| {
        p.other = Some("content_url".into());
    })
}

// ----- events ----------------------------------------------------------------------

/// The events a command records, in the order they happened, with the
/// notifications they cause; written together as the command's last step
/// (appends queue on PostgreSQL until commit, so they come last).
#[derive(Default)]
struct Recorder {
    events: Vec<(Event, Vec<Notice>)>,
}

impl Recorder {
    fn push(&mut self, event: Event) {
        self.events.push((event, Vec::new()));
    }

    fn push_notifying(&mut self, event: Event, notice: Notice) {
        self.events.push((event, vec![notice]));
    }

    /// Records every event about `course`, concerning its institution.
    fn write(self, conn: &mut DbConnection, by: &Caller, course: &Loaded) -> Result<(), ApiError> {
        let institutions = [course.row.institution_id.as_str()];
        for (event, notices) in self.events {
            events::record_notifying(
                conn,
                &by.state,
                &by.ctx,
                &course.row.id,
                &institutions,
                &event,
                notices,
            )?;
        }
        Ok(())
    }
}

// ----- shared steps ------------------------------------------------------------------

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

/// The course `id`, locked for the rest of the transaction, the caller
/// allowed to do `action` on it.
fn locked_course(
    conn: &mut DbConnection,
    id: &str,
    principal: &Principal,
    action: fn(policy::ResourceFacts) -> Action,
) -> Result<Loaded, ApiError> {
    if !resources_store::lock(conn, id)? {
        return Err(ApiError::NotFound);
    }
    course_for(conn, id, Some(principal), action)
}

fn module_facts<'a>(modules: &[&'a ModuleRow]) -> Vec<ModuleFacts<'a>> {
    modules
        .iter()
        .map(|m| ModuleFacts {
            id: m.id.as_str(),
            required: m.required,
            download_bytes: m.download_bytes,
        })
        .collect()
}

/// Progress over `modules` with the ids in `done` done.
fn progress_of(modules: &[&ModuleRow], done: &HashSet<&str>, completed: bool) -> rules::Progress {
    rules::progress(&module_facts(modules), done, completed)
}

fn enrollment_view(row: &EnrollmentRow, p: rules::Progress, latest: Option<String>) -> Enrollment {
    Enrollment {
        course_version: row.course_version.clone(),
        latest_version: latest,
        course_id: row.course_id.clone(),
        status: row.status,
        completed_modules: p.completed_modules,
        progress: p.progress,
        remaining_download_bytes: p.remaining_bytes,
        enrolled_at: row.enrolled_at.and_utc(),
        completed_at: row.completed_at.map(|t| t.and_utc()),
        completion_id: row.completion_id.clone(),
    }
}

/// Completes the enrollments a module change finished (a module removed or
/// made optional can leave a learner with every counted module done).
fn settle_course(
    conn: &mut DbConnection,
    course: &Loaded,
    out: &mut Recorder,
) -> Result<(), ApiError> {
    for user_id in store::active_learners(conn, &course.row.id)? {
        store::lock_enrollment(conn, &course.row.id, &user_id)?;
        if let Some(user) = crate::db::accounts::user_by_id(conn, &user_id)? {
            settle(conn, course, &user, Some(&mut *out))?;
        }
    }
    Ok(())
}

/// The learner's enrollment in a course, with progress. With a recorder
/// (in a command), completes it when every counted module is done and
/// records that (with the completion email); without (a read), only reports.
fn settle(
    conn: &mut DbConnection,
    course: &Loaded,
    user: &UserRow,
    out: Option<&mut Recorder>,
) -> Result<Option<Enrollment>, ApiError> {
    let Some(mut row) = store::enrollment(conn, &course.row.id, &user.id)? else {
        return Ok(None);
    };
    let latest = head_label(conn, &course.row.id)?;
    let modules = store::modules(conn, &course.row.id)?;
    let done_rows = store::done(conn, &course.row.id, &user.id)?;
    let done: HashSet<&str> = done_rows.iter().map(|(m, _)| m.as_str()).collect();
    let refs: Vec<&ModuleRow> = modules.iter().collect();
    let p = progress_of(&refs, &done, row.completion_id.is_some());
    let completing = rules::transition(row.status, Step::Complete, row.completion_id.is_some())
        .filter(|_| p.all_done && row.completion_id.is_none());
    if let (Some(out), Some(to)) = (out, completing) {
        let completion_id = uuid::Uuid::new_v4().to_string();
        let now = now();
        if !store::complete_enrollment(conn, &course.row.id, &user.id, &completion_id, now)? {
            // Completed meanwhile: report what is stored.
            let stored = store::enrollment(conn, &course.row.id, &user.id)?;
            return Ok(stored.map(|r| enrollment_view(&r, p, latest)));
        }
        out.push_notifying(
            Event::EnrollmentCompleted {
                change: EnrollmentChange {
                    user_id: user.id.clone(),
                    from: row.status,
                    to,
                },
                completion_id: completion_id.clone(),
            },
            Notice::new(
                user,
                Kind::CourseCompleted,
                json!({"display_name": user.display_name, "course": course.row.title,
                       "course_id": course.row.id, "completion_id": completion_id}),
            ),
        );
        row.status = to;
        row.completed_at = Some(now);
        row.completion_id = Some(completion_id);
    }
    Ok(Some(enrollment_view(&row, p, latest)))
}

/// The latest version of course `id` (`1.2`), if it was ever published.
fn head_label(conn: &mut DbConnection, id: &str) -> Result<Option<String>, ApiError> {
    Ok(crate::db::versions::head(conn, id)?.map(|h| {
        crate::domain::version::Label {
            major: h.major,
            minor: h.minor,
        }
        .to_string()
    }))
}

fn not_enrolled() -> ApiError {
    ApiError::Conflict {
        problem: ProblemType::NotEnrolled,
        detail: "Enroll in the course first (PUT …/enrollment).".into(),
    }
}

// ----- modules -------------------------------------------------------------------

/// A course's modules, in order (whoever may see the course), and what
/// the caller may do with them: the questions `add_module` and friends,
/// `set_module_done` and `learners` ask, with the same facts.
pub fn modules(
    conn: &mut DbConnection,
    principal: Option<&Principal>,
    course_id: &str,
) -> Result<(Vec<CourseModule>, ModuleListPermissions), ApiError> {
    let (l, viewer) = load(conn, ResourceKind::Course, course_id, principal)?;
    let actor = Principal::actor_of(principal);
    let f = facts(&l, &viewer);
    policy::enforce(policy::may(&actor, Action::ViewResource(f)))?;
    let modules = store::modules(conn, course_id)?
        .iter()
        .map(CourseModule::from)
        .collect();
    Ok((modules, crate::app::permissions::module_list(&actor, f)))
}

/// Adds a module (editors and owners) at its position, moving the ones from
/// there on down. Records `module.created`.
pub fn add_module(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
    new: NewModule,
) -> Result<CourseModule, ApiError> {
    write_transaction(conn, |conn| {
        let l = locked_course(conn, course_id, &by.principal, Action::EditResource)?;
        crate::app::versions::freeze_head(conn, &l)?;
        if status_of(&l.row) == Status::Archived {
            return Err(read_only());
        }
        let n = store::count_modules(conn, course_id)?;
        if n >= rules::MODULES_MAX {
            return Err(ApiError::Conflict {
                problem: ProblemType::TooManyModules,
                detail: format!("A course has at most {} modules.", rules::MODULES_MAX),
            });
        }
        let last = i32::try_from(n + 1).unwrap_or(i32::MAX);
        let position = new.position.unwrap_or(last);
        if position > last {
            return Err(Invalid::new(
                FieldCode::OutOfRange,
                format!("The course has {n} module(s): use 1 to {last}."),
            )
            .min(1)
            .max(last)
            .at("position")
            .into());
        }
        let now = now();
        let row = ModuleRow {
            id: uuid::Uuid::now_v7().to_string(),
            course_id: course_id.to_string(),
            position,
            title: new.title,
            content: new.content,
            content_url: new.content_url,
            duration_minutes: new.duration_minutes,
            download_bytes: new.download_bytes,
            required: new.required,
            created_at: now,
            updated_at: now,
        };
        store::insert_module(conn, &row)?;
        crate::app::resources::reindex(conn, &[course_id.to_string()])?;
        let mut out = Recorder::default();
        out.push(Event::ModuleCreated {
            module: ModulePlace {
                module_id: row.id.clone(),
                title: row.title.clone(),
                position,
            },
        });
        out.write(conn, by, &l)?;
        Ok(CourseModule::from(&row))
    })
}

/// Changes or moves a module (editors and owners); the others close up.
/// Records `module.updated`, and `enrollment.completed` for the learners a
/// module made optional leaves with everything done.
pub fn change_module(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
    module_id: &str,
    edit: ModuleEdit,
) -> Result<CourseModule, ApiError> {
    let changed = edit.changed();
    let ModuleEdit {
        mut changes,
        position,
    } = edit;
    write_transaction(conn, |conn| {
        let l = locked_course(conn, course_id, &by.principal, Action::EditResource)?;
        crate::app::versions::freeze_head(conn, &l)?;
        let module = store::module(conn, course_id, module_id)?.ok_or(ApiError::NotFound)?;
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
        if let Some(to) = position.filter(|p| *p != module.position) {
            let n = i32::try_from(store::count_modules(conn, course_id)?).unwrap_or(i32::MAX);
            if to > n {
                return Err(Invalid::new(
                    FieldCode::OutOfRange,
                    format!("The course has {n} module(s): use 1 to {n}."),
                )
                .min(1)
                .max(n)
                .at("position")
                .into());
            }
            store::move_module(conn, course_id, module_id, module.position, to)?;
        }
        changes.updated_at = Some(now());
        store::update_module(conn, module_id, &changes)?;
        crate::app::resources::reindex(conn, &[course_id.to_string()])?;
        let mut out = Recorder::default();
        out.push(Event::ModuleUpdated {
            module_id: module_id.to_string(),
            from_position: module.position,
            position: position.unwrap_or(module.position),
            changed: changed.clone(),
        });
        if now_optional {
            settle_course(conn, &l, &mut out)?;
        }
        let row = store::module(conn, course_id, module_id)?.ok_or(ApiError::NotFound)?;
        out.write(conn, by, &l)?;
        Ok(CourseModule::from(&row))
    })
}

/// Removes a module (editors and owners); the ones after it move up. A
/// published course keeps at least one. Records `module.deleted`, and
/// `enrollment.completed` for the learners it leaves with everything done.
pub fn delete_module(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
    module_id: &str,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        let l = locked_course(conn, course_id, &by.principal, Action::EditResource)?;
        crate::app::versions::freeze_head(conn, &l)?;
        let module = store::module(conn, course_id, module_id)?.ok_or(ApiError::NotFound)?;
        match status_of(&l.row) {
            Status::Archived => return Err(read_only()),
            Status::Published if store::count_modules(conn, course_id)? <= 1 => {
                return Err(incomplete(vec![
                    Invalid::new(
                        FieldCode::TooFew,
                        "A published course keeps at least one module.",
                    )
                    .min(1)
                    .at("modules"),
                ]));
            }
            _ => {}
        }
        store::delete_module(conn, &module)?;
        crate::app::resources::reindex(conn, &[course_id.to_string()])?;
        let mut out = Recorder::default();
        out.push(Event::ModuleDeleted {
            module: ModulePlace {
                module_id: module.id.clone(),
                title: module.title.clone(),
                position: module.position,
            },
        });
        settle_course(conn, &l, &mut out)?;
        out.write(conn, by, &l)
    })
}

// ----- enrollment and progress --------------------------------------------------

/// The caller's enrollment in a course (404 if they never enrolled).
pub fn my_enrollment(
    conn: &mut DbConnection,
    principal: &Principal,
    course_id: &str,
) -> Result<Enrollment, ApiError> {
    let course = course_for(conn, course_id, Some(principal), Action::Enroll)?;
    settle(conn, &course, &principal.user, None)?.ok_or(ApiError::NotFound)
}

/// Enrolls the caller in a published course they can see (idempotent;
/// enrolling again after withdrawing resumes where they were). `true` when
/// the enrollment is new. Records `enrollment.created` (with the
/// confirmation email) or `enrollment.resumed`.
pub fn enroll(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
) -> Result<(bool, Enrollment), ApiError> {
    write_transaction(conn, |conn| {
        let course = locked_course(conn, course_id, &by.principal, Action::Enroll)?;
        let user = &by.principal.user;
        let now = now();
        let mut out = Recorder::default();
        let created = match store::enrollment(conn, course_id, &user.id)? {
            Some(existing) => {
                let ever_completed = existing.completion_id.is_some();
                if let Some(to) = rules::transition(existing.status, Step::Resume, ever_completed) {
                    store::set_enrollment_status(conn, course_id, &user.id, to, now)?;
                    out.push(Event::EnrollmentResumed {
                        change: EnrollmentChange {
                            user_id: user.id.clone(),
                            from: existing.status,
                            to,
                        },
                    });
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
                let course_version = head_label(conn, course_id)?;
                store::insert_enrollment(
                    conn,
                    &EnrollmentRow {
                        course_id: course_id.to_string(),
                        user_id: user.id.clone(),
                        status: EnrollmentStatus::Active,
                        enrolled_at: now,
                        updated_at: now,
                        withdrawn_at: None,
                        completed_at: None,
                        completion_id: None,
                        course_version,
                    },
                )?;
                let modules = store::modules(conn, course_id)?;
                let bytes: i64 = modules.iter().filter_map(|m| m.download_bytes).sum();
                out.push_notifying(
                    Event::EnrollmentCreated {
                        user_id: user.id.clone(),
                    },
                    Notice::new(
                        user,
                        Kind::EnrollmentConfirmed,
                        json!({"display_name": user.display_name, "course": course.row.title,
                               "course_id": course_id, "modules": modules.len(),
                               "download_bytes": bytes,
                               "download_mb": rules::megabytes(bytes)}),
                    ),
                );
                true
            }
        };
        let e = settle(conn, &course, user, Some(&mut out))?.ok_or(ApiError::NotFound)?;
        out.write(conn, by, &course)?;
        Ok((created, e))
    })
}

/// Moves the caller's enrollment on to the course's latest version (they
/// keep the one they started on until they ask). Their progress is kept
/// per module: modules that stayed stay done. Records `enrollment.upgraded`
/// when the version changes; on the latest already, nothing changes.
pub fn upgrade(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
) -> Result<Enrollment, ApiError> {
    write_transaction(conn, |conn| {
        let course = locked_course(conn, course_id, &by.principal, Action::Enroll)?;
        let user = &by.principal.user;
        let existing = store::enrollment(conn, course_id, &user.id)?.ok_or_else(not_enrolled)?;
        let mut out = Recorder::default();
        if let Some(to) = head_label(conn, course_id)?
            && existing.course_version.as_deref() != Some(to.as_str())
        {
            store::set_course_version(conn, course_id, &user.id, &to, now())?;
            out.push(Event::EnrollmentUpgraded {
                user_id: user.id.clone(),
                from: existing.course_version.clone(),
                to,
            });
        }
        let e = settle(conn, &course, user, Some(&mut out))?.ok_or(ApiError::NotFound)?;
        out.write(conn, by, &course)?;
        Ok(e)
    })
}

/// Withdraws the caller from a course (their progress is kept; withdrawing
/// twice changes nothing). Records `enrollment.withdrawn`.
pub fn withdraw(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
) -> Result<Enrollment, ApiError> {
    write_transaction(conn, |conn| {
        let course = course_for(conn, course_id, Some(&by.principal), Action::Enroll)?;
        let user = &by.principal.user;
        let existing = store::enrollment(conn, course_id, &user.id)?.ok_or(ApiError::NotFound)?;
        let mut out = Recorder::default();
        let ever_completed = existing.completion_id.is_some();
        if let Some(to) = rules::transition(existing.status, Step::Withdraw, ever_completed) {
            store::set_enrollment_status(conn, course_id, &user.id, to, now())?;
            out.push(Event::EnrollmentWithdrawn {
                change: EnrollmentChange {
                    user_id: user.id.clone(),
                    from: existing.status,
                    to,
                },
            });
        }
        let e = settle(conn, &course, user, Some(&mut out))?.ok_or(ApiError::NotFound)?;
        out.write(conn, by, &course)?;
        Ok(e)
    })
}

/// Marks a module done (`true`; idempotent: the first time is kept) or
/// un-marks it (`false`; a completed course stays completed). Completing
/// the last counted module completes the course (with the completion
/// email). Records `enrollment.module_done` / `enrollment.module_undone`
/// when the mark changed, and `enrollment.completed`.
pub fn set_module_done(
    conn: &mut DbConnection,
    by: &Caller,
    course_id: &str,
    module_id: &str,
    done: bool,
) -> Result<Enrollment, ApiError> {
    write_transaction(conn, |conn| {
        let course = course_for(conn, course_id, Some(&by.principal), Action::Enroll)?;
        let user = &by.principal.user;
        let module = store::module(conn, course_id, module_id)?.ok_or(ApiError::NotFound)?;
        if !store::lock_enrollment(conn, course_id, &user.id)? {
            return Err(not_enrolled());
        }
        match store::enrollment(conn, course_id, &user.id)? {
            Some(e) if e.status.is_enrolled() => {}
            _ => return Err(not_enrolled()),
        }
        let changed = if done {
            // The module may have been deleted since it was read
            // (PostgreSQL): that is a 404, not a failure.
            store::mark_done(conn, &user.id, course_id, &module.id, now()).map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => ApiError::NotFound,
                other => other.into(),
            })?
        } else {
            store::unmark_done(conn, &user.id, &module.id)?
        };
        let mut out = Recorder::default();
        if changed {
            let progress = ModuleProgress {
                user_id: user.id.clone(),
                module_id: module.id.clone(),
            };
            out.push(if done {
                Event::ModuleDone { progress }
            } else {
                Event::ModuleUndone { progress }
            });
        }
        let e = settle(conn, &course, user, Some(&mut out))?.ok_or(ApiError::NotFound)?;
        out.write(conn, by, &course)?;
        Ok(e)
    })
}

/// The caller's enrollments (`status` if given), newest first, with
/// progress and the bytes still to download: up to `limit`, before the
/// keyset `before` (`enrolled_at`, course id).
pub fn my_enrollments(
    conn: &mut DbConnection,
    user_id: &str,
    status: Option<EnrollmentStatus>,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<MyEnrollment>, ApiError> {
    let rows = store::enrollments_of(conn, user_id, status, before, limit)?;
    let ids: Vec<String> = rows.iter().map(|(e, _)| e.course_id.clone()).collect();
    let heads = crate::db::versions::heads(conn, &ids)?;
    let modules = store::modules_of(conn, &ids)?;
    let done = store::done_in(conn, user_id, &ids)?;
    let done: HashSet<(&str, &str)> = done.iter().map(|(c, m)| (c.as_str(), m.as_str())).collect();
    Ok(rows
        .into_iter()
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
                enrollment: enrollment_view(
                    &e,
                    p,
                    heads.get(&e.course_id).map(|(major, minor, _)| {
                        crate::domain::version::Label {
                            major: *major,
                            minor: *minor,
                        }
                        .to_string()
                    }),
                ),
                course_title: title,
            }
        })
        .collect())
}

// ----- the institution's view ------------------------------------------------------

/// A learner's progress in a course, from every `(user_id, module_id)` done there.
fn learner_progress(modules: &[&ModuleRow], done: &[(String, String)], e: &EnrollmentRow) -> u8 {
    let ids: HashSet<&str> = done
        .iter()
        .filter(|(u, _)| *u == e.user_id)
        .map(|(_, m)| m.as_str())
        .collect();
    progress_of(modules, &ids, e.completion_id.is_some()).progress
}

/// A course's learners (owners and editors of its institution), oldest
/// enrollment first: up to `limit`, after the keyset `after`
/// (`enrolled_at`, user id).
pub fn learners(
    conn: &mut DbConnection,
    principal: &Principal,
    course_id: &str,
    status: Option<EnrollmentStatus>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<Learner>, ApiError> {
    course_for(conn, course_id, Some(principal), Action::ViewLearners)?;
    let rows = store::learners(conn, course_id, status, after, limit)?;
    let modules = store::modules(conn, course_id)?;
    let done = store::done_in_course(conn, course_id)?;
    let refs: Vec<&ModuleRow> = modules.iter().collect();
    Ok(rows
        .into_iter()
        .map(|(e, name)| Learner {
            progress: learner_progress(&refs, &done, &e),
            user_id: e.user_id,
            display_name: name,
            status: e.status,
            enrolled_at: e.enrolled_at.and_utc(),
            completed_at: e.completed_at.map(|t| t.and_utc()),
        })
        .collect())
}

/// Aggregates of a course's learning (owners and editors of its institution).
pub fn stats(
    conn: &mut DbConnection,
    principal: &Principal,
    course_id: &str,
) -> Result<CourseStats, ApiError> {
    course_for(conn, course_id, Some(principal), Action::ViewLearners)?;
    let rows = store::all_enrollments(conn, course_id)?;
    let modules = store::modules(conn, course_id)?;
    let done = store::done_in_course(conn, course_id)?;
    let refs: Vec<&ModuleRow> = modules.iter().collect();
    let count = |s: EnrollmentStatus| {
        i64::try_from(rows.iter().filter(|e| e.status == s).count()).unwrap_or(0)
    };
    let progress: Vec<u8> = rows
        .iter()
        .filter(|e| e.status.is_enrolled())
        .map(|e| learner_progress(&refs, &done, e))
        .collect();
    let mut months: BTreeMap<String, i64> = BTreeMap::new();
    for at in rows.iter().filter_map(|e| e.completed_at) {
        *months.entry(at.format("%Y-%m").to_string()).or_default() += 1;
    }
    Ok(CourseStats {
        course_id: course_id.to_string(),
        enrolled: i64::try_from(rows.len()).unwrap_or(0),
        active: count(EnrollmentStatus::Active),
        completed: count(EnrollmentStatus::Completed),
        withdrawn: count(EnrollmentStatus::Withdrawn),
        median_progress: rules::median(progress),
        completions_per_month: months
            .into_iter()
            .map(|(month, completions)| MonthCount { month, completions })
            .collect(),
    })
}

// ----- completions ---------------------------------------------------------------

/// A completion by its public id (anyone may check one).
pub fn completion(conn: &mut DbConnection, completion_id: &str) -> Result<Completion, ApiError> {
    let (e, title, slug, learner) =
        store::completion(conn, completion_id)?.ok_or(ApiError::NotFound)?;
    let completed_at = e
        .completed_at
        .map(|t| t.and_utc())
        .ok_or(ApiError::NotFound)?;
    Ok(Completion {
        completion_id: e.completion_id.unwrap_or_default(),
        course_id: e.course_id,
        course_title: title,
        institution: slug,
        learner,
        completed_at,
    })
}
