//! Learning rules, free of storage and HTTP: the enrollment lifecycle as a
//! pure table, how progress is counted, and the limits of a module.
//!
//! An enrollment goes `active → completed` once every counted module is
//! done, `active | completed → withdrawn` when the learner withdraws, and
//! `withdrawn → active | completed` when they enroll again (back to where
//! they were: completed if they ever completed). A completed enrollment
//! stays completed whatever is added to the course later. The application
//! asks `transition` before it writes; a step the table refuses is a no-op
//! of an idempotent command (withdrawing twice, enrolling twice).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::domain::word::word_enum;

// No doc comment: the OpenAPI schema of `EnrollmentStatus` has no description.
word_enum!(EnrollmentStatus {
    Active => "active",
    Completed => "completed",
    Withdrawn => "withdrawn",
});

impl EnrollmentStatus {
    /// Whether the learner is enrolled (progress can change): not withdrawn.
    pub fn is_enrolled(self) -> bool {
        self != Self::Withdrawn
    }
}

/// What can happen to an enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Every counted module is done.
    Complete,
    /// The learner withdraws (progress is kept).
    Withdraw,
    /// The learner enrolls again after withdrawing.
    Resume,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Complete, Step::Withdraw, Step::Resume];
}

/// The status `step` leads to from `from`, or `None` when the step does not
/// apply (the command then changes nothing). `ever_completed`: the
/// enrollment has a completion id (a resumed learner gets it back).
pub fn transition(
    from: EnrollmentStatus,
    step: Step,
    ever_completed: bool,
) -> Option<EnrollmentStatus> {
    use EnrollmentStatus::{Active, Completed, Withdrawn};
    match (from, step) {
        (Active, Step::Complete) => Some(Completed),
        (Active | Completed, Step::Withdraw) => Some(Withdrawn),
        (Withdrawn, Step::Resume) if ever_completed => Some(Completed),
        (Withdrawn, Step::Resume) => Some(Active),
        _ => None,
    }
}

/// Whether an enrollment in status `from` may ever move to `to` (by some step).
pub fn can_become(from: EnrollmentStatus, to: EnrollmentStatus) -> bool {
    Step::ALL.iter().any(|&step| {
        [false, true]
            .iter()
            .any(|&ever| transition(from, step, ever) == Some(to))
    })
}

// ----- event payloads (domain::events, learning section) ------------------------

/// A module and where it stands (added, removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModulePlace {
    pub module_id: String,
    pub title: String,
    pub position: i32,
}

/// How a learner's enrollment in a course moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentChange {
    pub user_id: String,
    pub from: EnrollmentStatus,
    pub to: EnrollmentStatus,
}

/// A learner's mark on a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleProgress {
    pub user_id: String,
    pub module_id: String,
}

// ----- modules ------------------------------------------------------------------

use crate::domain::field::{Code, Invalid};

/// Modules a course may have.
pub const MODULES_MAX: i64 = 500;
/// The longest Markdown content of a module, in characters.
pub const CONTENT_MAX: usize = 50_000;
/// The largest download a module may announce (1 TB): sums stay far from overflow.
pub const DOWNLOAD_MAX: i64 = 1_000_000_000_000;
/// The longest a module may say it takes, in minutes.
pub const DURATION_MAX: i32 = 100_000;

/// A module's Markdown: trimmed at the end; blank is none.
pub fn check_content(raw: &str) -> Result<Option<String>, Invalid> {
    let c = raw.trim_end();
    if c.chars().count() > CONTENT_MAX {
        Err(Invalid::too_long(CONTENT_MAX, "At most 50000 characters."))
    } else if c.trim().is_empty() {
        Ok(None)
    } else {
        Ok(Some(c.to_string()))
    }
}

pub fn check_duration(minutes: i32) -> Result<i32, Invalid> {
    if (0..=DURATION_MAX).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(Invalid::new(Code::OutOfRange, "0 to 100000.")
            .min(0)
            .max(DURATION_MAX))
    }
}

pub fn check_download(bytes: i64) -> Result<i64, Invalid> {
    if (0..=DOWNLOAD_MAX).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(Invalid::new(Code::OutOfRange, "0 to 10^12 bytes.")
            .min(0)
            .max(DOWNLOAD_MAX))
    }
}

pub fn check_position(position: i32) -> Result<i32, Invalid> {
    if position >= 1 {
        Ok(position)
    } else {
        Err(Invalid::new(Code::OutOfRange, "At least 1.").min(1))
    }
}

/// What a module needs to count: `content`, a `content_url`, or both.
pub const NO_CONTENT: &str = "A module needs its content (Markdown) or a `content_url`.";

// ----- progress -----------------------------------------------------------------

/// What progress is counted on in a module.
#[derive(Debug, Clone, Copy)]
pub struct ModuleFacts<'a> {
    pub id: &'a str,
    pub required: bool,
    pub download_bytes: Option<i64>,
}

/// What a learner has done in a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Ids of the modules done (required or not), in the course's order.
    pub completed_modules: Vec<String>,
    /// 0–100 over the counted modules; 100 once completed.
    pub progress: u8,
    /// Bytes still to download for the modules not done yet.
    pub remaining_bytes: i64,
    /// Every counted module is done.
    pub all_done: bool,
}

/// Progress over the required modules (over all of them when none is
/// required). `completed`: the enrollment was completed once (it stays 100).
pub fn progress(modules: &[ModuleFacts<'_>], done: &HashSet<&str>, completed: bool) -> Progress {
    let required: Vec<&ModuleFacts<'_>> = modules.iter().filter(|m| m.required).collect();
    let counted: Vec<&ModuleFacts<'_>> = if required.is_empty() {
        modules.iter().collect()
    } else {
        required
    };
    let finished = counted.iter().filter(|m| done.contains(m.id)).count();
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
            .filter(|m| done.contains(m.id))
            .map(|m| m.id.to_string())
            .collect(),
        progress: percent,
        remaining_bytes: modules
            .iter()
            .filter(|m| !done.contains(m.id))
            .filter_map(|m| m.download_bytes)
            .sum(),
        all_done,
    }
}

/// The median of some progress figures; `None` when there are none.
pub fn median(mut values: Vec<u8>) -> Option<f64> {
    values.sort_unstable();
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(f64::from(values[n / 2])),
        n => Some((f64::from(values[n / 2 - 1]) + f64::from(values[n / 2])) / 2.0),
    }
}

/// Megabytes, rounded to the nearest (for messages).
pub fn megabytes(bytes: i64) -> i64 {
    (bytes + 524_288) / 1_048_576
}

#[cfg(test)]
mod tests {
    use super::*;
    use EnrollmentStatus::{Active, Completed, Withdrawn};

    /// Every (status, step, ever completed) triple: the allowed ones and
    /// where they lead; every other one is refused.
    #[test]
    fn the_enrollment_steps() {
        let allowed = [
            (Active, Step::Complete, false, Completed),
            (Active, Step::Complete, true, Completed),
            (Active, Step::Withdraw, false, Withdrawn),
            (Active, Step::Withdraw, true, Withdrawn),
            (Completed, Step::Withdraw, false, Withdrawn),
            (Completed, Step::Withdraw, true, Withdrawn),
            (Withdrawn, Step::Resume, false, Active),
            (Withdrawn, Step::Resume, true, Completed),
        ];
        let mut checked = 0;
        for &from in EnrollmentStatus::ALL {
            for step in Step::ALL {
                for ever in [false, true] {
                    let expected = allowed
                        .iter()
                        .find(|(f, s, e, _)| *f == from && *s == step && *e == ever)
                        .map(|(_, _, _, to)| *to);
                    assert_eq!(
                        transition(from, step, ever),
                        expected,
                        "{step:?} on a {} enrollment (ever completed: {ever})",
                        from.as_str()
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 18);
    }

    /// Every (from, to) pair of the lifecycle, and each status reads back
    /// from its word.
    #[test]
    fn the_enrollment_lifecycle() {
        let allowed = [
            (Active, Completed),
            (Active, Withdrawn),
            (Completed, Withdrawn),
            (Withdrawn, Active),
            (Withdrawn, Completed),
        ];
        for &from in EnrollmentStatus::ALL {
            for &to in EnrollmentStatus::ALL {
                assert_eq!(
                    can_become(from, to),
                    allowed.contains(&(from, to)),
                    "{} → {}",
                    from.as_str(),
                    to.as_str()
                );
            }
            assert_eq!(EnrollmentStatus::parse(from.as_str()), Some(from));
        }
        // A completed enrollment never goes back to active by itself.
        assert!(!can_become(Completed, Active));
        assert!(Active.is_enrolled() && Completed.is_enrolled() && !Withdrawn.is_enrolled());
        assert_eq!(EnrollmentStatus::parse("enrolled"), None);
    }

    fn m(id: &str, required: bool, bytes: Option<i64>) -> ModuleFacts<'_> {
        ModuleFacts {
            id,
            required,
            download_bytes: bytes,
        }
    }

    #[test]
    fn progress_counts_the_required_modules() {
        struct Case {
            what: &'static str,
            modules: Vec<ModuleFacts<'static>>,
            done: &'static [&'static str],
            completed: bool,
            progress: u8,
            all_done: bool,
            remaining: i64,
        }
        let cases = [
            Case {
                what: "no modules: nothing to do, nothing done",
                modules: vec![],
                done: &[],
                completed: false,
                progress: 0,
                all_done: false,
                remaining: 0,
            },
            Case {
                what: "one of two required",
                modules: vec![m("a", true, Some(10)), m("b", true, Some(5))],
                done: &["a"],
                completed: false,
                progress: 50,
                all_done: false,
                remaining: 5,
            },
            Case {
                what: "optional modules do not count when some are required",
                modules: vec![m("a", true, None), m("b", false, Some(7))],
                done: &["a"],
                completed: false,
                progress: 100,
                all_done: true,
                remaining: 7,
            },
            Case {
                what: "all count when none is required",
                modules: vec![
                    m("a", false, None),
                    m("b", false, None),
                    m("c", false, None),
                ],
                done: &["b"],
                completed: false,
                progress: 33,
                all_done: false,
                remaining: 0,
            },
            Case {
                what: "a completed enrollment stays at 100",
                modules: vec![m("a", true, None), m("b", true, None)],
                done: &[],
                completed: true,
                progress: 100,
                all_done: false,
                remaining: 0,
            },
        ];
        for c in cases {
            let done: HashSet<&str> = c.done.iter().copied().collect();
            let p = progress(&c.modules, &done, c.completed);
            assert_eq!(p.progress, c.progress, "{}", c.what);
            assert_eq!(p.all_done, c.all_done, "{}", c.what);
            assert_eq!(p.remaining_bytes, c.remaining, "{}", c.what);
            assert_eq!(p.completed_modules.len(), c.done.len(), "{}", c.what);
        }
    }

    #[test]
    fn medians_and_module_limits() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![30, 10, 20]), Some(20.0));
        assert_eq!(median(vec![0, 100, 50, 25]), Some(37.5));
        assert_eq!(megabytes(524_288), 1);
        assert_eq!(megabytes(524_287), 0);
        assert!(check_download(DOWNLOAD_MAX).is_ok() && check_download(DOWNLOAD_MAX + 1).is_err());
        assert!(check_download(-1).is_err());
        assert!(check_duration(0).is_ok() && check_duration(DURATION_MAX + 1).is_err());
        assert!(check_position(1).is_ok() && check_position(0).is_err());
        assert_eq!(check_content("  \n"), Ok(None));
        assert_eq!(check_content("# A  \n"), Ok(Some("# A".into())));
        assert!(check_content(&"x".repeat(CONTENT_MAX + 1)).is_err());
    }
}
